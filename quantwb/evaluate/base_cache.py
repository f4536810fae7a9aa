"""The base model's distributions at every scored position, computed once and reused by every variant.

One folder per CacheKey (base sha256, text sha256, ctx, chunks, storage dtype, base dtype, top K) under
`quantwb_home()/base-logprobs/`:
meta.json, tokens.npy (the exact ids every variant is fed), token_strings.json (the base's vocabulary, so
a later run checks GGUF variants without loading the HF tokenizer), p.npy (n_scored × vocab probabilities,
float16 by default: finer than llama.cpp's uint16 log-prob packing where p is large) and rows.npz
(exact per-position base NLL, argmax, Σp and Σp·log p). Files are read with plain reads, not mmap,
so page-cache pages of a multi-GB cache do not inflate the measured peak RSS of an evaluation.

With top K (`--kld-topk K`), p.npy holds only the K largest probabilities per position, idx.npy their token
ids, draws.npy TAIL_DRAWS token ids drawn from the rest in proportion to p, and rows.npz the mass they stand
for besides (kld.BaseRows says how KLD is estimated from them); check_p.npy keeps the full distribution of the
first CHECK_POSITIONS positions, so every variant's record states how far its top-K KLD is from the full one
there. The size then grows with K instead of the vocabulary (49k-128k in current models).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from quantwb.cache_keys import cache_key
from quantwb.errors import DataError
from quantwb.evaluate.kld import TAIL_DRAWS, BaseRows
from quantwb.evaluate.windows import WindowPlan
from quantwb.home import quantwb_home

CHECK_POSITIONS = 256  # top K: positions whose full distribution is kept to measure the top-K error
ROW_FIELDS = ("p_sum", "plogp", "nll", "top")


@dataclass(frozen=True)
class CacheKey:
    """Everything the cached numbers depend on."""

    base_sha256: str
    text_sha256: str
    ctx: int
    chunks: int | None
    dtype: str  # how p is stored
    base_dtype: str = "float32"  # what the base ran in: bf16 on an accelerator gives other distributions
    topk: int | None = None  # None: the whole distribution

    def digest(self) -> str:
        return cache_key("base-logprobs" if self.topk is None else "base-logprobs-topk", **asdict(self))[:24]


def cache_dir(key: CacheKey) -> Path:
    return quantwb_home() / "base-logprobs" / key.digest()


def index_dtype(vocab: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab <= np.iinfo(np.uint16).max + 1 else np.int32)


def cache_size_bytes(plan: WindowPlan, vocab: int, dtype: str, topk: int | None = None) -> int:
    """Bytes of p.npy (and idx.npy, draws.npy and check_p.npy with top K), the part that grows with text and vocabulary."""
    if topk is None:
        return plan.n_scored * vocab * np.dtype(dtype).itemsize
    top = plan.n_scored * (topk * (np.dtype(dtype).itemsize + index_dtype(vocab).itemsize) + TAIL_DRAWS * index_dtype(vocab).itemsize)
    return top + min(CHECK_POSITIONS, plan.n_scored) * vocab * np.dtype(dtype).itemsize


def is_complete(path: Path) -> bool:
    return (path / "meta.json").is_file()


def read_meta(path: Path) -> dict:
    return json.loads((path / "meta.json").read_text())


def plan_from_meta(meta: dict) -> WindowPlan:
    return WindowPlan(ctx=meta["ctx"], n_chunks=meta["n_chunks"], bos_id=meta["bos_id"])


def read_token_strings(path: Path) -> tuple[str, ...]:
    return tuple(json.loads((path / "token_strings.json").read_text()))


class _NpyAppender:
    """An .npy file written row block by row block (its shape is known up front)."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, int]) -> None:
        self.dtype = dtype
        self._file: BinaryIO = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_2_0(self._file, header)

    def write(self, rows: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())

    def close(self) -> None:
        self._file.close()


class CacheWriter:
    """Appends base rows window by window into a temporary folder (renamed into place by the caller)."""

    def __init__(self, folder: Path, plan: WindowPlan, tokens: np.ndarray, vocab: int, dtype: str, topk: int | None = None) -> None:
        folder.mkdir(parents=True)
        self.folder, self.plan, self.vocab, self.topk = folder, plan, vocab, topk
        np.save(folder / "tokens.npy", tokens[: plan.n_tokens_used].astype(np.int32))
        store = np.dtype(dtype)
        self._files = {"p": _NpyAppender(folder / "p.npy", store, (plan.n_scored, topk or vocab))}
        if topk is not None:
            self.n_check = min(CHECK_POSITIONS, plan.n_scored)
            self._files["idx"] = _NpyAppender(folder / "idx.npy", index_dtype(vocab), (plan.n_scored, topk))
            self._files["draws"] = _NpyAppender(folder / "draws.npy", index_dtype(vocab), (plan.n_scored, TAIL_DRAWS))
            self._files["check_p"] = _NpyAppender(folder / "check_p.npy", store, (self.n_check, vocab))
        self._rows: list[BaseRows] = []
        self._check: list[BaseRows] = []

    def append(self, rows: BaseRows) -> None:
        self._files["p"].write(rows.p)
        if rows.idx is not None:
            self._files["idx"].write(rows.idx)
            self._files["draws"].write(rows.draws)
        self._rows.append(replace(rows, p=np.empty((0, 0)), idx=None, draws=None))

    def wants_check(self) -> int:
        """How many more full-distribution rows the top-K error check needs (0 without top K)."""
        return 0 if self.topk is None else self.n_check - sum(len(r.nll) for r in self._check)

    def append_check(self, rows: BaseRows) -> None:
        self._files["check_p"].write(rows.p)
        self._check.append(replace(rows, p=np.empty((0, 0))))

    def finish(self, meta: dict, token_strings: tuple[str, ...]) -> None:
        self.close()
        joined = _joined(self._rows, (*ROW_FIELDS, "tail") if self.topk else ROW_FIELDS)
        if len(joined["nll"]) != self.plan.n_scored:
            raise DataError(f"base pass wrote {len(joined['nll'])} positions, expected {self.plan.n_scored}")
        np.savez(self.folder / "rows.npz", **joined)
        if self.topk is not None:
            np.savez(self.folder / "check_rows.npz", **_joined(self._check, ROW_FIELDS))
        (self.folder / "token_strings.json").write_text(json.dumps(token_strings))
        (self.folder / "meta.json").write_text(json.dumps({**meta, "topk": self.topk}, indent=2))  # last: marks it complete

    def close(self) -> None:
        for appender in self._files.values():
            appender.close()


def _joined(rows: list[BaseRows], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([getattr(r, name) for r in rows]) for name in names}


class _NpyReader:
    """Row blocks of a 2-D .npy file written by _NpyAppender, read on demand (plain reads, no mmap; positioned reads,
    so the math threads each read their own block)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = open(path, "rb")
        if np.lib.format.read_magic(self._file) != (2, 0):  # _NpyAppender writes version 2.0 headers
            raise DataError(f"{path}: base cache file has an unexpected header; delete the cache folder to recompute")
        shape, _, self.dtype = np.lib.format.read_array_header_2_0(self._file)
        self.n_rows, self.width = shape
        self._offset = self._file.tell()

    def rows(self, start: int, count: int) -> np.ndarray:
        size = count * self.width * self.dtype.itemsize
        data = np.frombuffer(os.pread(self._file.fileno(), size, self._offset + start * self.width * self.dtype.itemsize),
                             dtype=self.dtype)
        if data.size != count * self.width:
            raise DataError(f"{self.path.parent}: base cache is truncated; delete it to recompute")
        return data.reshape(count, self.width)

    def close(self) -> None:
        self._file.close()


class CacheReader:
    """Reads tokens, per-position rows and blocks of p (and of idx with top K) from a complete cache folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta = read_meta(folder)
        self.plan = plan_from_meta(self.meta)
        self.topk: int | None = self.meta.get("topk")
        self.tokens = np.load(folder / "tokens.npy")
        self._rows = _load_npz(folder / "rows.npz")
        self._files = {"p": _NpyReader(folder / "p.npy")}
        if self.topk is not None:
            self._files["idx"] = _NpyReader(folder / "idx.npy")
            self._files["draws"] = _NpyReader(folder / "draws.npy")
            self._files["check_p"] = _NpyReader(folder / "check_p.npy")
            self._check = _load_npz(folder / "check_rows.npz")
        self.n_rows = self._files["p"].n_rows
        self.vocab = int(self.meta["vocab"]) if self.topk is not None else self._files["p"].width

    @property
    def n_check(self) -> int:
        """Positions (from the first) whose full distribution is kept beside the top K; 0 without top K."""
        return 0 if self.topk is None else self._files["check_p"].n_rows

    def rows(self, start: int, count: int) -> BaseRows:
        """Base rows start .. start+count (p, and idx with top K, read from disk)."""
        stop = start + count
        fields = {name: self._rows[name][start:stop] for name in self._rows}
        if self.topk is None:
            return BaseRows(p=self._files["p"].rows(start, count), **fields)
        return BaseRows(p=self._files["p"].rows(start, count), idx=self._files["idx"].rows(start, count).astype(np.intp),
                        draws=self._files["draws"].rows(start, count).astype(np.intp), **fields)

    def check_rows(self, start: int, count: int) -> BaseRows:
        """The full-distribution rows start .. start+count of the top-K error check (within n_check)."""
        stop = start + count
        return BaseRows(p=self._files["check_p"].rows(start, count), **{name: self._check[name][start:stop] for name in ROW_FIELDS})

    def close(self) -> None:
        for reader in self._files.values():
            reader.close()


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}
