"""llm-compressor driver shared by AWQ, GPTQ and RTN: one oneshot() call, compressed-tensors output."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from quantwb.calibration import CalibrationSet
from quantwb.models import ModelSource
from quantwb.quantize import hf_common
from quantwb.formats.variant import Variant
from quantwb.quantize.base import QuantSpec, Stopwatch
from quantwb.quiet import quiet_imports

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "compressed-tensors"
_LOGURU_LIBRARIES = ("llmcompressor", "compressed_tensors")

# (scheme, model) -> llm-compressor modifiers; each method file supplies its own.
RecipeBuilder = Callable[[Any, Any], list]


def weight_scheme(bits: int, group_size: int, symmetric: bool):
    """A weight-only integer scheme for every Linear layer: per group, or per output channel at -1."""
    with quiet_imports():
        from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

    strategy = "channel" if group_size == -1 else "group"
    weights = QuantizationArgs(
        num_bits=bits,
        type="int",
        symmetric=symmetric,
        strategy=strategy,
        group_size=None if group_size == -1 else group_size,
    )
    return QuantizationScheme(targets=["Linear"], weights=weights)


@contextlib.contextmanager
def _library_logs() -> Iterator[None]:
    """llm-compressor logs every module to stdout through loguru; show that only when quantwb logs INFO (-v)."""
    from loguru import logger

    if log.isEnabledFor(logging.INFO):
        yield
        return
    for name in _LOGURU_LIBRARIES:
        logger.disable(name)
    try:
        yield
    finally:
        for name in _LOGURU_LIBRARIES:
            logger.enable(name)


def calibration_dataset(calibration: CalibrationSet):
    """The chosen windows as a tokenized `datasets.Dataset` (llm-compressor's input)."""
    from datasets import Dataset

    windows = calibration.windows
    return Dataset.from_dict({"input_ids": windows, "attention_mask": [[1] * len(w) for w in windows]})


def quantize(
    source: ModelSource,
    spec: QuantSpec,
    out_dir: Path,
    build_recipe: RecipeBuilder,
    needs_calibration: bool = True,
    run_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Variant:
    """Load, calibrate and quantize with llm-compressor, then save a compressed-tensors folder atomically."""
    stopwatch = Stopwatch()
    hf_common.check_full_precision(source)
    tokenizer = hf_common.load_tokenizer(source)
    # Calibration text problems surface before the (slow) model load.
    calibration = hf_common.prepare_calibration(tokenizer, spec.calibration) if needs_calibration else None
    model = hf_common.load_model(source)
    n_params = hf_common.logical_param_count(model)
    group = hf_common.choose_group_size(spec.group_size, hf_common.linear_in_features(model))
    if group.note:
        log.warning("%s: %s", spec.method, group.note)
    symmetric = bool(spec.symmetric)
    recipe = build_recipe(weight_scheme(spec.bits, group.chosen, symmetric), model)

    def save(folder: Path) -> hf_common.Quantized:
        with quiet_imports():
            from llmcompressor import oneshot
        kwargs: dict[str, Any] = {}
        if calibration is not None:
            kwargs = {
                "dataset": calibration_dataset(calibration),
                "num_calibration_samples": len(calibration.windows),
                "max_seq_length": calibration.spec.seq_len,
                "shuffle_calibration_samples": False,  # quantwb already picked the windows with its seed
            }
        try:
            with run_context(), _library_logs():
                oneshot(model=model, recipe=recipe, **kwargs)
        except (ValueError, RuntimeError) as err:
            raise hf_common.backend_failure("llm-compressor", spec.method, err) from err
        model.save_pretrained(folder, save_compressed=True)
        tokenizer.save_pretrained(folder)
        return hf_common.Quantized("llmcompressor", CHECKPOINT_FORMAT, symmetric)

    return hf_common.write_variant(source, spec, out_dir, calibration, n_params, group, save, stopwatch)
