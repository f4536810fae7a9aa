"""`quantwb eval` on the tiny model: one record per variant, exact self-check, GGUF agrees with HF, caches reused."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.evaluate.runtime_speed import SpeedTest
from quantwb.quantize.llama_quantize import llama_load_report
from quantwb.records import read_record

CTX, CHUNKS = 64, 12
SPEED_TEST = SpeedTest(pp_tokens=64, tg_tokens=16, reps=2)  # the tiny model's, in seconds


@pytest.fixture(scope="session")
def eval_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """QUANTWB_HOME of the session fixtures below (they run before the per-test autouse home is set)."""
    return tmp_path_factory.mktemp("eval-home")


@pytest.fixture(scope="session")
def tiny_ggufs(tiny_model: Path, eval_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from quantwb.models import resolve
    from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf

    out = tmp_path_factory.mktemp("tiny-ggufs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(eval_home))
        artifacts = quantize_gguf(resolve(str(tiny_model)), ["F16", "Q8_0", "Q4_K_M", "Q2_K"], out, imatrix=ImatrixChoice("none"))
    return {a.path.stem.rsplit("-", 1)[-1]: a.path for a in artifacts}


@pytest.fixture(scope="session")
def tiny_records(tiny_model: Path, tiny_ggufs: dict[str, Path], story_text: Path, eval_home: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("records")
    config = EvalConfig(base=str(tiny_model), text=str(story_text), ctx=CTX, chunks=CHUNKS, out_dir=out, gen_tokens=8,
                        runtime_speed=SPEED_TEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(eval_home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        paths = evaluate_variants([tiny_model, *tiny_ggufs.values()], config)
    names = ["base", *tiny_ggufs]
    return {name: read_record(path) for name, path in zip(names, paths, strict=True)}


def _hf_reference_nll(model_dir: Path, text_file: Path) -> float:
    """Mean NLL of the scored positions, straight from transformers' own loss (no quantwb code)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # special-token strings in the text stay plain text, as llama.cpp tokenizes for perplexity
    ids = AutoTokenizer.from_pretrained(model_dir)(text_file.read_text(), split_special_tokens=True)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    first = CTX // 2
    losses = []
    with torch.no_grad():
        for chunk in range(CHUNKS):
            window = torch.tensor([ids[chunk * CTX : (chunk + 1) * CTX]])
            labels = window.clone()
            labels[:, : first + 1] = -100  # score tokens first+1 .. ctx-1, predicted from positions first .. ctx-2
            losses.append(model(input_ids=window, labels=labels).loss.item())
    return float(np.mean(losses))


def test_base_against_itself_is_exactly_zero(tiny_records) -> None:
    base = tiny_records["base"]
    assert base.evaluation == "text" and base.variant.format == "hf" and base.variant.quant_type == "F32"
    assert base.kld.kld.mean == 0.0 and base.kld.kld.max == 0.0
    assert base.kld.same_top_p == 1.0 and base.kld.ppl_ratio == 1.0
    assert base.text.n_chunks == CHUNKS and base.text.n_scored == CHUNKS * (CTX - 1 - CTX // 2)


def test_perplexity_matches_transformers_loss(tiny_records, tiny_model: Path, story_text: Path) -> None:
    expected = math.exp(_hf_reference_nll(tiny_model, story_text))
    assert tiny_records["base"].perplexity.ppl == pytest.approx(expected, rel=1e-4)


def test_gguf_f16_agrees_with_hf_and_quant_order(tiny_records) -> None:
    base, f16 = tiny_records["base"], tiny_records["F16"]
    assert f16.perplexity.ppl == pytest.approx(base.perplexity.ppl, rel=0.005)
    assert f16.kld.kld.mean < 1e-3
    klds = [tiny_records[name].kld.kld.mean for name in ("F16", "Q8_0", "Q4_K_M", "Q2_K")]
    assert klds == sorted(klds) and klds[0] < klds[-1]
    assert all(0.9 < tiny_records[name].kld.same_top_p <= 1.0 for name in ("Q8_0", "Q4_K_M", "Q2_K"))


def test_records_carry_measured_costs(tiny_records, tiny_ggufs: dict[str, Path]) -> None:
    q8 = tiny_records["Q8_0"]
    assert q8.variant.format == "gguf" and q8.variant.quant_type == "Q8_0"
    assert q8.variant.size_bytes == tiny_ggufs["Q8_0"].stat().st_size
    assert 8.4 < q8.variant.bits_per_weight < 8.6  # Q8_0 blocks: 34 bytes per 32 weights
    assert 15.9 < tiny_records["F16"].variant.bits_per_weight < 16.1
    for name in ("Q8_0", "F16"):  # an independent count: llama.cpp's own loader ("file size = ... (X.XX BPW)")
        loader_bpw = llama_load_report(tiny_ggufs[name]).bits_per_weight
        assert tiny_records[name].variant.bits_per_weight == pytest.approx(loader_bpw, abs=0.005), name
    for record in tiny_records.values():
        res = record.resources
        assert 0 < res.peak_rss_load_bytes <= res.peak_rss_eval_bytes < 8 * 2**30
        assert res.prompt_tokens_per_s > 0 and res.gen_tokens_per_s > 0
    # an HF folder loads torch and float32 weights: more resident memory than a GGUF process
    assert tiny_records["base"].resources.peak_rss_load_bytes > q8.resources.peak_rss_load_bytes


def test_base_cache_is_computed_once_and_reused(tiny_records, tiny_model: Path, tiny_ggufs, story_text: Path, tmp_path: Path,
                                                eval_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quantwb.home import quantwb_home

    monkeypatch.setenv("QUANTWB_HOME", str(eval_home))
    caches = list((quantwb_home() / "base-logprobs").iterdir())
    stamps = {p: p.stat().st_mtime_ns for c in caches for p in c.iterdir()}
    config = EvalConfig(base=str(tiny_model), text=str(story_text), ctx=CTX, chunks=CHUNKS, out_dir=tmp_path, gen_tokens=0)
    [path] = evaluate_variants([tiny_ggufs["Q8_0"]], config)
    assert list((quantwb_home() / "base-logprobs").iterdir()) == caches
    assert {p: p.stat().st_mtime_ns for c in caches for p in c.iterdir()} == stamps
    again = read_record(path)
    assert again.kld.kld.mean == tiny_records["Q8_0"].kld.kld.mean  # deterministic, same tokens, same base


def test_records_carry_the_runtimes_memory_and_the_kv_shape(tiny_records) -> None:
    from quantwb.formats.kv_geometry import KVGeometry

    for name, record in tiny_records.items():
        shape = record.variant.kv_geometry
        assert (shape.n_layers, shape.n_kv_heads, shape.key_dim, shape.value_dim) == (2, 2, 64, 64), name
        runtime = record.runtime
        assert [m.ctx for m in runtime.runtime_rss_bytes] == [CTX], name
        at_ctx = runtime.runtime_rss_bytes[0]
        # a bare runtime holds less than quantwb's evaluator (no base rows, no window of full logits)
        assert 0 < at_ctx.rss_bytes < record.resources.peak_rss_eval_bytes, name
    q4 = tiny_records["Q4_K_M"].runtime
    assert q4.engine == "llama.cpp" and q4.kv_type == "f16" and q4.dtype is None
    buffers = q4.runtime_rss_bytes[0].buffers
    # llama.cpp's own account of its KV cache (logged to 0.01 MiB) is the shape's arithmetic, at the context
    # llama.cpp pads to a multiple of 256 cells
    cells = -(-CTX // 256) * 256
    assert buffers["kv_cache"] == pytest.approx(KVGeometry(2, 2, 64, 64).cache_bytes(cells, "f16"), abs=0.006 * 2**20)
    assert buffers["model"] > 0 and buffers["compute"] > 0
    base = tiny_records["base"].runtime
    assert base.engine == "transformers" and base.dtype == "float32" and base.kv_type == "f32"
    assert base.runtime_rss_bytes[0].prompt_tokens == CTX - base.runtime_rss_bytes[0].gen_tokens


def test_records_carry_the_runtimes_speed_beside_the_evaluators(tiny_records) -> None:
    for name, record in tiny_records.items():
        speed = record.runtime.speed
        assert speed.method == ("generate" if name == "base" else "llama-bench"), name
        assert (speed.pp_tokens, speed.tg_tokens, speed.reps) == (64, 16, 2), name
        assert 0 < speed.tg_tokens_per_s < speed.pp_tokens_per_s < math.inf, name
        assert record.resources.gen_tokens_per_s > 0  # the evaluator's own throughput stays where it was
