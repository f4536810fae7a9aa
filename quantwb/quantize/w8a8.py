"""INT8 weights and activations (W8A8): SmoothQuant (Xiao et al. 2022, arXiv:2211.10438) moves activation outliers
into the weights, then GPTQ rounds the weights to int8 per output channel; activations are quantized per token
at run time. llm-compressor's recipe for vLLM's int8 kernels."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from quantwb.quantize.base import FIXED_SCHEMES
from quantwb.quantize.hf_source import IGNORED_MODULES
from quantwb.quiet import quiet_imports

ACTIVATIONS = "int8, dynamic per token"


class W8A8Options(BaseModel):
    """SmoothQuant's migration strength and GPTQ's dampening (from `QuantSpec.options`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    smoothing_strength: float = Field(0.8, gt=0, lt=1)  # SmoothQuant's alpha, llm-compressor's W8A8 example value
    damp: float = Field(0.01, gt=0, lt=1)  # Hessian dampening, as a fraction of its mean diagonal


def recipe(options: W8A8Options, scheme, model) -> list:
    """llm-compressor modifiers: SmoothQuant, then GPTQ to the W8A8 preset on every Linear but the head.

    `scheme` (the weight-only one the backend builds) is unused: the preset fixes weights and activations."""
    with quiet_imports():
        from llmcompressor.modifiers.gptq import GPTQModifier
        from llmcompressor.modifiers.smoothquant import SmoothQuantModifier

    return [
        SmoothQuantModifier(smoothing_strength=options.smoothing_strength),
        GPTQModifier(targets="Linear", scheme=FIXED_SCHEMES["w8a8"], ignore=list(IGNORED_MODULES),
                     dampening_frac=options.damp),
    ]
