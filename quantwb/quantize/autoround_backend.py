"""auto-round driver for HF checkpoints (auto_round, GPTQ, AWQ formats): tune, export, move into the variant folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from quantwb.formats.variant import Variant
from quantwb.models import ModelSource
from quantwb.quantize import autoround, hf_load
from quantwb.quantize.autoround import AutoRoundOptions
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.hf_backend import Quantized, prepare
from quantwb.quantize.hf_methods import HFMethod
from quantwb.quantize.hf_write import write_variant


def quantize(source: ModelSource, spec: QuantSpec, out_dir: Path, method: HFMethod, options: AutoRoundOptions) -> Variant:
    """Load, calibrate and tune with auto-round, then save its checkpoint folder atomically."""
    autoround.check_format_bits(spec, options)
    prepared = prepare(source, spec, load_model=hf_load.load_model)
    symmetric = bool(spec.symmetric)
    scheme = {"scheme": f"W{spec.bits}A16", "bits": spec.bits, "group_size": prepared.group.chosen, "sym": symmetric}

    def save(folder: Path) -> Quantized:
        scratch = folder / ".auto-round"  # auto-round names its own subfolder; its files move up into the variant
        written = autoround.tune_and_save(prepared.model, prepared.tokenizer, prepared.calibration, options, scheme,
                                          autoround.HF_FORMATS[options.format], scratch, spec.method)
        for item in written.iterdir():
            item.rename(folder / item.name)
        shutil.rmtree(scratch)
        return Quantized(autoround.LIBRARY, options.format, symmetric)

    return write_variant(source, spec, out_dir, prepared, save)
