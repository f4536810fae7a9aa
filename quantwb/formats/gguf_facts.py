"""Memory facts of a written GGUF file, read back from its header: bytes, parameters, bits per weight.

`bits_per_weight` follows llama.cpp's loader ("file size = ... (X BPW)"): tensor data bytes x 8 / parameters,
so metadata (tokenizer, chat template) does not count; `file_bits_per_weight` counts the whole file.
"""

from __future__ import annotations

import ctypes
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from quantwb.errors import InputError
from quantwb.formats.gguf_types import type_name_of_ftype
from quantwb.llama_log import llama_log_to


@dataclass(frozen=True)
class TypeFacts:
    """The tensors stored in one ggml type (Q4_K, F32, ...)."""

    n_tensors: int
    n_params: int
    tensor_bytes: int

    @property
    def bits_per_weight(self) -> float:
        return self.tensor_bytes * 8 / self.n_params if self.n_params else 0.0


@dataclass(frozen=True)
class GGUFFacts:
    """What a GGUF file costs: sizes in bytes, parameter count, bits per weight overall and per tensor type."""

    path: Path
    size_bytes: int
    tensor_bytes: int
    n_params: int
    bits_per_weight: float
    file_bits_per_weight: float
    by_type: dict[str, TypeFacts]
    file_type: str
    architecture: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["by_type"] = {name: {**asdict(facts), "bits_per_weight": facts.bits_per_weight}
                           for name, facts in self.by_type.items()}
        return data


def read_gguf_facts(path: Path) -> GGUFFacts:
    """Read `path`'s header and tensor table; raise InputError if it is not a readable GGUF file."""
    import gguf

    path = Path(path)
    header = _read_header(path)
    totals: dict[str, list[int]] = {}
    for type_id, n_bytes in header.tensors:
        quant_type = gguf.GGMLQuantizationType(type_id)
        block_size, type_size = gguf.GGML_QUANT_SIZES[quant_type]  # gguf's table: weights and bytes per block
        entry = totals.setdefault(quant_type.name, [0, 0, 0])
        entry[0] += 1
        entry[1] += n_bytes // type_size * block_size
        entry[2] += n_bytes
    by_type = {name: TypeFacts(*values) for name, values in sorted(totals.items(), key=lambda kv: -kv[1][2])}
    n_params = sum(facts.n_params for facts in by_type.values())
    tensor_bytes = sum(facts.tensor_bytes for facts in by_type.values())
    size_bytes = path.stat().st_size
    return GGUFFacts(
        path=path,
        size_bytes=size_bytes,
        tensor_bytes=tensor_bytes,
        n_params=n_params,
        bits_per_weight=tensor_bytes * 8 / n_params if n_params else 0.0,
        file_bits_per_weight=size_bytes * 8 / n_params if n_params else 0.0,
        by_type=by_type,
        file_type=type_name_of_ftype(header.file_type),
        architecture=header.architecture,
    )


@dataclass(frozen=True)
class _Header:
    tensors: list[tuple[int, int]]  # (ggml type id, bytes) per tensor
    file_type: int
    architecture: str


class _InitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]


def _read_header(path: Path) -> _Header:
    """The tensor table and two keys, through llama.cpp's own C GGUF reader (ggml-base).

    gguf-py's GGUFReader parses every tokenizer string in Python (about 100k for SmolLM2: seconds on
    2 cores, longer than quantizing the model); the C reader skips them, so facts cost milliseconds.
    """
    lib = _ggml_base()
    if not path.is_file():
        raise InputError(f"{path}: no such GGUF file")
    said: list[str] = []  # the reader logs its complaints through ggml's logger: kept for one line from quantwb
    with llama_log_to(lambda level, text: said.append(text), ggml=lib):
        ctx = lib.gguf_init_from_file(str(path).encode(), _InitParams(True, None))
    if not ctx:
        lines = [line.strip() for line in "".join(said).splitlines() if line.strip()]
        detail = f": {lines[-1].split(': ', 1)[-1]}" if lines else ""
        raise InputError(f"{path}: not a readable GGUF file (llama.cpp's GGUF reader rejected it{detail})")
    try:
        tensors = [(lib.gguf_get_tensor_type(ctx, i), lib.gguf_get_tensor_size(ctx, i))
                   for i in range(lib.gguf_get_n_tensors(ctx))]
        # the header reader does not look at the data: a cut-off download reads fine until llama.cpp loads it
        end = lib.gguf_get_data_offset(ctx) + max((lib.gguf_get_tensor_offset(ctx, i) + size
                                                  for i, (_, size) in enumerate(tensors)), default=0)
        if end > path.stat().st_size:
            raise InputError(f"{path}: truncated GGUF file (its tensors end at byte {end:,}; the file has "
                             f"{path.stat().st_size:,} bytes)")
        file_type_key = lib.gguf_find_key(ctx, b"general.file_type")
        arch_key = lib.gguf_find_key(ctx, b"general.architecture")
        file_type = (lib.gguf_get_val_u32(ctx, file_type_key)
                     if file_type_key >= 0 and lib.gguf_get_kv_type(ctx, file_type_key) == _GGUF_UINT32 else -1)
        architecture = (lib.gguf_get_val_str(ctx, arch_key).decode()
                        if arch_key >= 0 and lib.gguf_get_kv_type(ctx, arch_key) == _GGUF_STRING else "unknown")
    finally:
        lib.gguf_free(ctx)
    return _Header(tensors, file_type, architecture)


def read_tensor_types(path: Path) -> dict[str, str]:
    """Each tensor's ggml type name as written in the GGUF file at `path` (what a type name like Q4_K_M hides)."""
    import gguf

    lib = _ggml_base()
    if not Path(path).is_file():
        raise InputError(f"{path}: no such GGUF file")
    ctx = lib.gguf_init_from_file(str(path).encode(), _InitParams(True, None))
    if not ctx:
        raise InputError(f"{path}: not a readable GGUF file")
    try:
        return {lib.gguf_get_tensor_name(ctx, i).decode(): gguf.GGMLQuantizationType(lib.gguf_get_tensor_type(ctx, i)).name
                for i in range(lib.gguf_get_n_tensors(ctx))}
    finally:
        lib.gguf_free(ctx)


_GGUF_UINT32, _GGUF_STRING = 4, 8  # enum gguf_type in ggml's gguf.h


@cache
def _ggml_base() -> ctypes.CDLL:
    """llama-cpp-python's libggml-base.so, with the gguf_* and ggml_log_* signatures declared.

    The wheel ships it as a copy (not a link) of the libggml-base.so.0 that libllama uses: its logger is its own.
    """
    import llama_cpp

    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    signatures = {
        "gguf_init_from_file": (ctypes.c_void_p, [ctypes.c_char_p, _InitParams]),
        "gguf_free": (None, [ctypes.c_void_p]),
        "gguf_get_n_tensors": (ctypes.c_int64, [ctypes.c_void_p]),
        "gguf_get_tensor_type": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_tensor_size": (ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_tensor_offset": (ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_data_offset": (ctypes.c_size_t, [ctypes.c_void_p]),
        "gguf_get_tensor_name": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_find_key": (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_char_p]),
        "gguf_get_kv_type": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_val_u32": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_val_str": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64]),
        "ggml_log_get": (None, [ctypes.POINTER(llama_cpp.llama_log_callback), ctypes.POINTER(ctypes.c_void_p)]),
        "ggml_log_set": (None, [llama_cpp.llama_log_callback, ctypes.c_void_p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def read_u32_keys(path: Path, keys: list[str]) -> dict[str, int]:
    """The uint32 values of `keys` in a GGUF header (absent or non-uint32 keys are left out)."""
    lib = _ggml_base()
    ctx = lib.gguf_init_from_file(str(path).encode(), _InitParams(True, None))
    if not ctx:
        raise InputError(f"{path}: not a readable GGUF file")
    try:
        found = {}
        for key in keys:
            index = lib.gguf_find_key(ctx, key.encode())
            if index >= 0 and lib.gguf_get_kv_type(ctx, index) == _GGUF_UINT32:
                found[key] = int(lib.gguf_get_val_u32(ctx, index))
        return found
    finally:
        lib.gguf_free(ctx)
