"""Bad inputs to `quantwb eval`: one line, non-zero exit, no record written.

Each runs in a separate process: llama.cpp, torch and transformers write to the real stderr, where CliRunner
cannot see them, and the one-line promise is about what a user's terminal shows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import one_error_line, quantwb


def _eval(out: Path, *args: str) -> subprocess.CompletedProcess:
    return quantwb("eval", *args, "--out", str(out), "--ctx", "64", "--chunks", "2")


def _assert_refused(result: subprocess.CompletedProcess, out: Path, fragment: str) -> None:
    assert result.returncode != 0
    assert fragment in one_error_line(result), result.stderr
    assert not out.exists() or not list(out.rglob("*.json"))


@pytest.fixture
def other_tokenizer_model(tiny_model: Path, tmp_path: Path) -> Path:
    """The tiny model's weights with a freshly trained 300-token BPE tokenizer instead of SmolLM2's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    folder = tmp_path / "other-tokenizer"
    shutil.copytree(tiny_model, folder, ignore=shutil.ignore_patterns("tokenizer*", "special_tokens_map.json"))
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>"])
    bpe.train_from_iterator(["The quick brown fox jumps over the lazy dog. " * 50], trainer)
    PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>").save_pretrained(folder)
    return folder


def test_tokenizer_mismatch(tiny_model: Path, other_tokenizer_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _assert_refused(_eval(out, str(other_tokenizer_model), "--base", str(tiny_model)), out, "tokenizer disagrees with the base")


def test_vocabulary_difference_outside_the_checked_opening(tiny_model: Path, tmp_path: Path) -> None:
    """Two rare tokens swap ids: the text's opening still encodes alike, but those ids mean other tokens, so the
    variant must be refused for its vocabulary, also when the check runs against a complete base cache."""
    import json

    folder = tmp_path / "swapped-vocab"
    shutil.copytree(tiny_model, folder)
    tokenizer_json = json.loads((folder / "tokenizer.json").read_text())
    vocab = tokenizer_json["model"]["vocab"]
    rare = sorted(vocab, key=vocab.get)[-2:]  # the two last-merged BPE tokens: absent from the text's opening
    vocab[rare[0]], vocab[rare[1]] = vocab[rare[1]], vocab[rare[0]]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json))
    assert _eval(tmp_path / "good", str(tiny_model), "--base", str(tiny_model)).returncode == 0  # base cache now complete
    out = tmp_path / "out"
    first_changed = min(vocab[rare[0]], vocab[rare[1]])
    _assert_refused(_eval(out, str(folder), "--base", str(tiny_model)), out, f"token id {first_changed} is ")


def test_text_too_short(tiny_model: Path, tmp_path: Path) -> None:
    text = tmp_path / "short.txt"
    text.write_text("Only a few words here.")
    out = tmp_path / "out"
    _assert_refused(_eval(out, str(tiny_model), "--base", str(tiny_model), "--text", str(text)), out, "fewer than one window")


def test_damaged_gguf(tiny_model: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    out = tmp_path / "out"
    _assert_refused(_eval(out, str(damaged), "--base", str(tiny_model)), out, "not a readable GGUF file")


def test_folder_that_is_not_a_model(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("not a model")
    out = tmp_path / "out"
    _assert_refused(_eval(out, str(folder), "--base", str(tiny_model)), out, "no config.json")


def test_missing_variant(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _assert_refused(_eval(out, str(tmp_path / "nothing.gguf"), "--base", str(tiny_model)), out, "no such file or folder")


def test_checkpoint_needing_a_missing_package(tiny_model: Path, tmp_path: Path) -> None:
    """A quantized format whose loader package is absent names that package in one line (AQLM stands in for optimum)."""
    import importlib.util
    import json

    if importlib.util.find_spec("aqlm") is not None:
        pytest.skip("aqlm is installed here: no quantization format with a missing loader package to try")
    folder = tmp_path / "needs-aqlm"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "aqlm"}
    (folder / "config.json").write_text(json.dumps(config))
    out = tmp_path / "records"
    _assert_refused(_eval(out, str(folder), "--base", str(tiny_model)), out, "a package this checkpoint needs is not installed")
