"""llama.cpp's C API `llama_model_quantize` through llama-cpp-python's ctypes bindings, with its log captured."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantwb.errors import QuantizationError, UnsupportedError
from quantwb.llama_log import llama_log_to
from quantwb.workers import run_isolated

log = logging.getLogger(__name__)

# llama.cpp prints this (dry run) when a file type has tensors it refuses to quantize without an imatrix.
_NEEDS_IMATRIX_MARK = "require an imatrix"


class LlamaLog:
    """Text that llama.cpp logged while a `capture_llama_log()` block ran."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.parts)


@contextlib.contextmanager
def capture_llama_log() -> Iterator[LlamaLog]:
    """Route llama.cpp/ggml log lines into a `LlamaLog` for the block; the previous callback is restored after."""
    captured = LlamaLog()
    with llama_log_to(lambda level, text: captured.parts.append(text)):
        yield captured


def _imatrix_array(entries: Mapping[str, np.ndarray]):
    """The NULL-name-terminated `llama_model_imatrix_data[]` llama.cpp reads, plus the buffers it points into."""
    import llama_cpp

    buffers = [(name.encode(), np.ascontiguousarray(values, dtype=np.float32)) for name, values in entries.items()]
    array = (llama_cpp.llama_model_imatrix_data * (len(buffers) + 1))()
    for slot, (name, values) in zip(array, buffers, strict=False):
        slot.name = name
        slot.data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        slot.size = values.size
    array[len(buffers)].name = None  # terminator: llama.cpp stops at the first NULL name
    return array, buffers


def _overrides_array(overrides: Sequence[tuple[str, int]]):
    """The NULL-pattern-terminated `llama_model_tensor_override[]` (regex pattern, ggml type) llama.cpp reads."""
    import llama_cpp

    patterns = [pattern.encode() for pattern, _ in overrides]
    array = (llama_cpp.llama_model_tensor_override * (len(overrides) + 1))()
    for slot, pattern, (_, ggml_type) in zip(array, patterns, overrides, strict=False):
        slot.pattern = pattern
        slot.type = ggml_type
    array[len(overrides)].pattern = None  # terminator: llama.cpp stops at the first NULL pattern
    return array, patterns


def _params(ftype: int, nthread: int, dry_run: bool, imatrix: Mapping[str, np.ndarray] | None,
            overrides: Sequence[tuple[str, int]] = (), allow_requantize: bool = False):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = nthread
    params.dry_run = dry_run
    params.allow_requantize = allow_requantize
    keepalive: list = []
    if imatrix:
        array, buffers = _imatrix_array(imatrix)
        params.imatrix = ctypes.cast(array, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
        keepalive.append((array, buffers))
    if overrides:
        array, patterns = _overrides_array(overrides)
        params.tt_overrides = ctypes.cast(array, ctypes.POINTER(llama_cpp.llama_model_tensor_override))
        keepalive.append((array, patterns))
    return params, keepalive


def quantize_file(
    src: Path, dst: Path, ftype: int, imatrix: Mapping[str, np.ndarray] | None = None, nthread: int = 0,
    overrides: Sequence[tuple[str, int]] = (),
    allow_requantize: bool = False,
) -> str:
    """Quantize the GGUF `src` into `dst` with llama.cpp; return llama.cpp's log; raise QuantizationError on failure.

    `overrides`: (regex on tensor names, ggml type) pairs, first match wins (`llama-quantize --tensor-type`).
    Runs in a child process: quantizing a model is one long C call that no Python signal handler interrupts, and
    the parent stops the child at once on Ctrl-C (the caller's partial file is then removed)."""
    job = _QuantizeJob(Path(src), Path(dst), ftype, dict(imatrix) if imatrix else None, nthread or (os.cpu_count() or 1),
                       tuple(overrides), allow_requantize)

    def aborted(message: str) -> QuantizationError:
        return QuantizationError(f"llama.cpp aborted quantizing {Path(dst).name}: {message}")

    return run_isolated(_quantize_here, job, f"llama.cpp quantizing {Path(dst).name}", on_abort=aborted)


@dataclass(frozen=True)
class _QuantizeJob:
    src: Path
    dst: Path
    ftype: int
    imatrix: dict[str, np.ndarray] | None
    nthread: int
    overrides: tuple[tuple[str, int], ...]
    allow_requantize: bool


def _quantize_here(job: _QuantizeJob) -> str:
    """`llama_model_quantize` in this process (a worker's): the log, or QuantizationError."""
    import llama_cpp

    params, _keepalive = _params(job.ftype, job.nthread, False, job.imatrix, job.overrides, job.allow_requantize)
    with capture_llama_log() as captured:
        status = llama_cpp.llama_model_quantize(str(job.src).encode(), str(job.dst).encode(), ctypes.byref(params))
    if status != 0:
        raise QuantizationError(f"llama_model_quantize failed for {job.dst.name}: {_last_error(captured.text)}")
    return captured.text


def needs_imatrix(src: Path, ftype: int, allow_requantize: bool = False) -> bool:
    """Ask llama.cpp (a dry run, no data written) whether this file type needs an importance matrix for `src`."""
    import llama_cpp

    params, _ = _params(ftype, 1, True, None, allow_requantize=allow_requantize)
    with capture_llama_log() as captured:
        status = llama_cpp.llama_model_quantize(str(src).encode(), os.devnull.encode(), ctypes.byref(params))
    if status != 0:
        raise _cannot_write(src, captured.text)
    return _NEEDS_IMATRIX_MARK in captured.text


def _cannot_write(src: Path, log_text: str) -> UnsupportedError:
    """A dry run's refusal: this llama.cpp cannot write the type for this model (e.g. rows not a multiple of the
    type's block, with no fallback type), known before any data is written, so bad input rather than a failure."""
    return UnsupportedError(f"llama.cpp cannot write this type for {src.name}: {' '.join(_last_error(log_text).split())}")


@dataclass(frozen=True)
class PlannedTensor:
    """One tensor as llama.cpp's dry run plans it: the ggml type it will be written in (fallbacks applied)."""

    name: str
    shape: tuple[int, ...]  # ggml order: row length first
    source_type: str  # the type in the input file (F16, F32)
    type_name: str  # ggml type name, upper case (Q4_K, Q5_0, F32)
    quantized: bool  # False: copied as it is (norms, or already in the planned type)


_PLAN_LINE = re.compile(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[([\d,\s]+)\], type =\s*(\S+), size =[^(]*(?:\((\S+)\))?\s*$")


@dataclass(frozen=True)
class QuantPlan:
    tensors: list[PlannedTensor]
    needs_imatrix: bool  # llama.cpp would refuse to write some planned type without an importance matrix


def plan_quantization(src: Path, ftype: int, overrides: Sequence[tuple[str, int]] = ()) -> QuantPlan:
    """llama.cpp's dry run (no data written): every tensor's planned type for `ftype` with `overrides`."""
    import llama_cpp

    params, _keepalive = _params(ftype, 1, True, None, overrides)
    with capture_llama_log() as captured:
        status = llama_cpp.llama_model_quantize(str(src).encode(), os.devnull.encode(), ctypes.byref(params))
    if status != 0:
        raise _cannot_write(src, captured.text)
    return QuantPlan(parse_plan(captured.text), _NEEDS_IMATRIX_MARK in captured.text)


def parse_plan(log_text: str) -> list[PlannedTensor]:
    """The per-tensor lines of a dry run's log: `[i/n] name - [ne0, ne1, ...], type = f16, size = a -> b (q8_0)`."""
    planned = []
    for line in log_text.splitlines():
        found = _PLAN_LINE.match(line.strip())
        if found:
            name, shape, current, new = found.groups()
            dims = tuple(int(d) for d in shape.split(","))
            planned.append(PlannedTensor(name, dims, current.upper(), (new or current).upper(), new is not None))
    if not planned:
        raise QuantizationError("llama.cpp's dry run logged no tensor lines")
    return planned


def _last_error(text: str) -> str:
    """The most telling line of a llama.cpp log: the last one that mentions an error or failure."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if "error" in lowered or "failed" in lowered or "requires" in lowered or "missing" in lowered:
            return line
    return lines[-1] if lines else "no message from llama.cpp"


_LOADER_SIZE = re.compile(r"file size\s*=\s*([\d.]+)\s*(\w+)\s*\(([\d.]+)\s*BPW\)")
_LOADER_TYPE = re.compile(r"file type\s*=\s*(.+)")


@dataclass(frozen=True)
class LoadReport:
    """What llama.cpp's loader says about a GGUF file it opened ("file size = ... (X BPW)")."""

    bits_per_weight: float
    file_type: str
    log_text: str


def llama_load_report(path: Path) -> LoadReport:
    """Open `path` with llama.cpp (vocab + weights, no context) and return what its loader logged."""
    import llama_cpp

    params = llama_cpp.llama_model_default_params()
    with capture_llama_log() as captured:
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise QuantizationError(f"llama.cpp cannot load {path}: {_last_error(captured.text)}")
    llama_cpp.llama_model_free(model)
    return parse_load_report(captured.text)


def parse_load_report(log_text: str) -> LoadReport:
    """The loader's "file type" and "file size = ... (X BPW)" lines from a captured llama.cpp log."""
    size, kind = _LOADER_SIZE.search(log_text), _LOADER_TYPE.search(log_text)
    if size is None or kind is None:
        raise QuantizationError("llama.cpp logged no file size/type line while loading")
    return LoadReport(float(size.group(3)), kind.group(1).strip(), log_text)
