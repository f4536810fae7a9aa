"""FP8 dynamic: float8 (e4m3) weights with one scale per output channel, activations cast to float8 per token at
run time; no calibration. llm-compressor's FP8_DYNAMIC preset, served by vLLM on Hopper/Ada-class GPUs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from quantwb.quantize.base import FIXED_SCHEMES
from quantwb.quantize.hf_source import IGNORED_MODULES
from quantwb.quiet import quiet_imports

ACTIVATIONS = "fp8 e4m3, dynamic per token"


class FP8Options(BaseModel):
    """FP8 dynamic takes no options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def recipe(options: BaseModel, scheme, model) -> list:
    """llm-compressor modifiers: the FP8_DYNAMIC preset on every Linear but the head (`scheme` unused, as in w8a8)."""
    with quiet_imports():
        from llmcompressor.modifiers.quantization import QuantizationModifier

    return [QuantizationModifier(targets="Linear", scheme=FIXED_SCHEMES["fp8"], ignore=list(IGNORED_MODULES))]
