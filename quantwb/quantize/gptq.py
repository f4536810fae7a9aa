"""GPTQ (Frantar et al. 2022, arXiv:2210.17323): llm-compressor's GPTQModifier; classic `gptq` format via GPTQModel."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quantwb.quantize.base import QuantSpec
from quantwb.quantize.hf_source import IGNORED_MODULES
from quantwb.quiet import quiet_imports


class GPTQOptions(BaseModel):
    """GPTQ settings beyond bits/group size (from `QuantSpec.options`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Quantize columns in order of decreasing Hessian diagonal, then restore the layout (llm-compressor's
    # "weight" ordering, GPTQModel's act_group_aware): better accuracy at no inference cost.
    act_order: bool = True
    damp: float = Field(0.01, gt=0, lt=1)  # Hessian dampening, as a fraction of its mean diagonal
    format: Literal["compressed-tensors", "gptq"] = "compressed-tensors"


def recipe(options: GPTQOptions, scheme, model) -> list:
    """llm-compressor modifiers: GPTQ on every Linear but the head."""
    with quiet_imports():
        from llmcompressor.modifiers.gptq import GPTQModifier

    return [
        GPTQModifier(
            config_groups={"group_0": scheme},
            ignore=list(IGNORED_MODULES),
            dampening_frac=options.damp,
            actorder="weight" if options.act_order else None,
        )
    ]


def gptqmodel_config(options: GPTQOptions, spec: QuantSpec, group_size: int):
    """GPTQModel's config for the classic `gptq` format (sym/asym, act-group-aware ordering)."""
    from gptqmodel import QuantizeConfig

    return QuantizeConfig(
        bits=spec.bits, group_size=group_size, sym=bool(spec.symmetric), damp_percent=options.damp,
        act_group_aware=options.act_order,
        offload_to_disk=False,  # small models fit in memory; disk offload also writes a random temp path into config.json
    )
