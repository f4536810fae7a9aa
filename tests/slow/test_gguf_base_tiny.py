"""`quantwb eval --base model.gguf` on the tiny model equals llama.cpp's `llama-perplexity --kl-divergence` with the
same GGUF as its base: llama.cpp tokenizes and scores the base in both, so the windows and numbers are the same.

Slow only because the llama-perplexity binary is built from the llama-cpp-python sdist on first use (minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.models import resolve
from quantwb.quantize.gguf import quantize_gguf
from quantwb.records import read_record
from tests import llama_perplexity as lp

pytestmark = [pytest.mark.slow, pytest.mark.ci]

CTX, CHUNKS, THREADS = 128, 16, 2


def test_eval_with_a_gguf_base_equals_llama_perplexity(tiny_model: Path, story_text: Path, tmp_path: Path) -> None:
    from bench.llama_tools import llama_perplexity

    made = {a.quant_type: a.path for a in quantize_gguf(resolve(str(tiny_model)), ["F32", "Q4_K_M", "Q2_K"], tmp_path)}
    config = EvalConfig(base=str(made["F32"]), text=str(story_text), ctx=CTX, chunks=CHUNKS, threads=THREADS,
                        out_dir=tmp_path / "records", gen_tokens=0)
    paths = evaluate_variants([made["F32"], made["Q4_K_M"], made["Q2_K"], tiny_model], config)
    records = {name: read_record(path) for name, path in zip(["F32", "Q4_K_M", "Q2_K", "hf"], paths, strict=True)}
    assert records["F32"].kld.kld.mean == 0.0 and records["F32"].kld.same_top_p == 1.0  # the base against itself
    assert records["hf"].kld.kld.mean < 1e-5  # the HF folder against its lossless GGUF: vocabulary checked, same model
    binary, base_logits = llama_perplexity(), tmp_path / "base.kld"
    lp.run(binary, CTX, CHUNKS, THREADS, "-m", str(made["F32"]), "-f", str(story_text), "--kl-divergence-base", str(base_logits))
    for name in ("Q4_K_M", "Q2_K"):
        out = lp.run(binary, CTX, CHUNKS, THREADS, "-m", str(made[name]), "--kl-divergence-base", str(base_logits),
                     "--kl-divergence")
        differences = lp.assert_same_statistics(records[name], out, kld_abs=1e-4)
        print(name, {key: f"{value:.2g}" for key, value in differences.items()})
        assert abs(records[name].kld.kld.mean - lp.statistics(out)["kld_mean"]) <= 2e-6  # 6 printed decimals
