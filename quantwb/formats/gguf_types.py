"""The GGUF file types quantwb can make, read from llama.cpp's own `llama_ftype` enum (never listed by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from quantwb.errors import UnsupportedError
from quantwb.llama_log import llama_log_to

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
def _enum_types() -> dict[str, GGUFType]:
    """Every file type this llama-cpp-python build's enum names, in llama.cpp's enum order (for reading files)."""
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


@cache
def gguf_types() -> dict[str, GGUFType]:
    """The file types quantwb can make with this build, by name: the converter's floats and what the quantizer writes."""
    return {name: t for name, t in _enum_types().items() if name in CONVERTER_TYPES or _quantizer_makes(t.ftype)}


def _quantizer_makes(ftype: int) -> bool:
    """Whether llama_model_quantize of this build can write `ftype` (the enum also names types it cannot, e.g. NVFP4).

    The quantizer checks the output type before it opens its input: asked (a dry run) to quantize a file that
    does not exist, it says "invalid output file type" for a type it cannot make, and fails to load for the rest."""
    import ctypes
    import os

    import llama_cpp

    lines: list[str] = []
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.dry_run = ftype, True
    with llama_log_to(lambda level, text: lines.append(text)):
        llama_cpp.llama_model_quantize(b"/nonexistent/quantwb-type-probe.gguf", os.devnull.encode(), ctypes.byref(params))
    return "invalid output file type" not in "".join(lines)


def parse_gguf_type(name: str) -> GGUFType:
    """The file type called `name` (case-insensitive), or UnsupportedError listing the valid names."""
    types = gguf_types()
    found = types.get(name.strip().upper())
    if found is None:
        known = name.strip().upper() in _enum_types()
        what = f"GGUF type {name!r}: llama.cpp names it but its quantizer cannot write it" if known else f"unknown GGUF type {name!r}"
        raise UnsupportedError(f"{what}; valid types: {', '.join(types)}")
    return found


def type_name_of_ftype(ftype: int) -> str:
    """The name of a `general.file_type` value read from a GGUF file (e.g. 15 -> Q4_K_M)."""
    for gguf_type in _enum_types().values():  # a file made elsewhere may have a type quantwb cannot make
        if gguf_type.ftype == ftype:
            return gguf_type.name
    return f"ftype-{ftype}"
