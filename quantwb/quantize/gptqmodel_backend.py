"""GPTQModel driver for the classic `gptq` and `awq` checkpoint formats (exllama/Marlin/AWQ-GEMM kernels)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from pydantic import BaseModel

from quantwb.devices import is_accelerator
from quantwb.formats.variant import Variant
from quantwb.models import ModelSource
from quantwb.quantize import hf_source
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.hf_backend import Quantized, backend_failure, prepare
from quantwb.quantize.hf_methods import HFMethod
from quantwb.quantize.hf_write import write_variant
from quantwb.quiet import quiet_imports


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


def quantize(source: ModelSource, spec: QuantSpec, out_dir: Path, method: HFMethod, options: BaseModel) -> Variant:
    """Quantize with GPTQModel and save its checkpoint (the method's classic format) atomically."""
    # GPTQModel loads the weights itself; the group-size check and parameter count need only shapes.
    prepared = prepare(source, spec, load_model=hf_source.shape_only_model)

    def save(folder: Path) -> Quantized:
        # GPTQModel prints its progress tables to stdout; stdout is for the command's result, so send them to stderr.
        with _cpu_workers(), _logs_outside_cwd(), quiet_imports(), contextlib.redirect_stdout(sys.stderr):
            from gptqmodel import BACKEND, GPTQModel

            config = method.gptqmodel_config(options, spec, prepared.group.chosen)
            backend = BACKEND.AUTO if is_accelerator(spec.device) else BACKEND.TORCH
            samples = [{"input_ids": w, "attention_mask": [1] * len(w)} for w in prepared.calibration.windows]
            try:
                model = GPTQModel.load(str(source.path), config, device=spec.device)
                model.quantize(samples, batch_size=1, backend=backend, calibration_sort=None)
                model.save(str(folder))
            except (ValueError, RuntimeError) as err:
                raise backend_failure("GPTQModel", spec.method, err) from err
        prepared.tokenizer.save_pretrained(folder)
        return Quantized("gptqmodel", method.classic_format, bool(spec.symmetric))

    return write_variant(source, spec, out_dir, prepared, save)
