"""How the HF-folder methods (AWQ, GPTQ, RTN, AutoRound, W8A8, FP8) run: one row each, read by the quantizer and
backends. What a plan or the CLI sees of them (options, calibration) is their row in methods.py."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from quantwb.quantize import awq, fp8, gptq, groups, rtn, w8a8
from quantwb.quantize.base import FIXED_SCHEMES, QuantSpec

# (options, scheme, model) -> llm-compressor modifiers, scheme from llmc_backend.weight_scheme.
RecipeBuilder = Callable[[Any, Any, Any], list]
# (options, spec, group size) -> GPTQModel's quantize config for the method's classic format.
GPTQModelConfig = Callable[[Any, QuantSpec, int], Any]


@dataclass(frozen=True)
class HFMethod:
    """One method: what it accepts, and how llm-compressor, GPTQModel or auto-round are told to run it."""

    bits: tuple[int, ...]  # weight bits the method supports
    default_symmetric: bool  # when the spec leaves symmetry open
    recipe: RecipeBuilder | None  # llm-compressor, writing compressed-tensors (None: another library runs it)
    run_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext  # around oneshot()
    classic_format: str | None = None  # the checkpoint format GPTQModel writes instead, when asked (`format` option)
    gptqmodel_config: GPTQModelConfig | None = None  # GPTQModel's config for `classic_format`
    backend: str = "llmcompressor"  # the library that runs it by default (hf_quantizer maps names to drivers)
    activations: str | None = None  # how activations are quantized at run time; None = weight-only

    def normalized(self, spec: QuantSpec) -> QuantSpec:
        """`spec` with bits checked against this method and group size and symmetry filled in."""
        if spec.method in FIXED_SCHEMES:
            return groups.fixed(spec, self.bits[0])
        return groups.normalized(spec, self.bits, self.default_symmetric)

    def wants_classic(self, options: BaseModel) -> bool:
        """Whether `options` ask for GPTQModel's classic format rather than llm-compressor's compressed-tensors."""
        return self.classic_format is not None and getattr(options, "format", None) == self.classic_format


HF_METHODS: dict[str, HFMethod] = {
    # Standard AWQ stores a zero point per group (asymmetric); its kernels (GEMM/GEMV, Marlin) are 4-bit only.
    "awq": HFMethod(
        bits=(4,), default_symmetric=False, recipe=awq.recipe,
        run_context=awq.cpu_pin_memory_guard, classic_format="awq", gptqmodel_config=awq.gptqmodel_config,
    ),
    "gptq": HFMethod(
        bits=(2, 3, 4, 8), default_symmetric=True, recipe=gptq.recipe,
        classic_format="gptq", gptqmodel_config=gptq.gptqmodel_config,
    ),
    "rtn": HFMethod(bits=(2, 3, 4, 8), default_symmetric=True, recipe=rtn.recipe),
    # auto-round's own default is symmetric; its GGUF types go through hf_quantizer.AutoRoundQuantizer instead.
    "autoround": HFMethod(
        bits=(2, 3, 4, 8), default_symmetric=True, recipe=None, backend="autoround",
    ),
    "w8a8": HFMethod(bits=(8,), default_symmetric=True, recipe=w8a8.recipe,
                     activations=w8a8.ACTIVATIONS),
    "fp8": HFMethod(bits=(8,), default_symmetric=True, recipe=fp8.recipe,
                    activations=fp8.ACTIVATIONS),
}
