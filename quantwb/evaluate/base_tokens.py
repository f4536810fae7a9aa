"""The base's view of the text: its token ids, BOS, vocabulary and the opening every variant's tokenizer must match.

A leaf (numpy only): tokens.py makes it, tokenizer_json.py checks a tokenizer.json against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BaseTokens:
    """The text as base token ids, and the BOS id llama.cpp-style windows start with (None: no BOS)."""

    ids: np.ndarray
    bos_id: int | None
    sample: str
    sample_ids: tuple[int, ...]
    vocab: tuple[str, ...]  # token string of every id, added tokens included
