"""Each tensor's quantization error at each type it may take, weighed two ways, without evaluating any file.

llama.cpp quantizes the converted model once per candidate type (with the importance matrix, as the mix will be
written: the types llama.cpp really writes, fallbacks included), gguf-py dequantizes every tensor, and δw is the
difference to the converted weights. Two scores per (tensor, written type):

- fisher: ½ Σ F·δw² / positions, the predicted rise in mean KLD (nats) from the Fisher diagonal (fisher.py);
- proxy: Σ_j a_j Σ_i δw_ij², the importance-weighted squared error llama.cpp's quantizer itself minimizes (a_j:
  the imatrix's mean squared activation of input column j; 1 for a tensor the imatrix does not cover, which
  llama.cpp quantizes unweighted too). Not in nats: it ranks, it does not predict.

Kept per candidate type on disk under a key of everything they depend on, so an interrupted run resumes and
another target reuses them without the Fisher pass.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantwb.cache_keys import cache_key
from quantwb.fileio import write_json_atomic
from quantwb.formats.gguf_types import parse_gguf_type
from quantwb.home import quantwb_home
from quantwb.mix.fisher import FisherDiagonal
from quantwb.mix.layout import MixLayout, override_ids, tensor_pattern
from quantwb.quantize.llama_quantize import quantize_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorError:
    fisher: float | None  # nats of mean KLD; None: no Fisher diagonal was asked for
    proxy: float


def errors_dir(intermediate_sha256: str, fisher_key: dict, imatrix_sha256: str | None) -> Path:
    import llama_cpp

    key = cache_key("mix-errors", model=intermediate_sha256, fisher=fisher_key, imatrix=imatrix_sha256,
                    llama_cpp=llama_cpp.__version__)
    return quantwb_home() / "mix-errors" / key[:24]


def tensor_errors(layout: MixLayout, folder: Path, imatrix: dict[str, np.ndarray] | None,
                  fisher: Callable[[], FisherDiagonal | None], threads: int) -> tuple[dict[tuple[str, str], TensorError], int]:
    """(tensor, written type) -> its errors, for every option of every group and each group's reference; and how
    many candidate types were quantized in this call (0: all read from `folder`).

    `fisher` is called (once) only when some candidate is not in `folder` yet."""
    found: dict[tuple[str, str], TensorError] = {}
    loaded: list[FisherDiagonal | None] = []
    computed = 0
    for candidate, types in _types_per_candidate(layout).items():
        path = folder / f"{candidate}.json"
        if not path.is_file():
            if not loaded:
                loaded.append(fisher())
            write_json_atomic(path, _measure(layout, types, imatrix, loaded[0], threads, candidate))
            computed += 1
        for tensor, (type_name, values) in json.loads(path.read_text()).items():
            found[(tensor, type_name)] = TensorError(values[0], values[1])
    return found, computed


def _types_per_candidate(layout: MixLayout) -> dict[str, dict[str, str]]:
    """Each asked-for type (and the reference) -> the type llama.cpp writes for each grouped tensor."""
    per: dict[str, dict[str, str]] = {}
    for group in layout.groups:
        for option in (*group.options, group.reference):
            for candidate in option.candidates:
                per.setdefault(candidate, {}).update(zip(group.tensors, option.types, strict=True))
    return per


def _measure(layout: MixLayout, types: dict[str, str], imatrix: dict[str, np.ndarray] | None,
             fisher: FisherDiagonal | None, threads: int, candidate: str) -> dict[str, list]:
    import gguf

    log.info("mix: quantization error at %s", candidate)
    original = {t.name: t for t in gguf.GGUFReader(layout.source).tensors}
    with tempfile.TemporaryDirectory(prefix="quantwb-mix-") as tmp:
        probe = Path(tmp) / "probe.gguf"
        pairs = [(tensor_pattern(name), type_name) for name, type_name in types.items()]
        quantize_file(layout.source, probe, parse_gguf_type(layout.reference_type).ftype, imatrix=imatrix,
                      nthread=threads, overrides=override_ids(pairs))
        result = {}
        for tensor in gguf.GGUFReader(probe).tensors:
            if tensor.name not in types:
                continue
            source = original[tensor.name]
            delta = (gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float64)
                     - gguf.quants.dequantize(source.data, source.tensor_type).astype(np.float64))
            squared = delta * delta
            weights = imatrix.get(tensor.name) if imatrix else None
            columns = squared.sum(axis=0)
            proxy = float(columns @ weights) if weights is not None else float(columns.sum())
            rise = None
            if fisher is not None:
                rise = 0.5 * float((fisher.values[tensor.name] * squared).sum()) / fisher.n_positions
            result[tensor.name] = [types[tensor.name], [rise, proxy]]
    return result
