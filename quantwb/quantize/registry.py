"""Method name -> Quantizer class, as lazy "module:Class" strings so a backend imports only when used."""

from __future__ import annotations

import importlib

from quantwb.errors import UnsupportedError
from quantwb.quantize.base import Quantizer

# Adding a format is one new file and one line here (an HF weight-only method also: a row in
# hf_methods.HF_METHODS and its three-line class in hf_quantizer).
QUANTIZERS: dict[str, str] = {
    "awq": "quantwb.quantize.hf_quantizer:AWQQuantizer",
    "gptq": "quantwb.quantize.hf_quantizer:GPTQQuantizer",
    "rtn": "quantwb.quantize.hf_quantizer:RTNQuantizer",
    "gguf": "quantwb.quantize.gguf:GGUFQuantizer",
    "autoround": "quantwb.quantize.hf_quantizer:AutoRoundQuantizer",
    "w8a8": "quantwb.quantize.hf_quantizer:W8A8Quantizer",
    "fp8": "quantwb.quantize.hf_quantizer:FP8Quantizer",
}


def methods() -> list[str]:
    return sorted(QUANTIZERS)


def get_quantizer(method: str) -> Quantizer:
    """An instance of the quantizer registered for `method` (awq, gptq, rtn, gguf, autoround, w8a8, fp8)."""
    if method not in QUANTIZERS:
        raise UnsupportedError(f"unknown quantization method {method!r} (known: {', '.join(methods())})")
    module_name, class_name = QUANTIZERS[method].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
