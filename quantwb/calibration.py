"""Calibration samples: deterministic token windows drawn from a text, described for manifests."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from quantwb import defaults
from quantwb.errors import DataError
from quantwb.texts import Text, load_text


@dataclass(frozen=True)
class CalibrationSpec:
    """Which text, how many windows of how many tokens, and the seed that picks them."""

    text: str = defaults.CALIBRATION_TEXT
    samples: int = defaults.CALIBRATION_SAMPLES
    seq_len: int = defaults.CALIBRATION_SEQ_LEN
    seed: int = defaults.CALIBRATION_SEED

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise DataError(f"--samples must be at least 1, got {self.samples}")
        if self.seq_len < 8:
            raise DataError(f"--seq-len must be at least 8, got {self.seq_len}")


@dataclass(frozen=True)
class CalibrationSet:
    """The chosen windows plus what a manifest needs to reproduce them."""

    spec: CalibrationSpec
    text: Text
    windows: list[list[int]]

    def describe(self) -> dict:
        return {**asdict(self.spec), "text_name": self.text.name, "text_sha256": self.text.sha256}


def build_calibration(tokenizer, spec: CalibrationSpec) -> CalibrationSet:
    """Tokenize the text once and pick `samples` non-overlapping windows with a seeded permutation."""
    text = load_text(spec.text)
    ids = tokenizer(text.text, add_special_tokens=False)["input_ids"]
    available = len(ids) // spec.seq_len
    if available < spec.samples:
        raise DataError(
            f"{text.name}: {len(ids)} tokens give {available} windows of {spec.seq_len}, "
            f"fewer than the {spec.samples} samples asked for (lower --samples or --seq-len, or give more text)"
        )
    order = np.random.default_rng(spec.seed).permutation(available)[: spec.samples]
    windows = [ids[i * spec.seq_len : (i + 1) * spec.seq_len] for i in sorted(order.tolist())]
    return CalibrationSet(spec, text, windows)
