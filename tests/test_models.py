"""Model resolution: local folders, the built-in alias, and the one-line errors for bad MODELs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb import models
from quantwb.errors import ModelNotFoundError, NotACausalLMError, OfflineError


def test_local_folder_resolves_with_architecture_and_stable_hash(tiny_model: Path) -> None:
    first = models.resolve(str(tiny_model))
    second = models.resolve(str(tiny_model))
    assert first.architecture == "LlamaForCausalLM"
    assert first.path == tiny_model.resolve()
    assert len(first.sha256) == 64 and first.sha256 == second.sha256


def test_hash_changes_when_weights_change(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    original = models.model_sha256(copy)
    config = json.loads((copy / "config.json").read_text())
    config["rms_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(config))
    assert models.model_sha256(copy) != original


def test_missing_path_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        models.resolve(str(tmp_path / "nope"))


def test_folder_without_config_is_not_a_causal_lm(tmp_path: Path) -> None:
    with pytest.raises(NotACausalLMError, match="no config.json"):
        models.resolve(str(tmp_path))


def test_encoder_model_is_not_a_causal_lm(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}))
    with pytest.raises(NotACausalLMError, match="BertForMaskedLM"):
        models.resolve(str(tmp_path))


def test_hub_id_offline_says_so() -> None:
    with pytest.raises(OfflineError, match="hub is not reachable"):
        models.resolve("someone/some-model-that-is-not-cached")
