"""The GGUF file types quantwb can make, read from llama.cpp's own `llama_ftype` enum (never listed by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from quantwb.errors import UnsupportedError

# llama.cpp names its file types LLAMA_FTYPE_MOSTLY_<TYPE> (and LLAMA_FTYPE_ALL_F32); GUESSED is not a type.
_PREFIXES = ("LLAMA_FTYPE_MOSTLY_", "LLAMA_FTYPE_ALL_")
_NOT_TYPES = frozenset({"GUESSED"})
# Float types are written by llama.cpp's HF->GGUF converter itself; the rest by llama_model_quantize.
CONVERTER_TYPES = ("F32", "F16", "BF16")
INTERMEDIATE_TYPE = "F16"  # the one converted file that every quantized type is made from


@dataclass(frozen=True)
class GGUFType:
    """One llama.cpp file type: its name (Q4_K_M) and its `llama_ftype` value."""

    name: str
    ftype: int

    @property
    def made_by_converter(self) -> bool:
        return self.name in CONVERTER_TYPES


@cache
def gguf_types() -> dict[str, GGUFType]:
    """Every file type this llama-cpp-python build knows, by name, in llama.cpp's enum order."""
    import llama_cpp

    found: dict[str, GGUFType] = {}
    for attribute in dir(llama_cpp):
        prefix = next((p for p in _PREFIXES if attribute.startswith(p)), None)
        if prefix is None:
            continue
        name = attribute[len(prefix) :]
        if name not in _NOT_TYPES:
            found[name] = GGUFType(name, int(getattr(llama_cpp, attribute)))
    return dict(sorted(found.items(), key=lambda item: item[1].ftype))


def parse_gguf_type(name: str) -> GGUFType:
    """The file type called `name` (case-insensitive), or UnsupportedError listing the valid names."""
    types = gguf_types()
    found = types.get(name.strip().upper())
    if found is None:
        raise UnsupportedError(f"unknown GGUF type {name!r}; valid types: {', '.join(types)}")
    return found


def type_name_of_ftype(ftype: int) -> str:
    """The name of a `general.file_type` value read from a GGUF file (e.g. 15 -> Q4_K_M)."""
    for gguf_type in gguf_types().values():
        if gguf_type.ftype == ftype:
            return gguf_type.name
    return f"ftype-{ftype}"
