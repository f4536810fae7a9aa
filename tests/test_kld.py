"""KLD, Δp, same-top and PPL-ratio statistics against a direct float64 transcription of llama.cpp's sums."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantwb.evaluate import kld
from quantwb.evaluate.perplexity import mean_and_uncertainty, perplexity

VOCAB = 1000


def _logits(seed: int, n: int, scale: float = 4.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, VOCAB)) * scale).astype(np.float32)


def _reference(base_logits: np.ndarray, logits: np.ndarray, targets: np.ndarray) -> dict:
    """llama.cpp kl_divergence(): running sums over positions, computed in float64 position by position."""
    sums = dict.fromkeys(["nll", "nll2", "nll_base", "nll_base2", "nll_nll_base", "kld", "kld2", "p_diff", "p_diff2", "p_diff4"], 0.0)
    kld_values, same_top = [], 0
    for row_base, row, tok in zip(base_logits.astype(np.float64), logits.astype(np.float64), targets, strict=True):
        log_p = row_base - row_base.max() - math.log(np.exp(row_base - row_base.max()).sum())
        log_q = row - row.max() - math.log(np.exp(row - row.max()).sum())
        nll, nll_base = -log_q[tok], -log_p[tok]
        mask = log_p > -16
        value = float(np.sum(np.exp(log_p[mask]) * (log_p[mask] - log_q[mask])))
        p_diff = math.exp(-nll) - math.exp(-nll_base)
        for key, add in (("nll", nll), ("nll2", nll * nll), ("nll_base", nll_base), ("nll_base2", nll_base ** 2),
                         ("nll_nll_base", nll * nll_base), ("kld", value), ("kld2", value * value), ("p_diff", p_diff),
                         ("p_diff2", p_diff ** 2), ("p_diff4", p_diff ** 4)):
            sums[key] += add
        kld_values.append(value)
        same_top += int(np.argmax(row) == np.argmax(row_base))
    return {**sums, "count": len(targets), "kld_values": np.array(kld_values), "same_top": same_top}


def _mean_unc(total: float, total2: float, count: int) -> tuple[float, float]:
    mean = total / count
    var = total2 / count - mean * mean
    return mean, math.sqrt(var / (count - 1)) if var > 0 and count > 10 else 0.0


def _stats(base_logits: np.ndarray, logits: np.ndarray, targets: np.ndarray, dtype=np.float32) -> kld.PositionStats:
    base = kld.base_rows(kld.logit_parts(base_logits, targets), dtype)
    return kld.position_stats(base, kld.logit_parts(logits, targets))


def test_base_against_itself_is_exactly_zero() -> None:
    base_logits, targets = _logits(0, 300), np.random.default_rng(1).integers(0, VOCAB, 300)
    summary = kld.summarize(_stats(base_logits, base_logits.copy(), targets, np.float16))
    assert summary.kld.mean == 0.0 and summary.kld.max == 0.0 and summary.kld.min == 0.0
    assert summary.same_top_p == 1.0 and summary.same_top_p_unc == 0.0
    assert summary.ppl_ratio == 1.0 and summary.delta_p.rms == 0.0


def test_the_stored_mass_is_the_sum_of_the_stored_float16_rows() -> None:
    base_logits, targets = _logits(2, 50), np.random.default_rng(3).integers(0, VOCAB, 50)
    base = kld.base_rows(kld.logit_parts(base_logits, targets), np.float16)
    assert base.p.dtype == np.float16
    assert np.array_equal(base.p_sum, base.p.astype(np.float64).sum(axis=1))


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-6), (np.float16, 2e-3)])
def test_matches_llama_cpp_sums(dtype, tolerance: float) -> None:
    n = 400
    base_logits = _logits(2, n)
    logits = base_logits + _logits(3, n, scale=0.5)
    targets = np.random.default_rng(4).integers(0, VOCAB, n)
    ref = _reference(base_logits, logits, targets)
    summary = kld.summarize(_stats(base_logits, logits, targets, dtype))
    kld_mean, kld_unc = _mean_unc(ref["kld"], ref["kld2"], n)
    assert summary.kld.mean == pytest.approx(kld_mean, rel=tolerance)
    assert summary.kld.mean_unc == pytest.approx(kld_unc, rel=max(tolerance, 1e-5))
    assert summary.kld.max == pytest.approx(ref["kld_values"].max(), rel=tolerance)
    # llama.cpp's percentile: linear interpolation at fraction * (n - 1) of the sorted values
    ordered = np.sort(ref["kld_values"])
    position = 0.99 * (n - 1)
    low = int(position)
    expected_p99 = ordered[low] + (position - low) * (ordered[low + 1] - ordered[low])
    assert summary.kld.percentiles["99"] == pytest.approx(expected_p99, rel=tolerance)
    assert summary.same_top_p == ref["same_top"] / n
    p = ref["same_top"] / n
    assert summary.same_top_p_unc == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))
    dp_mean, dp_unc = _mean_unc(ref["p_diff"], ref["p_diff2"], n)
    assert summary.delta_p.mean == pytest.approx(dp_mean, rel=1e-5)
    assert summary.delta_p.mean_unc == pytest.approx(dp_unc, rel=1e-5)
    mse, mse_unc = _mean_unc(ref["p_diff2"], ref["p_diff4"], n)
    assert summary.delta_p.rms == pytest.approx(math.sqrt(mse), rel=1e-5)
    assert summary.delta_p.rms_unc == pytest.approx(0.5 / math.sqrt(mse) * mse_unc, rel=1e-5)
    # ln(PPL(Q)/PPL(base)) ± sqrt(u_q² + u_b² − 2 cov)
    mean_q, unc_q = _mean_unc(ref["nll"], ref["nll2"], n)
    mean_b, unc_b = _mean_unc(ref["nll_base"], ref["nll_base2"], n)
    cov = (ref["nll_nll_base"] / n - mean_q * mean_b) / (n - 1)
    assert summary.ln_ppl_ratio == pytest.approx(mean_q - mean_b, rel=1e-6)
    assert summary.ln_ppl_ratio_unc == pytest.approx(math.sqrt(unc_q ** 2 + unc_b ** 2 - 2 * cov), rel=1e-5)
    assert summary.ppl_ratio_unc == pytest.approx(math.exp(mean_q - mean_b) * summary.ln_ppl_ratio_unc, rel=1e-6)


def test_kld_of_known_distributions() -> None:
    """Two fixed distributions over 3 tokens: KL = Σ p log(p/q) by hand."""
    p, q = np.array([0.7, 0.2, 0.1]), np.array([0.5, 0.3, 0.2])
    expected = float(np.sum(p * np.log(p / q)))
    rows = 20
    base_logits = np.tile(np.log(p), (rows, 1)).astype(np.float32)
    logits = np.tile(np.log(q), (rows, 1)).astype(np.float32) + 3.0  # logits are shift-invariant
    stats = _stats(base_logits, logits, np.zeros(rows, dtype=np.int64))
    assert stats.kld == pytest.approx(np.full(rows, expected), rel=1e-5)
    assert stats.p_diff == pytest.approx(np.full(rows, 0.5 - 0.7), rel=1e-5)
    assert stats.same_top.all()


def test_tokens_below_the_cut_are_ignored() -> None:
    """llama.cpp sums only over base tokens with log p > -16, however the variant treats them."""
    base_logits = np.array([[0.0, 0.0, -40.0]], dtype=np.float32)
    variant = np.array([[0.0, 0.0, 5.0]], dtype=np.float32)
    value = _stats(base_logits, variant, np.array([0])).kld[0]
    log_q = variant[0] - np.log(np.exp(variant[0].astype(np.float64)).sum())
    assert value == pytest.approx(2 * 0.5 * (np.log(0.5) - log_q[0]), rel=1e-5)


def test_perplexity_and_uncertainty() -> None:
    nll = np.random.default_rng(5).gamma(2.0, 1.5, size=500)
    result = perplexity(nll)
    assert result.ppl == pytest.approx(math.exp(nll.mean()))
    assert result.ppl_unc == pytest.approx(math.exp(nll.mean()) * nll.std() / math.sqrt(len(nll) - 1))
    assert mean_and_uncertainty(nll[:10])[1] == 0.0  # llama.cpp reports no uncertainty for n <= 10


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_logits_are_an_error_not_a_number(bad: float) -> None:
    from quantwb.errors import EvaluationError

    logits = _logits(0, 4)
    logits[2, 17] = bad
    with pytest.raises(EvaluationError, match="non-finite logits"):
        kld.logit_parts(logits, np.zeros(4, dtype=np.int64))
