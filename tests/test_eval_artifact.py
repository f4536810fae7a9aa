"""What `quantwb eval` records about a variant, read from its own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.errors import InputError, NotACausalLMError
from quantwb.evaluate.artifact import inspect_artifact
from quantwb.formats.variant import safetensors_param_count


def test_fp32_folder_facts(tiny_model: Path) -> None:
    facts = inspect_artifact(tiny_model)
    weights = sum(p.stat().st_size for p in tiny_model.glob("*.safetensors"))
    assert (facts.format, facts.method, facts.quant_type) == ("hf", "fp", "F32")
    assert facts.size_bytes == weights
    assert facts.n_params == safetensors_param_count(tiny_model)
    assert 31.9 < facts.bits_per_weight < 32.1  # 4 bytes per weight plus a small safetensors header


def _write_packed_w4g128_safetensors(path: Path) -> None:
    """One 256 x 256 linear at 4 bits packed the GPTQ way (8 weights per int32), one fp16 scale per 128-weight group,
    written byte by byte: 8 (header length) + 248 (JSON header) + 32 x 256 x 4 (qweight) + 2 x 256 x 2 (scales) = 34,048 B."""
    header = {
        "model.layers.0.mlp.down_proj.qweight": {"dtype": "I32", "shape": [32, 256], "data_offsets": [0, 32_768]},
        "model.layers.0.mlp.down_proj.scales": {"dtype": "F16", "shape": [2, 256], "data_offsets": [32_768, 33_792]},
    }
    text = json.dumps(header).encode().ljust(248)
    assert len(text) == 248
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(33_792))


def test_quantization_config_names_the_method(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "gptq-like"
    folder.mkdir()
    config = json.loads((tiny_model / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    (folder / "config.json").write_text(json.dumps(config))
    _write_packed_w4g128_safetensors(folder / "model.safetensors")
    (folder / "tokenizer.json").symlink_to(tiny_model / "tokenizer.json")  # a checkpoint ships its tokenizer (checked)
    assert safetensors_param_count(folder) == 32 * 256 + 2 * 256  # stored (packed) elements, not logical weights
    facts = inspect_artifact(folder, base_n_params=65_536)  # the base's 256 x 256 weights
    assert (facts.method, facts.quant_type, facts.n_params) == ("gptq", "w4g128", 65_536)
    assert facts.size_bytes == 34_048
    assert facts.bits_per_weight == 4.15625  # by hand: 34,048 B x 8 = 272,384 bits over 65,536 weights


def test_paths_that_are_not_variants(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        inspect_artifact(tmp_path / "missing.gguf")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(InputError, match="not a GGUF file"):
        inspect_artifact(tmp_path / "weights.bin")
    with pytest.raises(NotACausalLMError):
        inspect_artifact(tmp_path)
