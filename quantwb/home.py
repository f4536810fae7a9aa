"""Where quantwb keeps its caches: `$QUANTWB_HOME`, else `~/.cache/quantwb`."""

from __future__ import annotations

import os
from pathlib import Path


def quantwb_home() -> Path:
    """The cache root; created on first use."""
    root = Path(os.environ.get("QUANTWB_HOME") or Path.home() / ".cache" / "quantwb").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    path = quantwb_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
