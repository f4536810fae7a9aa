"""Round-to-nearest: the same weight scheme as GPTQ/AWQ with no calibration (llm-compressor QuantizationModifier).

The baseline that shows what GPTQ's and AWQ's calibration buys at equal bits and group size."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from quantwb.quantize.hf_source import IGNORED_MODULES
from quantwb.quiet import quiet_imports


class RTNOptions(BaseModel):
    """RTN takes no options beyond bits, group size and symmetry."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def recipe(options: BaseModel, scheme, model) -> list:
    """llm-compressor modifiers: round every Linear but the head to `scheme` (AWQ ends with the same step)."""
    with quiet_imports():
        from llmcompressor.modifiers.quantization import QuantizationModifier

    return [QuantizationModifier(config_groups={"group_0": scheme}, ignore=list(IGNORED_MODULES))]
