"""Checks shared by the AWQ/GPTQ/RTN tests: load like a user would, generate, and measure KLD to the base."""

from __future__ import annotations

from pathlib import Path

import torch

from quantwb.calibration import CalibrationSpec
from quantwb.texts import load_text

# Small enough for seconds on the tiny model, enough windows to exercise calibration.
FAST_CALIBRATION = CalibrationSpec(text="wiki", samples=8, seq_len=64, seed=0)


def load_plain(path: Path):
    """What a user does: transformers' AutoModelForCausalLM on CPU, nothing from quantwb."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def fixed_tokens(tokenizer, n_tokens: int = 256) -> torch.Tensor:
    """The first `n_tokens` of the shipped c4 excerpt (not the wiki calibration text)."""
    ids = tokenizer(load_text("c4").text[:20_000], return_tensors="pt").input_ids[:, :n_tokens]
    assert ids.shape[1] == n_tokens
    return ids


def mean_kld_nats(base_dir: Path, variant_dir: Path, n_tokens: int = 256) -> float:
    """Mean over positions of KL(base || variant) of the next-token distributions, in nats."""
    from transformers import AutoTokenizer

    ids = fixed_tokens(AutoTokenizer.from_pretrained(base_dir), n_tokens)
    with torch.no_grad():
        log_p = torch.log_softmax(load_plain(base_dir)(ids).logits.float(), dim=-1)
        log_q = torch.log_softmax(load_plain(variant_dir)(ids).logits.float(), dim=-1)
    return float((log_p.exp() * (log_p - log_q)).sum(-1).mean())


def generates(variant_dir: Path, new_tokens: int = 8) -> str:
    """Greedy continuation of a prompt; asserts it produced `new_tokens` new tokens."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(variant_dir)
    ids = tokenizer("Once upon a time", return_tensors="pt").input_ids
    with torch.no_grad():
        out = load_plain(variant_dir).generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    assert out.shape[1] == ids.shape[1] + new_tokens
    return tokenizer.decode(out[0, ids.shape[1]:])


def layer_output_error(base_dir: Path, variant_dir: Path, layer: str = "model.layers.0.self_attn.q_proj") -> float:
    """‖y_variant − y_base‖ / ‖y_base‖ of one linear layer, as each checkpoint's loader runs it, on fixed random inputs.

    Direct evidence that the layer's weights were quantized: 4-bit groups of 128 move outputs by several
    percent, whatever the rest of the model does with them."""
    base, whole = load_plain(base_dir).get_submodule(layer), load_plain(variant_dir)
    with torch.no_grad():  # compressed-tensors int8/fp8 weights are decompressed by the model's first forward
        whole(torch.tensor([[whole.config.bos_token_id or 0]]))
    variant = whole.get_submodule(layer)
    inputs = torch.randn(64, base.in_features, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = base(inputs), variant(inputs)
    return float((got.float() - expected).norm() / expected.norm())
