"""Where quantwb keeps its caches: `$QUANTWB_HOME`, else `~/.cache/quantwb`."""

from __future__ import annotations

import os
from pathlib import Path

from quantwb.disk import writing


def quantwb_home() -> Path:
    """The cache root; created on first use."""
    root = Path(os.environ.get("QUANTWB_HOME") or Path.home() / ".cache" / "quantwb").expanduser()
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    path = quantwb_home() / "models"
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


_TRUTHY = ("1", "true", "yes", "on")  # huggingface_hub's own reading of its boolean variables


def hub_offline(datasets: bool = False) -> bool:
    """True when HF_HUB_OFFLINE (and, for dataset loads, HF_DATASETS_OFFLINE) says not to use the hub."""
    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if datasets else ("HF_HUB_OFFLINE",)
    return any(os.environ.get(name, "").strip().lower() in _TRUTHY for name in names)
