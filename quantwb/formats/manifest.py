"""The manifest quantwb writes beside every variant: its name, its place and its reading and writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quantwb.fileio import write_json_atomic

MANIFEST_NAME = "quantwb-manifest.json"  # inside an HF folder
GGUF_MANIFEST_SUFFIX = ".manifest.json"  # beside a GGUF file: `<file>.manifest.json`


def manifest_path(variant: Path) -> Path:
    """Where the manifest of `variant` (an HF folder or a GGUF file) lives."""
    variant = Path(variant)
    return variant / MANIFEST_NAME if variant.is_dir() else variant.with_name(variant.name + GGUF_MANIFEST_SUFFIX)


def read_manifest(variant: Path) -> dict[str, Any]:
    """The manifest of `variant`, or {} when there is none or it is unreadable (a variant made elsewhere)."""
    try:
        manifest = json.loads(manifest_path(variant).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def write_manifest(variant: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically; written last, it marks the variant complete."""
    write_json_atomic(manifest_path(variant), manifest)
