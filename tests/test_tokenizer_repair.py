"""The repaired byte-level BPE tokenizer encodes and decodes exactly like the one read from the GGUF; a saved
tokenizer_config.json loses how it was loaded (local_files_only) and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from quantwb.tokenizer_repair import drop_load_options, repair_tokenizer_file
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


def test_drop_load_options_removes_only_how_the_tokenizer_was_loaded(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    smollm2_tokenizer().save_pretrained(tmp_path / "first")
    AutoTokenizer.from_pretrained(tmp_path / "first", local_files_only=True).save_pretrained(tmp_path / "second")
    path = tmp_path / "second" / "tokenizer_config.json"
    before = json.loads(path.read_text())
    assert before["local_files_only"] is True  # what transformers saves, and why this exists
    assert drop_load_options(tmp_path / "second")
    after = json.loads(path.read_text())
    assert after == {key: value for key, value in before.items() if key != "local_files_only"}
    assert AutoTokenizer.from_pretrained(tmp_path / "second")(SAMPLE)["input_ids"] == smollm2_tokenizer()(SAMPLE)["input_ids"]
    assert not drop_load_options(tmp_path / "second"), "nothing left to drop"
    assert not drop_load_options(tmp_path / "missing")
