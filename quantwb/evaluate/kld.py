"""KL divergence, Δp and top-1 agreement of a variant against the base, per scored position (llama.cpp's method).

KLD(base‖variant) = Σ_{i: log p_i > −16} p_i (log p_i − log q_i). It is evaluated as
Σ p̃ log p − Σ p̃ log q, where p̃ is the stored base distribution (zero below the −16 cut): the first
sum is computed once in the base pass by the same code as the second, so base against itself is
exactly 0, and the variant side needs only one dot product per position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quantwb.errors import EvaluationError
from quantwb.evaluate.half_floats import to_float16, to_float32
from quantwb.evaluate.perplexity import log_ppl_ratio, mean_and_uncertainty
from quantwb.records import Distribution, KLDivergence, TopKCheck

LOG_P_CUT = -16.0  # llama.cpp ignores base tokens at or below this log-probability
KLD_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1)
DELTA_P_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 75.0, 50.0, 25.0, 10.0, 5.0, 1.0, 0.1)


@dataclass(frozen=True)
class LogitParts:
    """One model's log-softmax at n positions, kept as (logits − max) and log Σ exp(logits − max)."""

    shifted: np.ndarray  # (n, vocab) float32
    log_norm: np.ndarray  # (n,) float32; log q_i = shifted_i − log_norm
    top: np.ndarray  # (n,) argmax token
    nll: np.ndarray  # (n,) −log q[target], nats

    def take(self, rows: slice) -> LogitParts:
        return LogitParts(shifted=self.shifted[rows], log_norm=self.log_norm[rows], top=self.top[rows], nll=self.nll[rows])


@dataclass(frozen=True)
class BaseRows:
    """The base model at n scored positions, as cached on disk: the whole distribution, or its top K and the tail.

    Top K (`idx` set): p holds the K largest probabilities at the token ids in `idx`; the rest of the distribution
    (above the cut) is represented by TAIL_DRAWS token ids drawn from it in proportion to p (`draws`) and the mass
    they stand for (`tail`). The tail's share of KLD, Σ_tail p (log p − log q), is then estimated as
    tail · mean over the draws of (log p − log q): unbiased, and noisy per position in proportion to how far the
    variant's tail departs from the base's (bench_topk_estimators.py measures it). The base's half of every
    position's sum, Σ_K p log p + tail · mean log p(draws), is computed in the base pass and stored in `plogp`.
    """

    p: np.ndarray  # (n, vocab) or (n, K) float16/float32 probabilities, zero where log p <= LOG_P_CUT
    p_sum: np.ndarray  # (n,) Σ p over the stored p
    plogp: np.ndarray  # (n,) Σ p log p over the stored p (+ the drawn tail's estimate with top K), nats
    nll: np.ndarray  # (n,) −log p[target], nats
    top: np.ndarray  # (n,) argmax token
    idx: np.ndarray | None = None  # (n, K) token ids of p's columns; None: p covers the whole vocabulary
    tail: np.ndarray | None = None  # (n,) base mass outside the top K, above the cut: what the draws stand for
    draws: np.ndarray | None = None  # (n, TAIL_DRAWS) token ids drawn from the tail in proportion to p

    def take(self, rows: slice) -> BaseRows:
        def part(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[rows]

        return BaseRows(p=self.p[rows], p_sum=self.p_sum[rows], plogp=self.plogp[rows], nll=self.nll[rows], top=self.top[rows],
                        idx=part(self.idx), tail=part(self.tail), draws=part(self.draws))


@dataclass(frozen=True)
class PositionStats:
    """Per-position series that every summary statistic is computed from."""

    nll: np.ndarray
    base_nll: np.ndarray
    kld: np.ndarray
    p_diff: np.ndarray
    same_top: np.ndarray  # bool
    base_top_p: np.ndarray  # the base's top-1 probability (from the stored p)
    base_top: np.ndarray  # the base's argmax token
    variant_top: np.ndarray  # the variant's argmax token

    @staticmethod
    def concat(parts: list[PositionStats]) -> PositionStats:
        return PositionStats(*(np.concatenate([getattr(p, name) for p in parts]) for name in PositionStats.__dataclass_fields__))


def logit_parts(logits: np.ndarray, targets: np.ndarray) -> LogitParts:
    """Log-softmax pieces of float32 logits (n, vocab) and the NLL of `targets` (n,)."""
    logits = np.asarray(logits, dtype=np.float32)
    rows = np.arange(len(logits))
    top = np.argmax(logits, axis=1)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite input is reported below, as one error
        shifted = logits - logits[rows, top][:, None]
        log_norm = np.log(np.sum(np.exp(shifted), axis=1, dtype=np.float64)).astype(np.float32)
    if not np.isfinite(log_norm).all():  # a NaN or +inf logit anywhere in a row reaches its log_norm
        raise EvaluationError("the model produced non-finite logits (NaN/inf); the checkpoint is broken")
    nll = (log_norm - shifted[rows, targets]).astype(np.float64)
    return LogitParts(shifted=shifted, log_norm=log_norm, top=top, nll=nll)


def cross_term(p: np.ndarray, parts: LogitParts, p_sum: np.ndarray) -> np.ndarray:
    """Σ_i p_i log q_i per position (nats), with q given by `parts`."""
    dot = np.einsum("ij,ij->i", _float32(p), parts.shifted, dtype=np.float64)
    return dot - parts.log_norm.astype(np.float64) * p_sum


def _float32(p: np.ndarray) -> np.ndarray:
    return to_float32(p) if p.dtype == np.float16 else p.astype(np.float32, copy=False)


def _stored(p: np.ndarray, store_dtype: type) -> np.ndarray:
    return to_float16(p) if np.dtype(store_dtype) == np.float16 else p.astype(store_dtype)


def base_rows(parts: LogitParts, store_dtype: type = np.float16) -> BaseRows:
    """What the base pass stores: p cut at LOG_P_CUT and rounded to `store_dtype`, plus exact NLL and argmax."""
    log_p = parts.shifted - parts.log_norm[:, None]
    p = _stored(np.where(log_p > LOG_P_CUT, np.exp(log_p), 0.0), store_dtype)
    p32 = _float32(p)  # once: numpy widens float16 element by element, in the sum as in the dot
    p_sum = np.sum(p32, axis=1, dtype=np.float64)
    return BaseRows(p=p, p_sum=p_sum, plogp=cross_term(p32, parts, p_sum), nll=parts.nll, top=parts.top)


TAIL_DRAWS = 32  # tail token ids per position with top K (bench_topk_estimators.py: the error against the draw count)


def base_rows_topk(parts: LogitParts, k: int, offsets: np.ndarray, store_dtype: type = np.float16) -> BaseRows:
    """The base's K most probable tokens per position (cut at LOG_P_CUT like the full rows) and TAIL_DRAWS ids drawn
    from the rest; `offsets` (n,) in [0, 1) place each row's draws, so that a base pass draws the same ids each time."""
    log_p = parts.shifted - parts.log_norm[:, None]
    idx = np.argpartition(log_p, -k, axis=1)[:, -k:]
    top_log_p = np.take_along_axis(log_p, idx, axis=1)
    p = _stored(np.where(top_log_p > LOG_P_CUT, np.exp(top_log_p), 0.0), store_dtype)
    p32 = _float32(p)
    p_sum = np.sum(p32, axis=1, dtype=np.float64)
    tail_p = np.where(log_p > LOG_P_CUT, np.exp(log_p), np.float32(0.0))
    np.put_along_axis(tail_p, idx, np.float32(0.0), axis=1)
    draws, tail = _tail_draws(tail_p, offsets)
    del tail_p
    rows = np.arange(len(idx))[:, None]
    plogp = np.einsum("ij,ij->i", p32, top_log_p, dtype=np.float64) + tail * np.mean(log_p[rows, draws], axis=1, dtype=np.float64)
    return BaseRows(p=p, p_sum=p_sum, plogp=plogp, nll=parts.nll, top=parts.top, idx=idx.astype(np.int32), tail=tail,
                    draws=draws.astype(np.int32))


def _tail_draws(tail_p: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TAIL_DRAWS token ids per row drawn in proportion to `tail_p`, systematically (points offset/S, (offset+1)/S, ...
    through the row's cumulative mass: each token drawn about S·p/mass times, fewer misses than independent draws),
    and each row's mass. A row without mass draws its last token, which then weighs nothing."""
    cdf = np.cumsum(tail_p, axis=1, dtype=np.float64)
    mass = cdf[:, -1].copy()
    points = (offsets[:, None] + np.arange(TAIL_DRAWS)) / TAIL_DRAWS * mass[:, None]
    ids = np.stack([np.searchsorted(row, at, side="right") for row, at in zip(cdf, points, strict=True)])
    return np.minimum(ids, tail_p.shape[1] - 1), mass


def _cross_term_topk(base: BaseRows, variant: LogitParts) -> np.ndarray:
    """Σ_K p_i log q_i + tail · mean log q over the base's tail draws."""
    rows = np.arange(len(base.idx))[:, None]
    top_log_q = variant.shifted[rows, base.idx] - variant.log_norm[:, None]
    drawn_log_q = variant.shifted[rows, base.draws] - variant.log_norm[:, None]
    dot = np.einsum("ij,ij->i", _float32(base.p), top_log_q, dtype=np.float64)
    return dot + base.tail * np.mean(drawn_log_q, axis=1, dtype=np.float64)


def position_stats(base: BaseRows, variant: LogitParts) -> PositionStats:
    """KLD, Δp = q[tok] − p[tok] and same-top for each position; base and variant rows must align."""
    cross = cross_term(base.p, variant, base.p_sum) if base.idx is None else _cross_term_topk(base, variant)
    kld = base.plogp - cross
    p_diff = np.exp(-variant.nll) - np.exp(-base.nll)
    # the argmax's probability: at its token id in a full row, the largest stored value of a top-K row
    base_top_p = (base.p[np.arange(len(base.top)), base.top] if base.idx is None else base.p.max(axis=1)).astype(np.float32)
    return PositionStats(nll=variant.nll, base_nll=base.nll, kld=kld, p_diff=p_diff, same_top=variant.top == base.top,
                         base_top_p=base_top_p, base_top=base.top, variant_top=variant.top)


def _distribution(values: np.ndarray, percentiles: tuple[float, ...], with_rms: bool = False) -> Distribution:
    mean, unc = mean_and_uncertainty(values)
    quantiles = np.quantile(values.astype(np.float64), [p / 100.0 for p in percentiles])
    rms = rms_unc = None
    if with_rms:
        mse, mse_unc = mean_and_uncertainty(np.square(values))
        rms = math.sqrt(mse)
        rms_unc = 0.5 / rms * mse_unc if rms > 0 else 0.0
    return Distribution(
        mean=mean, mean_unc=unc, rms=rms, rms_unc=rms_unc, max=float(values.max()), min=float(values.min()),
        percentiles={_label(p): float(q) for p, q in zip(percentiles, quantiles, strict=True)},
    )


def _label(percent: float) -> str:
    return f"{percent:g}"


def summarize(stats: PositionStats) -> KLDivergence:
    """llama.cpp's KL-divergence report: KLD and Δp distributions, same-top p, PPL ratio, all ± uncertainty."""
    count = len(stats.kld)
    same_top = float(np.mean(stats.same_top))
    ln_ratio, ln_ratio_unc = log_ppl_ratio(stats.nll, stats.base_nll)
    base_mean, base_unc = mean_and_uncertainty(stats.base_nll)
    ratio = math.exp(ln_ratio)
    return KLDivergence(
        kld=_distribution(stats.kld, KLD_PERCENTILES),
        delta_p=_distribution(stats.p_diff, DELTA_P_PERCENTILES, with_rms=True),
        same_top_p=same_top,
        same_top_p_unc=math.sqrt(same_top * (1.0 - same_top) / (count - 1)) if count > 1 else 0.0,
        ppl_ratio=ratio,
        ppl_ratio_unc=ratio * ln_ratio_unc,
        ln_ppl_ratio=ln_ratio,
        ln_ppl_ratio_unc=ln_ratio_unc,
        base_ppl=math.exp(base_mean),
        base_ppl_unc=math.exp(base_mean) * base_unc,
    )


def topk_check(k: int, topk_stats: PositionStats, full_stats: PositionStats) -> TopKCheck:
    """Top-K against full KLD on the positions `full_stats` covers (the first ones of `topk_stats`)."""
    n = len(full_stats.kld)
    full_mean = float(np.mean(full_stats.kld))
    topk_mean = float(np.mean(topk_stats.kld[:n]))
    return TopKCheck(k=k, tail_draws=TAIL_DRAWS, positions=n, kld_mean_full=full_mean, kld_mean_topk=topk_mean,
                     relative_error=(topk_mean - full_mean) / full_mean if full_mean > 0 else 0.0)
