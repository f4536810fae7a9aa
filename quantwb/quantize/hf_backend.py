"""What the two HF backends (llm-compressor, GPTQModel) share around their library call: preparation, report, failure."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quantwb.calibration import CalibrationSet, CalibrationSpec, build_calibration
from quantwb.errors import QuantizationError
from quantwb.models import ModelSource
from quantwb.quantize import hf_source
from quantwb.quantize.base import QuantSpec, Stopwatch
from quantwb.quantize.groups import GroupChoice, choose_group_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """Everything known before the library runs; `stopwatch` started before any of it, so wall time covers it."""

    stopwatch: Stopwatch
    tokenizer: Any
    calibration: CalibrationSet | None  # None for a method without calibration (RTN)
    model: Any  # the loaded model, or its shapes on the meta device when the library loads the weights itself
    n_params: int  # parameters of the unquantized model, tied weights counted once
    group: GroupChoice


def prepare(
    source: ModelSource,
    spec: QuantSpec,
    load_model: Callable[[ModelSource], Any],
    calibrate: bool = True,
) -> Prepared:
    """Check the source, build the calibration windows, load the model (or its shapes) and choose the group size."""
    stopwatch = Stopwatch()
    hf_source.check_full_precision(source)
    hf_source.check_architecture(source)
    tokenizer = hf_source.load_tokenizer(source)
    # Calibration text problems (DataError) surface before the (slow) model load.
    calibration = build_calibration(tokenizer, spec.calibration or CalibrationSpec()) if calibrate else None
    model = load_model(source)
    group = choose_group_size(spec.group_size, hf_source.linear_in_features(model))
    if group.note:
        log.warning("%s: %s", spec.method, group.note)
    return Prepared(stopwatch, tokenizer, calibration, model, hf_source.logical_param_count(model), group)


@dataclass(frozen=True)
class Quantized:
    """What a backend reports after writing its checkpoint into a folder."""

    backend: str
    checkpoint_format: str
    symmetric: bool
    activations: str | None = None  # how activations are quantized at run time; None = weight-only


def backend_failure(library: str, method: str, err: Exception) -> QuantizationError:
    """One line for a library's failure: its first message line (the traceback stays behind --debug)."""
    text = str(err).strip()
    return QuantizationError(f"{library} {method} failed: {text.splitlines()[0] if text else type(err).__name__}")
