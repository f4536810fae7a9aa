"""llm-compressor driver shared by AWQ, GPTQ and RTN: one oneshot() call, compressed-tensors output."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from loguru import logger
from pydantic import BaseModel

from quantwb.calibration import CalibrationSet
from quantwb.formats.variant import Variant
from quantwb.models import ModelSource
from quantwb.quantize import hf_source, methods
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.hf_backend import Quantized, backend_failure, prepare
from quantwb.quantize.hf_methods import HFMethod
from quantwb.quantize.hf_write import write_variant
from quantwb.quiet import quiet_imports

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "compressed-tensors"
_LOGURU_LIBRARIES = ("llmcompressor", "compressed_tensors")


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


@contextlib.contextmanager
def _onload_device(device: str) -> Iterator[None]:
    """llm-compressor's pipelines onload each layer to the first accelerator torch sees (`get_main_device`), with no
    argument to choose; pin them to quantwb's --device for this call (cpu on a GPU machine, or cuda:N)."""
    import torch
    from llmcompressor.pipelines.data_free import pipeline as data_free
    from llmcompressor.pipelines.sequential import pipeline as sequential

    with contextlib.ExitStack() as stack:
        for module in (sequential, data_free):
            stack.enter_context(mock.patch.object(module, "get_main_device", lambda: torch.device(device)))
        yield


def calibration_dataset(calibration: CalibrationSet):
    """The chosen windows as a tokenized `datasets.Dataset` (llm-compressor's input)."""
    from datasets import Dataset

    windows = calibration.windows
    return Dataset.from_dict({"input_ids": windows, "attention_mask": [[1] * len(w) for w in windows]})


def quantize(source: ModelSource, spec: QuantSpec, out_dir: Path, method: HFMethod, options: BaseModel) -> Variant:
    """Load, calibrate and quantize with llm-compressor, then save a compressed-tensors folder atomically."""
    prepared = prepare(source, spec, load_model=functools.partial(hf_source.load_model, device=spec.device),
                       calibrate=methods.method(spec.method).calibrates)
    model, calibration = prepared.model, prepared.calibration
    symmetric = bool(spec.symmetric)
    recipe = method.recipe(options, weight_scheme(spec.bits, prepared.group.chosen, symmetric), model)

    def save(folder: Path) -> Quantized:
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
            with method.run_context(), _library_logs(), _onload_device(spec.device):
                oneshot(model=model, recipe=recipe, **kwargs)
        except (ValueError, RuntimeError) as err:
            raise backend_failure("llm-compressor", spec.method, err) from err
        model.save_pretrained(folder, save_compressed=True)
        prepared.tokenizer.save_pretrained(folder)
        return Quantized("llmcompressor", CHECKPOINT_FORMAT, symmetric, method.activations)

    return write_variant(source, spec, out_dir, prepared, save)
