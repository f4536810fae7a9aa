"""--kld-topk: the base stored as its top K tokens and draws from the tail; error against the full KLD; flat memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from quantwb.evaluate import base_cache, kld
from quantwb.evaluate.passes import VariantPassJob, run_variant_pass
from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.evaluate.runners import RunnerOptions
from quantwb.records import read_record

VOCAB = 2000


def _logits(seed: int, n: int) -> np.ndarray:
    # a peaked, Zipf-like distribution as language models give, plus noise
    rng = np.random.default_rng(seed)
    ranks = np.argsort(rng.standard_normal((n, VOCAB)), axis=1)
    return (-1.2 * np.log1p(ranks) + rng.standard_normal((n, VOCAB)) * 0.3).astype(np.float32)


def _stats(base_logits: np.ndarray, logits: np.ndarray, k: int | None, seed: int = 0) -> np.ndarray:
    targets = np.zeros(len(logits), dtype=np.int64)
    base_parts = kld.logit_parts(base_logits, targets)
    offsets = np.random.default_rng(seed).random(len(logits))
    rows = kld.base_rows(base_parts, np.float32) if k is None else kld.base_rows_topk(base_parts, k, offsets, np.float32)
    return kld.position_stats(rows, kld.logit_parts(logits, targets)).kld


def _pair(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    base = _logits(seed, n)
    return base, base + np.random.default_rng(seed + 1).standard_normal((n, VOCAB)).astype(np.float32) * 0.2


def test_topk_of_the_base_against_itself_is_exactly_zero() -> None:
    logits = _logits(0, 64)
    assert np.all(_stats(logits, logits, 32) == 0.0)


def test_topk_is_unbiased_and_its_noise_shrinks_with_k() -> None:
    base, variant = _pair(1, 128)
    full = _stats(base, variant, None)
    # over many placements of the draws the estimate's mean is the full KLD, position by position
    runs = np.stack([_stats(base, variant, 8, seed) for seed in range(200)])
    spread = runs.std(axis=0) / np.sqrt(len(runs))
    assert np.all(np.abs(runs.mean(axis=0) - full) < 5 * spread + 1e-9)
    assert abs(runs.mean() - full.mean()) / full.mean() < 0.005
    rms = [float(np.sqrt(np.mean((_stats(base, variant, k) - full) ** 2))) for k in (8, 64, 512, VOCAB - 1)]
    assert rms == sorted(rms, reverse=True) and rms[0] > 0  # more of the distribution kept exactly, less noise
    assert rms[-1] < 1e-5 * full.mean()  # one tail token left, drawn every time: the full KLD up to rounding


def test_tail_draws_are_systematic() -> None:
    """Each tail token is drawn floor or ceil of S·p/mass times (evenly spaced points through the cumulative mass)."""
    rng = np.random.default_rng(4)
    tail_p = rng.dirichlet(np.full(50, 0.3), size=40).astype(np.float32) * 0.3
    tail_p[:, :5] = 0.0  # tokens kept in the top K, or below the cut
    tail_p[7] = 0.0  # a row without tail mass
    ids, mass = kld._tail_draws(tail_p, rng.random(40))
    assert ids.shape == (40, kld.TAIL_DRAWS) and np.allclose(mass, tail_p.sum(axis=1, dtype=np.float64))
    for row in range(40):
        if row == 7:
            assert mass[row] == 0.0
            continue
        counts = np.bincount(ids[row], minlength=50)
        expected = kld.TAIL_DRAWS * tail_p[row] / mass[row]
        assert np.all(counts >= np.floor(expected - 1e-6)) and np.all(counts <= np.ceil(expected + 1e-6))
        assert np.all(counts[tail_p[row] == 0] == 0)


@pytest.fixture(scope="module")
def tiny_q2k(tiny_model: Path, module_dir) -> Path:
    from quantwb.models import resolve
    from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf

    out = module_dir("topk-gguf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(module_dir("topk-home")))
        (artifact,) = quantize_gguf(resolve(str(tiny_model)), ["Q2_K"], out, imatrix=ImatrixChoice("none"))
    return artifact.path


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of this test's own: its base caches are found by their window count, which other tests share."""
    home = tmp_path / "home"
    monkeypatch.setenv("QUANTWB_HOME", str(home))
    return home


def test_topk_record_states_its_error_and_the_cache_shrinks(tiny_model: Path, tiny_q2k: Path, story_text: Path,
                                                            tmp_path: Path, own_home: Path) -> None:
    def measure(topk: int | None):
        config = EvalConfig(base=str(tiny_model), text=str(story_text), ctx=64, chunks=12, out_dir=tmp_path / str(topk),
                            gen_tokens=0, kld_topk=topk, device="cpu")
        (path,) = evaluate_variants([tiny_q2k], config)
        return read_record(path)

    full, top, wide = measure(None), measure(256), measure(8192)
    assert full.kld.topk is None
    # a record whose tail was estimated otherwise (another draw count; none before the draws) is measured again
    path = tmp_path / "256" / "model-Q2_K.text.json"
    payload = json.loads(path.read_text())
    payload["kld"]["topk"]["tail_draws"] = kld.TAIL_DRAWS // 2
    path.write_text(json.dumps(payload))
    assert measure(256).kld.topk.tail_draws == kld.TAIL_DRAWS
    errors = {}
    for record in (top, wide):
        check = record.kld.topk
        assert check is not None and check.positions == min(base_cache.CHECK_POSITIONS, record.text.n_scored)
        assert check.relative_error == pytest.approx((check.kld_mean_topk - check.kld_mean_full) / check.kld_mean_full)
        assert check.tail_draws == kld.TAIL_DRAWS
        # the stated error (on the check positions) is the error of the whole run, to within the sample's spread
        errors[check.k] = (record.kld.kld.mean - full.kld.kld.mean) / full.kld.kld.mean
        assert errors[check.k] == pytest.approx(check.relative_error, abs=0.05)
        assert record.kld.same_top_p == full.kld.same_top_p  # argmaxes and NLLs do not depend on how p is stored
        assert record.perplexity.ppl == full.perplexity.ppl
    assert abs(errors[8192]) < abs(errors[256])  # the tiny model's flat distributions need a wide K; real ones less
    caches = {base_cache.read_meta(f)["topk"]: f for f in base_cache.quantwb_home().glob("base-logprobs/*")
              if base_cache.read_meta(f)["n_chunks"] == 12}
    stored = {k: sum((f / name).stat().st_size for name in ("p.npy", "idx.npy", "draws.npy", "check_p.npy") if (f / name).exists())
              for k, f in caches.items()}
    plan = base_cache.plan_from_meta(base_cache.read_meta(caches[None]))
    for k in (None, 256):  # the size the limit check predicts is what lands on disk (besides the .npy headers)
        assert 0 <= stored[k] - base_cache.cache_size_bytes(plan, 49152, "float16", k) <= 4 * 128  # four .npy headers
    assert stored[256] < stored[None]


def test_variant_pass_memory_is_flat_in_the_number_of_windows(tiny_model: Path, tiny_q2k: Path, story_text: Path,
                                                               tmp_path: Path, own_home: Path) -> None:
    """numpy's allocations (tracemalloc sees them) peak the same for 4 and 16 windows: the base is read window by window."""
    peaks = {}
    for chunks in (4, 16):
        config = EvalConfig(base=str(tiny_model), text=str(story_text), ctx=64, chunks=chunks, out_dir=tmp_path / str(chunks),
                            gen_tokens=0, device="cpu")
        evaluate_variants([tiny_q2k], config)  # computes the base cache
        (cache,) = [p for p in base_cache.quantwb_home().glob("base-logprobs/*") if base_cache.read_meta(p)["n_chunks"] == chunks]
        # two windows a decode: 4 and 16 windows are 2 and 8 decodes, so only the text's length differs
        job = VariantPassJob("q2k", "gguf", tiny_q2k, cache, RunnerOptions(ctx=64, threads=1, batch_windows=2), gen_tokens=0)
        tracemalloc.start()
        run_variant_pass(job)
        peaks[chunks] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[16] < 1.10 * peaks[4], peaks
