"""GPTQ (Frantar et al. 2022, arXiv:2210.17323): llm-compressor's GPTQModifier; classic `gptq` format via GPTQModel."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quantwb.models import ModelSource
from quantwb.quantize import hf_common, llmc_backend
from quantwb.formats.variant import Variant
from quantwb.quantize.base import QuantSpec
from quantwb.quiet import quiet_imports

GPTQ_BITS = (2, 3, 4, 8)


class GPTQOptions(BaseModel):
    """GPTQ settings beyond bits/group size (from `QuantSpec.options`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Quantize columns in order of decreasing Hessian diagonal, then restore the layout (llm-compressor's
    # "weight" ordering, GPTQModel's act_group_aware): better accuracy at no inference cost.
    act_order: bool = True
    damp: float = Field(0.01, gt=0, lt=1)  # Hessian dampening, as a fraction of its mean diagonal
    format: Literal["compressed-tensors", "gptq"] = "compressed-tensors"


class GPTQQuantizer:
    """`run(source, spec, out_dir)` -> an HF folder that transformers and vLLM load."""

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant:
        spec = hf_common.normalized(spec, GPTQ_BITS, default_symmetric=True)
        options = hf_common.parse_options(GPTQOptions, spec)
        if options.format == "gptq":
            from quantwb.quantize import gptqmodel_backend

            return gptqmodel_backend.quantize(source, spec, out_dir, damp=options.damp, act_order=options.act_order)

        def recipe(scheme, model) -> list:
            with quiet_imports():
                from llmcompressor.modifiers.gptq import GPTQModifier

            return [
                GPTQModifier(
                    config_groups={"group_0": scheme},
                    ignore=list(hf_common.IGNORED_MODULES),
                    dampening_frac=options.damp,
                    actorder="weight" if options.act_order else None,
                )
            ]

        return llmc_backend.quantize(source, spec, out_dir, recipe)
