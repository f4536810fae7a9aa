"""How far KLD estimated from a top-K base falls from the full KLD, for candidate estimators, on real windows.

Not a product path: it scores one GGUF variant window by window against the full base cache and computes, per
position, the full KLD, the (K+1)-outcome KLD that `--kld-topk` stored before (the top K and one "any other token"
outcome: a lower bound) and sampled-tail estimates (the top K exactly, the tail from S token ids drawn in proportion
to p: unbiased, noisy per position). "sampled": the tail's Σ p log p stored, its Σ p log q estimated from the
draws; "differences": the tail's Σ p (log p − log q) estimated from the draws (the base's half summed in the base pass), whose
noise shrinks with the divergence; "systematic": one uniform offset and S evenly spaced points through the
tail's cumulative mass instead of S independent draws (what `--kld-topk` does, with S = kld.TAIL_DRAWS).
    python bench/bench_topk_estimators.py [--model smollm2-135m] [--type Q4_K_M] [--windows 12]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

TOP_ONLY = (256, 1024, 4096)
SAMPLED = ((256, 32), (256, 64), (128, 128))  # (K, S)
DIFFERENCES = ((256, 16), (256, 24), (256, 32))  # (K, S), systematic


def estimates(p: np.ndarray, log_q: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-position KLD by each estimator; p (n, vocab) the stored base probabilities, log_q the variant's."""
    with np.errstate(divide="ignore"):
        log_p = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    rows = np.arange(len(p))[:, None]
    order = np.argsort(-p, axis=1)

    def top(k: int) -> tuple[np.ndarray, np.ndarray]:
        """The K most probable ids per position and their exact share of KLD."""
        idx = order[:, :k]
        return idx, (p[rows, idx] * (log_p[rows, idx] - log_q[rows, idx])).sum(1)

    def tail(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p outside `idx`, and its cumulative sum per position."""
        rest = p.copy()
        rest[rows, idx] = 0.0
        return rest, np.cumsum(rest, axis=1)

    def drawn(cdf: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The ids whose cumulative mass first passes each target (row by row)."""
        return np.minimum(np.stack([np.searchsorted(cdf[i], targets[i], side="right") for i in range(len(p))]), p.shape[1] - 1)

    found = {"full": (p * (log_p - log_q)).sum(1)}
    for k in TOP_ONLY:
        idx, kept = top(k)
        p_tail = np.maximum(p.sum(1) - p[rows, idx].sum(1), 0.0)
        q_tail = np.maximum(1.0 - np.exp(log_q[rows, idx]).sum(1), 1e-12)
        found[f"top {k} + tail mass"] = kept + np.where(p_tail > 0, p_tail * np.log(np.maximum(p_tail, 1e-12) / q_tail), 0.0)
    for k, s in SAMPLED:
        idx, kept = top(k)
        rest, cdf = tail(idx)
        p_tail = rest.sum(1)
        ids = drawn(cdf, rng.random((len(p), s)) * p_tail[:, None])
        found[f"top {k} + {s} sampled"] = kept + (rest * log_p).sum(1) - p_tail * log_q[rows, ids].mean(1)
    for k, s in DIFFERENCES:
        idx, kept = top(k)
        _, cdf = tail(idx)
        p_tail = cdf[:, -1]
        for kind, points in (("independent", rng.random((len(p), s))),
                             ("systematic", (rng.random((len(p), 1)) + np.arange(s)) / s)):
            ids = drawn(cdf, points * p_tail[:, None])
            found[f"top {k} + {s} {kind} differences"] = kept + p_tail * (log_p[rows, ids] - log_q[rows, ids]).mean(1)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--type", default="Q4_K_M")
    parser.add_argument("--windows", type=int, default=12)
    args = parser.parse_args()

    from quantwb.evaluate import kld
    from quantwb.evaluate.base_cache import CacheReader, cache_dir
    from quantwb.evaluate.half_floats import to_float32
    from quantwb.evaluate.pipeline import EvalConfig, base_cache_key, evaluate_variants
    from quantwb.evaluate.runners import RunnerOptions, open_runner
    from quantwb.evaluate.windows import window_inputs, window_targets
    from quantwb.models import resolve
    from quantwb.quantize.gguf import quantize_gguf
    from quantwb.texts import load_text

    with tempfile.TemporaryDirectory(prefix="bench-topk-") as tmp:
        source = resolve(args.model)
        [variant] = quantize_gguf(source, [args.type], Path(tmp))
        config = EvalConfig(base=args.model, chunks=args.windows, out_dir=Path(tmp) / "records", gen_tokens=0, device="cpu")
        evaluate_variants([variant.path], config)  # the full base cache of these windows
        cache = CacheReader(cache_dir(base_cache_key(source, load_text(config.text), config)))
        plan = cache.plan
        runner = open_runner("gguf", variant.path, RunnerOptions(ctx=plan.ctx, threads=config.runner_options().threads))
        rng = np.random.default_rng(0)
        series: dict[str, list[np.ndarray]] = {}
        for w in range(plan.n_chunks):
            logits = runner.scored_logits(window_inputs(cache.tokens, plan, range(w, w + 1)), plan.first).copy()
            targets = window_targets(cache.tokens, plan, range(w, w + 1)).reshape(-1)
            parts = kld.logit_parts(logits, targets)
            p = to_float32(cache.rows(w * plan.scored_per_window, len(targets)).p).astype(np.float64)
            log_q = (parts.shifted - parts.log_norm[:, None]).astype(np.float64)
            for name, values in estimates(p, log_q, rng).items():
                series.setdefault(name, []).append(values)
        runner.close()
    full = np.concatenate(series["full"])
    print(f"{args.model} {args.type}: {len(full)} positions of {plan.n_chunks} windows; full mean KLD {full.mean():.6f}")
    print(f"{'estimator':24} {'mean KLD':>10} {'error':>8} {'rms per position':>17} {'p99':>8} (full p99 {np.quantile(full, 0.99):.4f})")
    for name, parts in series.items():
        values = np.concatenate(parts)
        print(f"{name:24} {values.mean():10.6f} {(values.mean() - full.mean()) / full.mean():+8.2%} "
              f"{np.sqrt(((values - full) ** 2).mean()):17.5f} {np.quantile(values, 0.99):8.4f}")


if __name__ == "__main__":
    main()
