"""Shared HF-quantizer logic: group-size choice, the method table, model card, and bad inputs that must fail cleanly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from quantwb.errors import InputError, UnsupportedError
from quantwb.quantize import groups, methods
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.model_card import render_model_card
from tests.cli_helpers import one_error_line, quantwb

SMOLLM2_IN_FEATURES = {"layers.0.self_attn.q_proj": 576, "layers.0.mlp.down_proj": 1536}


def assert_clean_failure(result: subprocess.CompletedProcess, fragment: str, out_dir: Path) -> None:
    """One `error:` line, no traceback, and nothing in the output folder that could pass for a variant."""
    assert result.returncode != 0
    assert fragment in one_error_line(result), result.stderr
    leftovers = list(out_dir.iterdir()) if out_dir.exists() else []
    assert leftovers == [], leftovers


def test_group_size_kept_when_it_divides() -> None:
    assert groups.choose_group_size(128, {"a": 256, "b": 768}) == groups.GroupChoice(128, 128)
    assert groups.choose_group_size(-1, SMOLLM2_IN_FEATURES).chosen == -1


def test_group_size_falls_back_to_largest_divisor_for_smollm2_shapes() -> None:
    choice = groups.choose_group_size(128, SMOLLM2_IN_FEATURES)
    assert (choice.requested, choice.chosen) == (128, 64)  # 576 = 9 * 64; 1536 = 12 * 128
    assert "q_proj (576)" in choice.note and "used 64" in choice.note


def test_group_size_refuses_when_no_kernel_size_divides() -> None:
    with pytest.raises(UnsupportedError, match=r"--group-size -1"):
        groups.choose_group_size(128, {"odd": 200})


def test_bits_checked_per_method() -> None:
    with pytest.raises(InputError, match=r"--bits 5 is not supported \(choose 2, 3, 4, 8\)"):
        groups.normalized(QuantSpec(method="gptq", bits=5), (2, 3, 4, 8), default_symmetric=True)
    spec = groups.normalized(QuantSpec(method="awq", bits=4), (4,), default_symmetric=False)
    assert (spec.group_size, spec.symmetric) == (128, False)


def test_method_table_names_every_method_lazily() -> None:
    assert methods.names() == ["autoround", "awq", "fp8", "gguf", "gguf-mix", "gptq", "rtn", "w8a8"]
    assert type(methods.get_quantizer("rtn")).__name__ == "RTNQuantizer"
    with pytest.raises(UnsupportedError, match="unknown quantization method 'fp4'"):
        methods.get_quantizer("fp4")


def test_model_card_front_matter_follows_hf_conventions() -> None:
    manifest = {
        "name": "tiny-gptq-w4g64", "method": "gptq", "bits": 4, "group_size": 64, "symmetric": True,
        "checkpoint_format": "compressed-tensors", "backend": "llmcompressor", "bits_per_weight": 4.61,
        "weight_bytes": 1000, "n_params": 1736, "group_size_note": "used 64", "versions": {"quantwb": "0.1.0"},
        "source": {"name": "tiny", "origin": None},
        "calibration": {"samples": 8, "seq_len": 64, "seed": 0, "text_name": "wiki", "text_sha256": "ab" * 32},
    }
    card = render_model_card(manifest)
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "tiny" and front["library_name"] == "transformers"
    assert {"gptq", "4-bit", "compressed-tensors"} <= set(front["tags"])
    assert front["quantization"] == {"method": "gptq", "bits": 4, "group_size": 64, "symmetric": True,
                                     "format": "compressed-tensors"}
    assert "| Bits per weight (file bytes) | 4.610 |" in card and "Note: used 64" in card


def test_bits_out_of_range_cli(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = quantwb("gptq", str(tiny_model), "--bits", "5", "--out", str(out))
    assert_clean_failure(result, "--bits 5 is not supported", out)


def test_not_a_causal_lm_cli(tmp_path: Path) -> None:
    model = tmp_path / "bert"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    out = tmp_path / "out"
    assert_clean_failure(quantwb("awq", str(model), "--out", str(out)), "not a causal language model", out)


def test_empty_calibration_file_cli(tiny_model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    out = tmp_path / "out"
    result = quantwb("gptq", str(tiny_model), "--calibration", str(empty), "--out", str(out))
    assert_clean_failure(result, "the text is empty", out)


def test_calibration_too_short_for_samples_cli(tiny_model: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.txt"
    short.write_text("A short calibration text about cats and dogs. " * 20)
    out = tmp_path / "out"
    result = quantwb("awq", str(tiny_model), "--calibration", str(short), "--samples", "64", "--seq-len", "128",
                     "--out", str(out))
    assert_clean_failure(result, "fewer than the 64 samples asked for", out)


def test_already_quantized_source_is_refused_cli(tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "stale"
    model.mkdir()
    config = json.loads((tiny_model / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gguf", "gguf_file": "x.gguf", "dequantize": False}
    (model / "config.json").write_text(json.dumps(config))
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (model / name).symlink_to(tiny_model / name)
    out = tmp_path / "out"
    assert_clean_failure(quantwb("rtn", str(model), "--out", str(out)), "already quantized (gguf)", out)
