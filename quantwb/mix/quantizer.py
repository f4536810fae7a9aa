"""The `gguf-mix` row of the method table: the mix as a Quantizer, so a sweep's plan makes it like any variant."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from quantwb import defaults
from quantwb.errors import InputError, UnsupportedError
from quantwb.formats.gguf_types import parse_gguf_type
from quantwb.formats.variant import Variant
from quantwb.mix.config import MixConfig, MixTarget
from quantwb.mix.imatrix_choice import parse_mix_imatrix
from quantwb.mix.layout import check_candidates
from quantwb.mix.make import make_mix
from quantwb.models import ModelSource
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.method_fields import MixOptions
from quantwb.quantize.methods import parse_options


class MixQuantizer:
    """The `gguf-mix` row of the method table: a sweep's mix, chosen on the plan's calibration text (its options are
    methods.MixOptions); the sweep's text step judges it."""

    def check(self, source: ModelSource, spec: QuantSpec) -> None:
        """The candidate types and the stock type to match (the target's presence the plan entry checked)."""
        if source.format != "hf":
            raise UnsupportedError(f"gguf-mix needs a Hugging Face model folder; {source.path} is a GGUF file")
        options = _options(spec)
        try:
            if options.candidates is not None:
                check_candidates(list(options.candidates))
        except InputError as err:
            raise type(err)(f"option candidates: {err}") from err
        if options.imatrix is not None:
            try:
                parse_mix_imatrix(options.imatrix)
            except InputError as err:
                raise type(err)(f"option imatrix: {err}") from err
        try:
            if spec.option("match") is not None:
                parse_gguf_type(spec.option("match"))
        except InputError as err:
            raise type(err)(f"match: {err}") from err

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant:
        options = _options(spec)
        settings = {name: value for name, value in options.model_dump().items() if value is not None}
        text = spec.calibration.text if spec.calibration else defaults.CALIBRATION_TEXT
        config = MixConfig(model=str(source.path), target=MixTarget(bpw=spec.option("target_bpw"), match=spec.option("match")),
                           text=text, out_dir=out_dir, results_dir=None, **settings)
        return make_mix(config, source).variant


def _options(spec: QuantSpec) -> MixOptions:
    """The entry's `options` (methods.MixOptions), without the target the spec's options carry beside them."""
    return parse_options(replace(spec, options=tuple((k, v) for k, v in spec.options if k not in ("match", "target_bpw"))))
