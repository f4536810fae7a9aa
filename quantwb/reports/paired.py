"""Paired comparisons of variants measured on the same windows: a percentile bootstrap over whole windows.

Positions inside one window share their context, so they are not independent draws; whole windows are.
Each resample draws n windows with replacement and averages the per-position differences of the drawn
windows (every window scores the same number of positions). The interval is the resampled means'
(1-level)/2 and 1-(1-level)/2 quantiles. Two identical series give [0, 0] exactly.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

from quantwb import defaults
from quantwb.errors import InputError
from quantwb.reports.sidecars import text_positions
from quantwb.reports.variants import VariantRow

# The paired quantities, by the report name: (sidecar array, scale to the report unit).
PAIRED = {"kld_mean": ("kld", 1.0), "ln_ppl": ("nll", 1.0), "same_top_pct": ("same_top", 100.0)}


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are computed: resamples, confidence level and the generator's seed."""

    resamples: int = defaults.BOOTSTRAP_RESAMPLES
    level: float = defaults.CONFIDENCE_LEVEL
    seed: int = defaults.BOOTSTRAP_SEED

    def describe(self, units: str) -> str:
        return f"{self.level:.0%} percentile bootstrap over {units} ({self.resamples} resamples, seed {self.seed})"


@dataclass(frozen=True)
class Interval:
    """A point estimate and its interval, in the unit of the quantity."""

    value: float
    lo: float
    hi: float
    se: float  # standard deviation of the resampled means

    @property
    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def scaled(self, factor: float) -> Interval:
        return Interval(self.value * factor, self.lo * factor, self.hi * factor, self.se * abs(factor))


def unit_means(values: np.ndarray, n_units: int) -> np.ndarray:
    """Mean of each of `n_units` equal consecutive blocks (windows) of `values`, float64."""
    if n_units < 1 or len(values) % n_units:
        raise ValueError(f"{len(values)} values do not split into {n_units} equal windows")
    return np.asarray(values, dtype=np.float64).reshape(n_units, -1).mean(axis=1)


def bootstrap_mean(means: np.ndarray, options: Bootstrap = Bootstrap()) -> Interval:
    """Interval of the mean of `means` (one value per window or document) by resampling them with replacement."""
    means = np.asarray(means, dtype=np.float64)
    rng = np.random.default_rng(options.seed)
    draws = means[rng.integers(0, len(means), size=(options.resamples, len(means)))].mean(axis=1)
    tail = (1.0 - options.level) / 2.0
    lo, hi = np.quantile(draws, [tail, 1.0 - tail])
    return Interval(float(means.mean()), float(lo), float(hi), float(draws.std()))


def paired_difference(a: np.ndarray, b: np.ndarray, n_units: int, options: Bootstrap = Bootstrap()) -> Interval:
    """mean(a) − mean(b) of two aligned per-position series, with its window-bootstrap interval."""
    if len(a) != len(b):
        raise ValueError(f"series of {len(a)} and {len(b)} positions are not paired")
    return bootstrap_mean(unit_means(np.asarray(a, np.float64) - np.asarray(b, np.float64), n_units), options)


@dataclass(frozen=True)
class PairedRow:
    """One variant against the reference: an Interval per PAIRED quantity, or the reason there is none."""

    intervals: dict[str, Interval]
    reason: str | None = None


@dataclass(frozen=True)
class PairedSection:
    """Every variant against one reference variant, on the same windows."""

    against: str  # the reference variant's name
    n_windows: int
    bootstrap: Bootstrap
    rows: dict[str, PairedRow]  # by variant name

    @property
    def method(self) -> str:
        return self.bootstrap.describe(f"the {self.n_windows} windows")


def select_reference(rows: list[VariantRow] | tuple[VariantRow, ...], against: str | None) -> VariantRow | None:
    """The row named by `against` (name, quant type or glob; None: the baseline's own row, if measured)."""
    if against is None:
        return next((row for row in rows if row.is_baseline), None)
    chosen = [row for row in rows if against in (row.variant.name, row.variant.quant_type)
              or fnmatch.fnmatchcase(row.variant.name, against)]
    names = ", ".join(row.variant.name for row in rows)
    if len(chosen) != 1:
        raise InputError(f"--against {against!r} matches {len(chosen)} variants (variants: {names}); name exactly one")
    return chosen[0]


def paired_section(rows: list[VariantRow] | tuple[VariantRow, ...], reference: VariantRow,
                   options: Bootstrap = Bootstrap()) -> PairedSection:
    """Δ mean KLD, Δ ln PPL and Δ same-top (percentage points) of every row against `reference`."""
    n_windows = reference.text.text.n_chunks if reference.text and reference.text.text else 0
    ref = text_positions(reference)
    result = {}
    for row in rows:
        own = text_positions(row)
        if not own:
            result[row.variant.name] = PairedRow({}, own.reason)
        elif not ref:
            result[row.variant.name] = PairedRow({}, f"the reference {reference.variant.name}: {ref.reason}")
        elif len(own.data["kld"]) != len(ref.data["kld"]):
            result[row.variant.name] = PairedRow({}, "scored on other windows than the reference")
        else:
            result[row.variant.name] = PairedRow({
                name: paired_difference(own.data[array], ref.data[array], n_windows, options).scaled(scale)
                for name, (array, scale) in PAIRED.items()
            })
    return PairedSection(reference.variant.name, n_windows, options, result)
