"""Where a model runs: `auto`, `cpu` or `cuda[:N]`, resolved once against what torch sees, and the dtype that goes with it.

fp32 stays the CPU's evaluation dtype (bf16 matmuls are slow on most CPUs and would move every number); on an
accelerator unquantized weights run in bf16, the dtype people serve them in.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from quantwb.errors import InputError

DEVICE_CHOICES = "auto|cpu|cuda[:N]"
_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(spec: str) -> str:
    """The spelling alone (no torch import): what the CLI and a plan accept."""
    spec = spec.strip().lower()
    if not _PATTERN.match(spec):
        raise InputError(f"device must be {DEVICE_CHOICES}, got {spec!r}")
    return spec


def resolve_device(spec: str) -> str:
    """`auto` -> `cuda` when torch sees an accelerator, else `cpu`; `cuda[:N]` must exist."""
    spec = check_device(spec)
    if spec == "cpu" or (spec == "auto" and torch_build_is_cpu_only(_torch_version_file())):
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if spec == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise InputError(f"device {spec}: torch sees no CUDA device on this machine (use --device cpu or auto)")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    if index >= torch.cuda.device_count():
        raise InputError(f"device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return spec


def torch_build_is_cpu_only(version_file: Path | None) -> bool:
    """Whether torch's version.py says the build has neither CUDA nor HIP (both `None`): such a build never sees an
    accelerator, and reading the file spares the parent process torch's import (a second) to learn it."""
    try:
        text = version_file.read_text() if version_file is not None else ""
    except OSError:
        return False
    return all(re.search(rf"^{name}\s*(:[^=]*)?=\s*None\s*$", text, re.MULTILINE) for name in ("cuda", "hip"))


def _torch_version_file() -> Path | None:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "version.py"


def is_accelerator(device: str) -> bool:
    return device.startswith("cuda")


def unquantized_dtype(device: str) -> str:
    """The dtype full-precision weights are evaluated in on `device`."""
    return "bfloat16" if is_accelerator(device) else "float32"
