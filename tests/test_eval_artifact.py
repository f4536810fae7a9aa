"""What `quantwb eval` records about a variant, read from its own files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from quantwb.evaluate.artifact import inspect_artifact
from quantwb.formats.variant import safetensors_param_count
from quantwb.errors import InputError, NotACausalLMError


def test_fp32_folder_facts(tiny_model: Path) -> None:
    facts = inspect_artifact(tiny_model)
    weights = sum(p.stat().st_size for p in tiny_model.glob("*.safetensors"))
    assert (facts.format, facts.method, facts.quant_type) == ("hf", "fp", "F32")
    assert facts.size_bytes == weights
    assert facts.n_params == safetensors_param_count(tiny_model)
    assert 31.9 < facts.bits_per_weight < 32.1  # 4 bytes per weight plus a small safetensors header


def test_quantization_config_names_the_method(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "gptq-like"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    (folder / "config.json").write_text(json.dumps(config))
    facts = inspect_artifact(folder, base_n_params=1_000_000)
    assert (facts.method, facts.quant_type, facts.n_params) == ("gptq", "w4g128", 1_000_000)
    assert facts.bits_per_weight == pytest.approx(8 * facts.size_bytes / 1_000_000)


def test_paths_that_are_not_variants(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        inspect_artifact(tmp_path / "missing.gguf")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(InputError, match="not a GGUF file"):
        inspect_artifact(tmp_path / "weights.bin")
    with pytest.raises(NotACausalLMError):
        inspect_artifact(tmp_path)
