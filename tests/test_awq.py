"""AWQ on the tiny model, for real: asymmetric 4-bit groups that plain transformers loads; refusals are clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.errors import InputError, UnsupportedError
from quantwb.models import resolve
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.methods import get_quantizer
from tests.quantize_hf_checks import FAST_CALIBRATION, generates, mean_kld_nats


@pytest.fixture(scope="module")
def awq_variant(tiny_model: Path, module_dir):
    spec = QuantSpec(method="awq", bits=4, group_size=128, calibration=FAST_CALIBRATION)
    return get_quantizer("awq").run(resolve(str(tiny_model)), spec, module_dir("awq"))


def test_awq_checkpoint_is_asymmetric_4bit(awq_variant) -> None:
    weights = json.loads((awq_variant.path / "config.json").read_text())["quantization_config"]["config_groups"]["group_0"]["weights"]
    assert (weights["num_bits"], weights["group_size"], weights["symmetric"]) == (4, 128, False)
    assert awq_variant.manifest["method"] == "awq" and awq_variant.manifest["symmetric"] is False


def test_awq_loads_generates_and_stays_close(awq_variant, tiny_model: Path) -> None:
    assert generates(awq_variant.path)
    kld = mean_kld_nats(tiny_model, awq_variant.path)
    print("tiny AWQ w4g128 KLD nats:", kld)
    assert 1e-5 < kld < 0.002, kld


def test_classic_awq_format_through_gptqmodel(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # GPTQModel writes ./logs unless quantwb redirects it
    spec = QuantSpec(method="awq", bits=4, group_size=128, calibration=FAST_CALIBRATION, options=(("format", "awq"),))
    variant = get_quantizer("awq").run(resolve(str(tiny_model)), spec, tmp_path)
    quant = json.loads((variant.path / "config.json").read_text())["quantization_config"]
    assert (quant["quant_method"], quant["bits"], quant["group_size"], quant["zero_point"]) == ("awq", 4, 128, True)
    assert generates(variant.path)
    kld = mean_kld_nats(tiny_model, variant.path)
    print("tiny AWQ (awq format) KLD nats:", kld)
    assert 1e-5 < kld < 0.002, kld
    assert list(cwd.iterdir()) == []


def test_awq_pin_memory_patch_is_scoped() -> None:
    """On a real llm-compressor cache: inside the guard pinning is skipped where torch cannot pin (no accelerator)
    and left alone where it can; outside and afterwards IntermediatesCache.pin_memory is the original method."""
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    from quantwb.quantize.awq import cpu_pin_memory_guard

    def cache_of_one_tensor() -> IntermediatesCache:
        cache = IntermediatesCache.empty(1, torch.device("cpu"))
        cache.update(0, {"hidden_states": torch.ones(4, 8)})
        return cache

    original = IntermediatesCache.pin_memory
    accelerator = torch.cuda.is_available()
    if not accelerator:
        with pytest.raises(RuntimeError):  # why the guard exists: a CPU-only torch refuses to pin
            cache_of_one_tensor().pin_memory(0)
    inside = cache_of_one_tensor()
    stored = inside.batch_intermediates[0]["hidden_states"].value
    with cpu_pin_memory_guard():
        assert (IntermediatesCache.pin_memory is original) == accelerator
        inside.pin_memory(0)  # raises on a CPU-only torch unless the patch is in place
    held = inside.batch_intermediates[0]["hidden_states"].value
    if accelerator:
        assert held.is_pinned()  # the guard changes nothing where pinning speeds host-to-GPU copies
    else:
        assert held is stored and not held.is_pinned()  # a no-op: the stored tensor is untouched
    assert IntermediatesCache.pin_memory is original
    if not accelerator:
        with pytest.raises(RuntimeError):  # the original method again, so torch refuses again
            cache_of_one_tensor().pin_memory(0)


def test_awq_rejects_other_bits(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--bits 3 is not supported \(choose 4\)"):
        get_quantizer("awq").run(resolve(str(tiny_model)), QuantSpec(method="awq", bits=3), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_awq_refuses_architecture_without_mappings(tmp_path: Path) -> None:
    """A GPT-2 (Conv1D attention, no *_proj layers) has no llm-compressor AWQ mappings: refuse, write nothing."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from tests.tiny_model import smollm2_tokenizer

    tokenizer = smollm2_tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=1, n_head=2, n_positions=256)
    model_dir = tmp_path / "gpt2"
    GPT2LMHeadModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "out"
    spec = QuantSpec(method="awq", bits=4, group_size=64, calibration=FAST_CALIBRATION)
    with pytest.raises(UnsupportedError, match="no AWQ layer mappings for GPT2LMHeadModel"):
        get_quantizer("awq").run(resolve(str(model_dir)), spec, out)
    assert not out.exists() or list(out.iterdir()) == []
