"""The repaired byte-level BPE tokenizer encodes and decodes exactly like the one read from the GGUF."""

from __future__ import annotations

import json
from pathlib import Path

from quantwb.tokenizer_repair import repair_tokenizer_file
from tests.tiny_model import smollm2_tokenizer

SAMPLE = "The capital of France is Paris.  Über café — naïve 東京 😀\n\tdef f(x): return x**2"


def test_repair_clears_byte_fallback_and_keeps_encoding(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    original = smollm2_tokenizer()
    original.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["byte_fallback"] is True
    assert repair_tokenizer_file(tmp_path)
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["byte_fallback"] is False
    repaired = AutoTokenizer.from_pretrained(tmp_path)
    ids = original(SAMPLE)["input_ids"]
    assert repaired(SAMPLE)["input_ids"] == ids
    assert repaired.decode(ids) == original.decode(ids) == SAMPLE
    assert not repair_tokenizer_file(tmp_path), "a second repair must find nothing to change"
