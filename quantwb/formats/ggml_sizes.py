"""Exact bytes of a tensor in a ggml type, from gguf-py's block table (the numbers llama.cpp's `ggml_row_size` uses)."""

from __future__ import annotations

from quantwb.errors import UnsupportedError

GGUF_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT: each tensor's data starts at a multiple of it


def ggml_type_names() -> list[str]:
    """Every ggml tensor type name gguf-py knows (Q4_K, Q5_0, IQ4_NL, F16, ...)."""
    import gguf

    return [member.name for member in gguf.GGMLQuantizationType]


def tensor_nbytes(shape: tuple[int, ...], type_name: str) -> int:
    """Bytes of a tensor of `shape` (ggml order, row length first) stored as `type_name`."""
    import gguf

    try:
        quant_type = gguf.GGMLQuantizationType[type_name.upper()]
    except KeyError:
        raise UnsupportedError(f"unknown ggml type {type_name!r}; valid types: {', '.join(ggml_type_names())}") from None
    block_size, type_size = gguf.GGML_QUANT_SIZES[quant_type]
    row, rows = shape[0], 1
    for dim in shape[1:]:
        rows *= dim
    if row % block_size:
        raise UnsupportedError(f"a row of {row} weights is not a whole number of {type_name} blocks ({block_size})")
    return rows * (row // block_size) * type_size


def padded(n_bytes: int) -> int:
    """`n_bytes` rounded up to the GGUF data alignment (what the tensor occupies in the file)."""
    return -(-n_bytes // GGUF_ALIGNMENT) * GGUF_ALIGNMENT


def ggml_type_id(type_name: str) -> int:
    """The `enum ggml_type` value of `type_name` (what llama.cpp's tensor-type overrides take)."""
    import gguf

    try:
        return int(gguf.GGMLQuantizationType[type_name.upper()])
    except KeyError:
        raise UnsupportedError(f"unknown ggml type {type_name!r}; valid types: {', '.join(ggml_type_names())}") from None
