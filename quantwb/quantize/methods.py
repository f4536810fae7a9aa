"""THE method table: one row per quantization method, the only place a method's facts live.

A row names the method's Quantizer (a lazy "module:Class" string, so a backend imports only when a variant is
checked or made), the fields and the strict options model its plan entries take, whether it calibrates, whether
llama.cpp makes it on the CPU, and the rule that names its variants. The plan's variant models (a union), the
plan check, the CLI's choices and the sweep's quantize step all read it: adding a method is its own file (a
Quantizer, an options model) and one row here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from quantwb.errors import InputError, UnsupportedError, validation_line
from quantwb.quantize import autoround, awq, fp8, gptq, rtn, w8a8
from quantwb.quantize.base import ALLOW_REMOTE_CODE, Quantizer, QuantSpec
from quantwb.quantize.method_fields import (
    BitsOrGGUFType,
    Fields,
    GGUFOptions,
    GGUFType,
    MixOptions,
    MixTarget,
    WeightBits,
)


def scheme_id(variant: Any) -> str:
    """`gptq-w4g64`, `rtn-w4gch` (per channel), `autoround-Q4_K_M` (a GGUF export)."""
    if getattr(variant, "type", None):
        return f"{variant.method}-{variant.type}"
    group = "ch" if variant.group_size in (None, -1) else variant.group_size
    return f"{variant.method}-w{variant.bits}g{group}"


def method_id(variant: Any) -> str:
    """The method alone (`w8a8`, `fp8`): its scheme is fixed."""
    return str(variant.method)


def gguf_id(variant: Any) -> str:
    """The GGUF type (`Q4_K_M`), `-imatrix` when quantized with an importance matrix."""
    return f"{variant.type}-imatrix" if variant.imatrix else str(variant.type)


def mix_id(variant: Any) -> str:
    """`mix-Q4_K_M` (the size of a stock type) or `mix-5bpw`."""
    return f"mix-{variant.match}" if variant.match else f"mix-{variant.target_bpw:g}bpw"


@dataclass(frozen=True)
class Method:
    """One quantization method's facts."""

    quantizer: str  # "module:Class" of its Quantizer (check + run), imported on first use
    fields: type[Fields]  # what a plan entry takes: weight bits, a GGUF type, either, nothing, a mix target
    options: type[BaseModel]  # the plan entry's `options` and `QuantSpec.options` (extra="forbid")
    calibrates: bool  # takes calibration text (its algorithm's windows, or llama.cpp's importance matrix)
    id_rule: Callable[[Any], str]  # the variant id of a plan entry without a `name`
    on_device: bool = True  # False: made on the CPU wherever the chain runs (llama.cpp), so the spec keeps "cpu"


_HF = "quantwb.quantize.hf_quantizer"
METHODS: dict[str, Method] = {
    # Every GGUF type gets the calibration: under `imatrix: auto` llama.cpp may require a matrix (IQ2_XS...).
    "gguf": Method("quantwb.quantize.gguf:GGUFQuantizer", GGUFType, GGUFOptions, True, gguf_id, on_device=False),
    # A mix chooses its types by KLD measured on the calibration text (not the text that judges it); it measures
    # while it quantizes, so its Quantizer lives above evaluate/ and quantize/.
    "gguf-mix": Method("quantwb.mix.quantizer:MixQuantizer", MixTarget, MixOptions, True, mix_id, on_device=False),
    "awq": Method(f"{_HF}:AWQQuantizer", WeightBits, awq.AWQOptions, True, scheme_id),
    "gptq": Method(f"{_HF}:GPTQQuantizer", WeightBits, gptq.GPTQOptions, True, scheme_id),
    "rtn": Method(f"{_HF}:RTNQuantizer", WeightBits, rtn.RTNOptions, False, scheme_id),
    "autoround": Method(f"{_HF}:AutoRoundQuantizer", BitsOrGGUFType, autoround.AutoRoundOptions, True, scheme_id),
    "w8a8": Method(f"{_HF}:W8A8Quantizer", Fields, w8a8.W8A8Options, True, method_id),
    "fp8": Method(f"{_HF}:FP8Quantizer", Fields, fp8.FP8Options, False, method_id),
}


def names() -> list[str]:
    return sorted(METHODS)


def method(name: str) -> Method:
    """The row of `name`; an unknown name is one line listing the known ones."""
    if name not in METHODS:
        raise UnsupportedError(f"unknown quantization method {name!r} (known: {', '.join(names())})")
    return METHODS[name]


def get_quantizer(name: str) -> Quantizer:
    """An instance of the Quantizer in `name`'s row (imported now)."""
    module_name, class_name = method(name).quantizer.split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def parse_options(spec: QuantSpec) -> Any:
    """`spec.options` validated by its method's options model; one line naming the option on a bad one."""
    model = method(spec.method).options
    given = {name: value for name, value in spec.options if name != ALLOW_REMOTE_CODE}
    try:
        return model(**given)
    except ValidationError as err:
        line = validation_line(err, "options", say=lambda error: option_error(error, spec.method, model))
        raise InputError(f"{spec.method}: option {line}") from err


def option_error(error: Any, name: str, model: type[BaseModel]) -> str | None:
    """An unknown option of an options model, said with the known ones; None for other errors (pydantic's message
    says those)."""
    if error["type"] == "extra_forbidden":
        return f"not an option of {name} (options: {', '.join(model.model_fields) or 'none'})"
    return None
