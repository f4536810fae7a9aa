"""A variant as evaluation counts it: its own facts, with an HF folder's parameters counted as the base's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from quantwb.formats.variant import Variant, read_variant


def inspect_artifact(path: Path, base_n_params: int | None = None) -> Variant:
    """Describe `path`; `base_n_params` (the base's logical parameter count) is used for HF folders.

    A quantized folder's tensors are packed, so bits per weight are counted against the base's parameters."""
    variant = read_variant(path)
    if variant.format == "hf" and base_n_params:
        return replace(variant, n_params=base_n_params)
    return variant
