"""Which kind of variant a path holds: a GGUF file (told by its magic bytes) or a Hugging Face folder."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from quantwb.errors import InputError, UnsupportedError
from quantwb.models import check_causal_lm

GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file (gguf-py's GGUF_MAGIC, as bytes)
VariantKind = Literal["hf", "gguf"]


def is_gguf_file(path: Path) -> bool:
    """True when `path` is a file that starts with the GGUF magic, whatever its name."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except (IsADirectoryError, FileNotFoundError):
        return False


def variant_kind(path: Path) -> VariantKind:
    """'gguf' or 'hf'; one line naming the problem for anything else."""
    path = Path(path)
    if path.is_file():
        if is_gguf_file(path):
            return "gguf"
        raise UnsupportedError(f"{path}: not a GGUF file (no GGUF header) and not a Hugging Face model folder")
    if path.is_dir():
        check_causal_lm(path)
        return "hf"
    raise InputError(f"{path}: no such file or folder")
