"""auto-round driver for HF checkpoints (auto_round, GPTQ, AWQ formats): tune, export, move into the variant folder."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from quantwb.fileio import move_entries
from quantwb.formats.variant import Variant
from quantwb.models import ModelSource
from quantwb.quantize import autoround, hf_source
from quantwb.quantize.autoround import AutoRoundOptions
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.hf_backend import Quantized, prepare
from quantwb.quantize.hf_methods import HFMethod
from quantwb.quantize.hf_write import write_variant


def quantize(source: ModelSource, spec: QuantSpec, out_dir: Path, method: HFMethod, options: AutoRoundOptions) -> Variant:
    """Load, calibrate and tune with auto-round, then save its checkpoint folder atomically."""
    autoround.check_format_bits(spec, options)
    prepared = prepare(source, spec, load_model=functools.partial(hf_source.load_model, device=spec.device))
    symmetric = bool(spec.symmetric)
    scheme = autoround.weight_scheme(spec.bits, prepared.group.chosen, symmetric)

    def save(folder: Path) -> Quantized:
        # `folder` is write_variant's fresh temporary folder; auto-round writes into a subfolder of a scratch folder
        # made here, and only entries found inside that scratch folder move up into `folder`.
        scratch = folder / ".auto-round"
        scratch.mkdir()
        autoround.tune_and_save(prepared.model, prepared.tokenizer, prepared.calibration, options, scheme,
                                autoround.HF_FORMATS[options.format], scratch, spec.method, device=spec.device)
        move_entries(autoround.written_folder(scratch, "config.json"), scratch, folder)
        shutil.rmtree(scratch)
        return Quantized(autoround.LIBRARY, options.format, symmetric)

    return write_variant(source, spec, out_dir, prepared, save)
