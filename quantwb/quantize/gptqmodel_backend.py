"""GPTQModel driver for the classic `gptq` and `awq` checkpoint formats (exllama/Marlin/AWQ-GEMM kernels)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from quantwb.models import ModelSource
from quantwb.quantize import hf_common
from quantwb.formats.variant import Variant
from quantwb.quantize.base import QuantSpec, Stopwatch
from quantwb.quiet import quiet_imports

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _cpu_workers() -> Iterator[None]:
    """GPTQModel sizes its CPU worker pool from the core count; pin it to what this machine has, for this run."""
    key = "GPTQMODEL_CPU_WORKERS"
    previous = os.environ.get(key)
    os.environ.setdefault(key, str(os.cpu_count() or 1))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)


@contextlib.contextmanager
def _logs_outside_cwd() -> Iterator[None]:
    """GPTQModel writes per-run logs into ./logs of the caller's working directory; send them to a temp dir."""
    from gptqmodel.looper import loop_processor

    with tempfile.TemporaryDirectory(prefix="quantwb-gptqmodel-logs-") as tmp:
        with mock.patch.object(loop_processor, "_PROJECT_LOG_DIR", Path(tmp)):
            yield


def quantize_config(spec: QuantSpec, group_size: int, damp: float = 0.01, act_order: bool = True):
    """GPTQModel's config for `spec`: GPTQ (sym/asym, act-group-aware ordering) or AWQ GEMM."""
    from gptqmodel import QuantizeConfig
    from gptqmodel.quantization.config import AWQConfig

    if spec.method == "awq":
        return AWQConfig(bits=spec.bits, group_size=group_size, sym=bool(spec.symmetric), offload_to_disk=False)
    return QuantizeConfig(
        bits=spec.bits, group_size=group_size, sym=bool(spec.symmetric), damp_percent=damp, act_group_aware=act_order,
        offload_to_disk=False,  # small models fit in memory; disk offload also writes a random temp path into config.json
    )


def quantize(source: ModelSource, spec: QuantSpec, out_dir: Path, damp: float = 0.01, act_order: bool = True) -> Variant:
    """Quantize with GPTQModel and save its checkpoint (format `gptq` or `awq`) atomically."""
    stopwatch = Stopwatch()
    hf_common.check_full_precision(source)
    tokenizer = hf_common.load_tokenizer(source)
    calibration = hf_common.prepare_calibration(tokenizer, spec.calibration)
    # GPTQModel loads the weights itself; the group-size check and parameter count need only shapes.
    shapes = hf_common.shape_only_model(source)
    n_params = hf_common.logical_param_count(shapes)
    group = hf_common.choose_group_size(spec.group_size, hf_common.linear_in_features(shapes))
    if group.note:
        log.warning("%s: %s", spec.method, group.note)

    def save(folder: Path) -> hf_common.Quantized:
        # GPTQModel prints its progress tables to stdout; stdout is for the command's result, so send them to stderr.
        with _cpu_workers(), _logs_outside_cwd(), quiet_imports(), contextlib.redirect_stdout(sys.stderr):
            import torch
            from gptqmodel import BACKEND, GPTQModel

            config = quantize_config(spec, group.chosen, damp, act_order)
            backend = BACKEND.AUTO if torch.cuda.is_available() else BACKEND.TORCH
            samples = [{"input_ids": w, "attention_mask": [1] * len(w)} for w in calibration.windows]
            try:
                model = GPTQModel.load(str(source.path), config)
                model.quantize(samples, batch_size=1, backend=backend, calibration_sort=None)
                model.save(str(folder))
            except (ValueError, RuntimeError) as err:
                raise hf_common.backend_failure("GPTQModel", spec.method, err) from err
        tokenizer.save_pretrained(folder)
        return hf_common.Quantized("gptqmodel", spec.method, bool(spec.symmetric))

    return hf_common.write_variant(source, spec, out_dir, calibration, n_params, group, save, stopwatch)
