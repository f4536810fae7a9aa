"""Answer flips against the reference on the same documents, McNemar's exact test and the paired accuracy change.

For a 0/1 task metric (acc, acc_norm) and documents both models answered: b = right→wrong, c = wrong→right.
McNemar's exact test asks whether b and c differ more than chance allows: under "no change" b ~ Binomial(b+c, ½),
p = two-sided binomial p-value, computed here in exact integers rather than by scipy.stats.binomtest, so that
`quantwb compare` runs in the CI report job's light install (no scipy); the two agree to 1e-12 (tests/test_paired.py).
The accuracy change (c − b)/n gets a percentile bootstrap interval over documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantwb.reports.paired import Bootstrap, Interval, bootstrap_mean
from quantwb.reports.sidecars import task_samples
from quantwb.reports.variants import VariantRow


def mcnemar_exact_p(right_to_wrong: int, wrong_to_right: int) -> float:
    """Two-sided exact McNemar p-value; 1.0 when no answer flipped.

    Binomial(n, ½) is symmetric, so the outcomes at most as likely as the observed one are both tails beyond it:
    p = min(1, 2 · P(X ≤ min(b, c))), summed as whole binomial coefficients over 2ⁿ (one rounding, at the division).
    """
    n, k = right_to_wrong + wrong_to_right, min(right_to_wrong, wrong_to_right)
    ways, tail = 1, 1  # C(n, 0); the sum of C(n, i) for i ≤ k
    for i in range(k):
        ways = ways * (n - i) // (i + 1)
        tail += ways
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class Flips:
    """One variant's answers against the reference's on one task metric."""

    n_documents: int
    right_to_wrong: int
    wrong_to_right: int
    p_value: float
    accuracy_change: Interval  # variant − reference, as a fraction

    @property
    def flips_pct(self) -> float:
        return 100.0 * (self.right_to_wrong + self.wrong_to_right) / self.n_documents


def flips(variant: np.ndarray, reference: np.ndarray, options: Bootstrap = Bootstrap()) -> Flips:
    """Flips between two aligned 0/1 arrays of per-document scores."""
    v, r = np.asarray(variant) > 0.5, np.asarray(reference) > 0.5
    b, c = int(np.sum(r & ~v)), int(np.sum(~r & v))
    return Flips(len(v), b, c, mcnemar_exact_p(b, c), bootstrap_mean(v.astype(np.float64) - r.astype(np.float64), options))


@dataclass(frozen=True)
class FlipSection:
    """Every variant against the reference, per task metric key ('arc_easy.acc_norm')."""

    against: str
    bootstrap: Bootstrap
    rows: dict[str, dict[str, Flips]]  # variant name -> task metric key -> flips
    reasons: dict[str, str]  # variant name -> why it has no flips


def _binary_scores(samples: dict[str, np.ndarray], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(doc ids, 0/1 scores) of `key` where every document has a 0/1 score, else None."""
    task = key.partition(".")[0]
    scores, ids = samples.get(key), samples.get(f"{task}.doc_id")
    if scores is None or ids is None or not np.isin(scores, (0.0, 1.0)).all():
        return None
    return ids, scores


def flip_section(rows: list[VariantRow] | tuple[VariantRow, ...], reference: VariantRow, keys: tuple[str, ...],
                 options: Bootstrap = Bootstrap()) -> FlipSection:
    """Flips of every row against `reference` on each of `keys` ('task.metric'), matched by document id."""
    ref = task_samples(reference)
    result: dict[str, dict[str, Flips]] = {}
    reasons: dict[str, str] = {}
    for row in rows:
        own = task_samples(row)
        if not own or not ref:
            reasons[row.variant.name] = own.reason if not own else f"the reference {reference.variant.name}: {ref.reason}"
            continue
        per_key = {}
        for key in keys:
            mine, theirs = _binary_scores(own.data, key), _binary_scores(ref.data, key)
            if mine is None or theirs is None:
                continue
            common, i, j = np.intersect1d(mine[0], theirs[0], return_indices=True)
            if len(common):
                per_key[key] = flips(mine[1][i], theirs[1][j], options)
        result[row.variant.name] = per_key
    return FlipSection(reference.variant.name, options, result, reasons)
