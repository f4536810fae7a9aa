"""Loading a checkpoint for measuring: a 16-bit checkpoint measured in float32 gives the same model as
transformers' direct float32 load (it is read tensor by tensor and widened, to keep the peak memory down)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from quantwb.evaluate.hf_variant_load import load_causal_lm, stored_half_dtype


@pytest.fixture(scope="module")
def bf16_model(tiny_model: Path, module_dir) -> Path:
    from transformers import AutoModelForCausalLM

    folder = module_dir("bf16") / "model"
    AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.bfloat16).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, folder / name)
    return folder


def test_the_stored_dtype_is_read_from_the_safetensors_headers(bf16_model: Path, tiny_model: Path) -> None:
    assert stored_half_dtype(bf16_model) == "bfloat16"
    assert stored_half_dtype(tiny_model) is None  # float32 weights: loaded as they are


def test_a_bf16_checkpoint_measured_in_fp32_is_transformers_fp32_model(bf16_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    ours = load_causal_lm(bf16_model)
    direct = AutoModelForCausalLM.from_pretrained(bf16_model, dtype=torch.float32).eval()
    assert {p.dtype for p in ours.parameters()} == {torch.float32} and str(ours.dtype) == "torch.float32"
    for (name, mine), (_, theirs) in zip(ours.state_dict().items(), direct.state_dict().items(), strict=True):
        assert torch.equal(mine, theirs), name
    ids = torch.arange(1, 65).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(ours(ids).logits, direct(ids).logits)
