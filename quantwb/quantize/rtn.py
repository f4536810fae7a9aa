"""Round-to-nearest: the same weight scheme as GPTQ/AWQ with no calibration (llm-compressor QuantizationModifier).

The baseline that shows what GPTQ's and AWQ's calibration buys at equal bits and group size."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from quantwb.models import ModelSource
from quantwb.quantize import hf_common, llmc_backend
from quantwb.formats.variant import Variant
from quantwb.quantize.base import QuantSpec
from quantwb.quiet import quiet_imports

RTN_BITS = (2, 3, 4, 8)


class RTNOptions(BaseModel):
    """RTN takes no options beyond bits, group size and symmetry."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RTNQuantizer:
    """`run(source, spec, out_dir)` -> a compressed-tensors HF folder, weights rounded to the nearest level."""

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant:
        spec = hf_common.normalized(spec, RTN_BITS, default_symmetric=True)
        hf_common.parse_options(RTNOptions, spec)

        def recipe(scheme, model) -> list:
            with quiet_imports():
                from llmcompressor.modifiers.quantization import QuantizationModifier

            return [QuantizationModifier(config_groups={"group_0": scheme}, ignore=list(hf_common.IGNORED_MODULES))]

        return llmc_backend.quantize(source, spec, out_dir, recipe, needs_calibration=False)
