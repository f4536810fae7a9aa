"""The GGUF-only workflow on SmolLM2-135M: an F32 GGUF as the source of `gguf` and as `eval --base`, measured
against llama.cpp's own `llama-perplexity --kl-divergence` on the same base file and windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.formats.gguf_source import resolve_model
from quantwb.models import resolve
from quantwb.quantize.gguf import quantize_gguf
from quantwb.quantize.gguf_convert import convert_to_gguf
from quantwb.records import read_record
from tests import llama_perplexity as lp

pytestmark = [pytest.mark.slow]

CTX, CHUNKS, THREADS = 512, 16, 2
TYPES = ("Q8_0", "Q4_K_M", "Q2_K")


def test_gguf_only_workflow_equals_llama_perplexity(wiki_text: Path, tmp_path: Path) -> None:
    from bench.llama_tools import llama_perplexity

    base = convert_to_gguf(resolve("smollm2-135m"), "F32")  # what a model page offers: a float GGUF
    made = {a.quant_type: a.path for a in quantize_gguf(resolve_model(str(base)), list(TYPES), tmp_path)}
    config = EvalConfig(base=str(base), text=str(wiki_text), ctx=CTX, chunks=CHUNKS, threads=THREADS,
                        out_dir=tmp_path / "records", gen_tokens=0)
    records = {name: read_record(path) for name, path in zip(TYPES, evaluate_variants([made[t] for t in TYPES], config),
                                                             strict=True)}
    binary, base_logits = llama_perplexity(), tmp_path / "base.kld"
    lp.run(binary, CTX, CHUNKS, THREADS, "-m", str(base), "-f", str(wiki_text), "--kl-divergence-base", str(base_logits))
    for name in TYPES:
        out = lp.run(binary, CTX, CHUNKS, THREADS, "-m", str(made[name]), "--kl-divergence-base", str(base_logits),
                     "--kl-divergence")
        differences = lp.assert_same_statistics(records[name], out, kld_abs=1e-4)
        print(name, f"KLD {records[name].kld.kld.mean:.6f}", {key: f"{value:.2g}" for key, value in differences.items()})
    assert records["Q8_0"].kld.kld.mean < records["Q4_K_M"].kld.kld.mean < records["Q2_K"].kld.kld.mean
