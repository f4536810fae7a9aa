"""The base model's distributions at every scored position, computed once and reused by every variant.

One folder per (base sha256, text sha256, ctx, chunks, dtype) under `quantwb_home()/base-logprobs/`:
meta.json, tokens.npy (the exact ids every variant is fed), token_strings.json (the base's vocabulary, so
a later run checks GGUF variants without loading the HF tokenizer), p.npy (n_scored × vocab probabilities,
float16 by default: finer than llama.cpp's uint16 log-prob packing where p is large) and rows.npz
(exact per-position base NLL, argmax, Σp and Σp·log p). Files are read with plain reads, not mmap,
so page-cache pages of a multi-GB cache do not inflate the measured peak RSS of an evaluation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from quantwb.errors import DataError
from quantwb.evaluate.kld import BaseRows
from quantwb.evaluate.windows import WindowPlan
from quantwb.fileio import sha256_text
from quantwb.home import quantwb_home

CACHE_FORMAT = 2  # 2: token_strings.json and the opening's ids in meta.json


@dataclass(frozen=True)
class CacheKey:
    """Everything the cached numbers depend on."""

    base_sha256: str
    text_sha256: str
    ctx: int
    chunks: int | None
    dtype: str  # how p is stored
    base_dtype: str = "float32"  # what the base ran in: bf16 on an accelerator gives other distributions

    def digest(self) -> str:
        return sha256_text(json.dumps({"format": CACHE_FORMAT, **asdict(self)}, sort_keys=True))[:24]


def cache_dir(key: CacheKey) -> Path:
    return quantwb_home() / "base-logprobs" / key.digest()


def cache_size_bytes(plan: WindowPlan, vocab: int, dtype: str) -> int:
    return plan.n_scored * vocab * np.dtype(dtype).itemsize


def is_complete(path: Path) -> bool:
    return (path / "meta.json").is_file()


def read_meta(path: Path) -> dict:
    return json.loads((path / "meta.json").read_text())


def plan_from_meta(meta: dict) -> WindowPlan:
    return WindowPlan(ctx=meta["ctx"], n_chunks=meta["n_chunks"], bos_id=meta["bos_id"])


def read_token_strings(path: Path) -> tuple[str, ...]:
    return tuple(json.loads((path / "token_strings.json").read_text()))


class CacheWriter:
    """Appends base rows window by window into a temporary folder (renamed into place by the caller)."""

    def __init__(self, folder: Path, plan: WindowPlan, tokens: np.ndarray, vocab: int, dtype: str) -> None:
        folder.mkdir(parents=True)
        self.folder, self.plan, self.vocab, self.dtype = folder, plan, vocab, np.dtype(dtype)
        np.save(folder / "tokens.npy", tokens[: plan.n_tokens_used].astype(np.int32))
        self._p_file: BinaryIO = open(folder / "p.npy", "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (plan.n_scored, vocab)}
        np.lib.format.write_array_header_2_0(self._p_file, header)
        self._rows: list[BaseRows] = []

    def append(self, rows: BaseRows) -> None:
        self._p_file.write(np.ascontiguousarray(rows.p, dtype=self.dtype).tobytes())
        self._rows.append(BaseRows(p=np.empty((0, 0)), p_sum=rows.p_sum, plogp=rows.plogp, nll=rows.nll, top=rows.top))

    def finish(self, meta: dict, token_strings: tuple[str, ...]) -> None:
        self._p_file.close()
        joined = {name: np.concatenate([getattr(r, name) for r in self._rows]) for name in ("p_sum", "plogp", "nll", "top")}
        if len(joined["nll"]) != self.plan.n_scored:
            raise DataError(f"base pass wrote {len(joined['nll'])} positions, expected {self.plan.n_scored}")
        np.savez(self.folder / "rows.npz", **joined)
        (self.folder / "token_strings.json").write_text(json.dumps(token_strings))
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=2))  # last: its presence marks the cache complete

    def close(self) -> None:
        self._p_file.close()


class CacheReader:
    """Reads tokens, per-position rows and blocks of p from a complete cache folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta = read_meta(folder)
        self.plan = plan_from_meta(self.meta)
        self.tokens = np.load(folder / "tokens.npy")
        with np.load(folder / "rows.npz") as rows:
            self._rows = {name: rows[name] for name in rows.files}
        self._p_file = open(folder / "p.npy", "rb")
        if np.lib.format.read_magic(self._p_file) != (2, 0):  # CacheWriter writes version 2.0 headers
            raise DataError(f"{folder}: base cache has an unexpected p.npy header; delete it to recompute")
        shape, _, self.dtype = np.lib.format.read_array_header_2_0(self._p_file)
        self.n_rows, self.vocab = shape
        self._offset = self._p_file.tell()

    def rows(self, start: int, count: int) -> BaseRows:
        """Base rows start .. start+count (p read from disk)."""
        self._p_file.seek(self._offset + start * self.vocab * self.dtype.itemsize)
        p = np.fromfile(self._p_file, dtype=self.dtype, count=count * self.vocab).reshape(count, self.vocab)
        if p.shape[0] != count:
            raise DataError(f"{self.folder}: base cache is truncated; delete it to recompute")
        stop = start + count
        return BaseRows(p=p, **{name: self._rows[name][start:stop] for name in ("p_sum", "plogp", "nll", "top")})

    def close(self) -> None:
        self._p_file.close()
