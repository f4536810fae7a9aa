"""MODEL as a GGUF file: llama.cpp users often have only an F16/BF16/Q8_0 GGUF, and llama.cpp quantizes from
one and measures KLD against one. Everything else goes to `models.resolve` (folders, aliases, hub ids)."""

from __future__ import annotations

import re
from pathlib import Path

from quantwb.errors import InputError
from quantwb.fileio import sha256_file
from quantwb.formats.gguf_facts import read_gguf_facts
from quantwb.formats.gguf_types import CONVERTER_TYPES
from quantwb.formats.kind import is_gguf_file
from quantwb.models import ModelSource, resolve


def resolve_model(model: str) -> ModelSource:
    """`models.resolve`, or a `ModelSource` of format "gguf" when MODEL is a GGUF file (told by its magic)."""
    path = Path(model).expanduser()
    if path.is_file() and is_gguf_file(path):
        return gguf_source(path)
    return resolve(model)


def gguf_source(path: Path) -> ModelSource:
    """A GGUF file as a model: its architecture and file type from its header, its hash over the whole file."""
    facts = read_gguf_facts(path)  # a damaged file: one line (InputError)
    if not facts.n_params:
        raise InputError(f"{path}: a GGUF without weight tensors (a vocabulary-only file?); give a model's GGUF")
    return ModelSource(name=model_name(path.stem, facts.file_type), path=path.resolve(), architecture=facts.architecture,
                       sha256=sha256_file(path), format="gguf", file_type=facts.file_type)


def model_name(stem: str, file_type: str) -> str:
    """The model's name without the file type its file name ends with (`SmolLM2-135M-F16` -> `SmolLM2-135M`), so
    the variants made from it are named like those made from the HF folder."""
    stripped = re.sub(rf"[-_.]{re.escape(file_type)}$", "", stem, flags=re.IGNORECASE)
    return stripped or stem


def is_float_source(source: ModelSource) -> bool:
    """True for an HF folder or an F32/F16/BF16 GGUF: sources that quantizing loses nothing from a second time."""
    return source.format == "hf" or source.file_type in CONVERTER_TYPES
