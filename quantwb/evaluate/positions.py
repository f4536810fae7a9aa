"""What a text record keeps per position: the .npz beside it, KLD by the base's confidence, the worst positions.

The .npz holds, for every scored position in window order, the variant's NLL (float32, nats), its KLD to
the base (float32, nats), whether both top-1 tokens agree (bool) and the base's top-1 probability
(float16): 11 bytes a position before compression. Reports resample whole windows from it (positions
inside one window are correlated), so it is what makes paired comparisons between records possible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from quantwb.evaluate.kld import PositionStats
from quantwb.evaluate.windows import WindowPlan
from quantwb.fileio import atomic_path, sha256_file
from quantwb.records import ConfidenceBucket, Sidecar, WorstPosition

# The base's top-1 probability splits positions into these buckets: [0, .25), [.25, .5), [.5, .75), [.75, 1].
CONFIDENCE_EDGES = (0.0, 0.25, 0.5, 0.75, 1.0)
N_WORST = 20  # positions with the largest KLD kept, with context, for the report's drill-down
CONTEXT_TOKENS = 24  # tokens of context decoded before each of them


def position_arrays(stats: PositionStats) -> dict[str, np.ndarray]:
    """The per-position arrays a sidecar stores, in their stored dtypes."""
    return {
        "nll": stats.nll.astype(np.float32),
        "kld": stats.kld.astype(np.float32),
        "same_top": stats.same_top.astype(bool),
        "base_top_p": stats.base_top_p.astype(np.float16),
    }


def write_sidecar(arrays: dict[str, np.ndarray], path: Path) -> Sidecar:
    """Write `arrays` as a compressed .npz at `path` (atomically); returns its reference for the record."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # a file object: np.savez would append ".npz" to a path
    return Sidecar(file=path.name, sha256=sha256_file(path), size_bytes=path.stat().st_size, arrays=sorted(arrays))


def confidence_buckets(stats: PositionStats) -> list[ConfidenceBucket]:
    """Mean KLD and top-1 agreement per bucket of the base's top-1 probability."""
    edges = CONFIDENCE_EDGES
    # digitize against the inner edges: bucket k holds [edges[k], edges[k+1]); p = 1.0 falls in the last one
    which = np.digitize(stats.base_top_p.astype(np.float64), edges[1:-1])
    buckets = []
    for k in range(len(edges) - 1):
        chosen = which == k
        count = int(chosen.sum())
        buckets.append(ConfidenceBucket(
            lo=edges[k], hi=edges[k + 1], n_positions=count,
            kld_mean=float(np.mean(stats.kld[chosen], dtype=np.float64)) if count else None,
            same_top_p=float(np.mean(stats.same_top[chosen])) if count else None,
        ))
    return buckets


def worst_positions(stats: PositionStats, tokens: np.ndarray, plan: WindowPlan,
                    decode: Callable[[Sequence[int]], str], count: int = N_WORST) -> list[WorstPosition]:
    """The `count` positions with the largest KLD, largest first, with decoded context from `tokens` (the text's ids)."""
    order = np.argsort(-stats.kld, kind="stable")[:count]
    worst = []
    for index in order:
        window, offset = divmod(int(index), plan.scored_per_window)
        at = window * plan.ctx + plan.first + offset  # the token at the scored logit position
        start = max(window * plan.ctx + 1, at - CONTEXT_TOKENS + 1)  # the window's first token is replaced by BOS
        worst.append(WorstPosition(
            position=int(index), window=window, kld=float(stats.kld[index]), base_top_p=float(stats.base_top_p[index]),
            context=decode([int(t) for t in tokens[start: at + 1]]), target=decode([int(tokens[at + 1])]),
            base_top=decode([int(stats.base_top[index])]), variant_top=decode([int(stats.variant_top[index])]),
        ))
    return worst
