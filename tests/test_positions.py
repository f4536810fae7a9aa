"""Per-position data beside every text record, KLD by the base's confidence and the worst positions (tiny model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.fileio import sha256_file
from quantwb.records import read_record
from tests.test_eval import CHUNKS, CTX, eval_home, tiny_ggufs  # noqa: F401  (session fixtures shared with test_eval)


@pytest.fixture(scope="module")
def measured(tiny_model: Path, tiny_ggufs: dict[str, Path], story_text: Path, eval_home: Path,  # noqa: F811
             module_dir) -> dict[str, Path]:
    out = module_dir("position-records")
    config = EvalConfig(base=str(tiny_model), text=str(story_text), ctx=CTX, chunks=CHUNKS, out_dir=out, gen_tokens=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(eval_home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        paths = evaluate_variants([tiny_model, tiny_ggufs["Q4_K_M"], tiny_ggufs["Q2_K"]], config)
    return dict(zip(["base", "Q4_K_M", "Q2_K"], paths, strict=True))


def _arrays(record_path: Path) -> dict[str, np.ndarray]:
    record = read_record(record_path)
    with np.load(record_path.parent / record.positions.file) as data:
        return {name: data[name] for name in data.files}


def test_sidecar_matches_the_record(measured: dict[str, Path]) -> None:
    for name, path in measured.items():
        record = read_record(path)
        sidecar = record.positions
        assert sidecar is not None and sidecar.file == f"{record.variant.name}.text.npz"
        assert sha256_file(path.parent / sidecar.file) == sidecar.sha256
        arrays = _arrays(path)
        assert sorted(arrays) == ["base_top_p", "kld", "nll", "same_top"] == sidecar.arrays
        assert all(len(a) == record.text.n_scored for a in arrays.values()), name
        assert float(np.mean(arrays["kld"], dtype=np.float64)) == pytest.approx(record.kld.kld.mean, rel=1e-5, abs=1e-9)
        assert float(np.mean(arrays["nll"], dtype=np.float64)) == pytest.approx(record.perplexity.nll_mean_nats, rel=1e-6)
        assert float(np.mean(arrays["same_top"])) == pytest.approx(record.kld.same_top_p)
        assert ((arrays["base_top_p"] > 0) & (arrays["base_top_p"] <= 1)).all()
        # "a few bytes a position": 11 stored, compressed below that
        assert sidecar.size_bytes < 12 * record.text.n_scored
    base = _arrays(measured["base"])
    assert (base["kld"] == 0).all() and base["same_top"].all()
    # the base's top-1 probability is the baseline's, whichever variant's sidecar it sits in
    np.testing.assert_array_equal(base["base_top_p"], _arrays(measured["Q2_K"])["base_top_p"])


def test_confidence_buckets(measured: dict[str, Path]) -> None:
    record = read_record(measured["Q2_K"])
    buckets = record.kld_by_confidence
    assert [(b.lo, b.hi) for b in buckets] == [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)]
    assert sum(b.n_positions for b in buckets) == record.text.n_scored
    arrays = _arrays(measured["Q2_K"])
    top_p = arrays["base_top_p"].astype(np.float64)
    for bucket in buckets:
        inside = (top_p >= bucket.lo) & ((top_p < bucket.hi) | (bucket.hi == 1.0))
        assert bucket.n_positions == int(inside.sum())
        if bucket.n_positions:
            assert bucket.kld_mean == pytest.approx(float(np.mean(arrays["kld"][inside], dtype=np.float64)), rel=1e-5)
            assert bucket.same_top_p == pytest.approx(float(np.mean(arrays["same_top"][inside])))
        else:
            assert bucket.kld_mean is None and bucket.same_top_p is None
    assert sum(b.n_positions > 0 for b in buckets) >= 2  # the tiny model is confident at some positions, unsure at others
    # the weighted bucket means give back the overall mean
    total = sum(b.kld_mean * b.n_positions for b in buckets if b.n_positions)
    assert total / record.text.n_scored == pytest.approx(record.kld.kld.mean, rel=1e-5)


def test_worst_positions(measured: dict[str, Path]) -> None:
    record = read_record(measured["Q2_K"])
    worst = record.worst_positions
    arrays = _arrays(measured["Q2_K"])
    assert len(worst) == 20
    assert [w.kld for w in worst] == sorted((w.kld for w in worst), reverse=True)
    assert worst[0].kld == pytest.approx(float(arrays["kld"].max()), rel=1e-5) == pytest.approx(record.kld.kld.max)
    spw = CTX - 1 - CTX // 2
    for w in worst:
        assert w.window == w.position // spw and w.context and w.target
        assert w.kld == pytest.approx(float(arrays["kld"][w.position]), rel=1e-5)


def test_same_artifact_twice_gives_identical_numbers(measured: dict[str, Path], tiny_model: Path, tiny_ggufs: dict[str, Path],  # noqa: F811
                                                     story_text: Path, eval_home: Path, tmp_path: Path) -> None:  # noqa: F811
    """The noise floor the report states: one artifact evaluated twice (same threads, CPU) gives identical positions."""
    config = EvalConfig(base=str(tiny_model), text=str(story_text), ctx=CTX, chunks=CHUNKS, out_dir=tmp_path, gen_tokens=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(eval_home))
        again = evaluate_variants([tiny_ggufs["Q4_K_M"]], config)[0]
    first, second = read_record(measured["Q4_K_M"]), read_record(again)
    assert first.positions.sha256 == second.positions.sha256
    assert first.kld == second.kld and first.perplexity == second.perplexity
