"""A metric's interval for one variant: what `--fail-on METRIC.lo` / `.hi` and `--fail-on-regression` read.

Where the record's per-position data is at hand, the interval comes from the window bootstrap
(reports/paired.py): kld_mean, same_top_pct, ppl. Otherwise it is value ± z·uncertainty from the record
(METRIC_unc, or a task metric's stderr), with z the normal quantile of the confidence level. A metric
with neither (size_bytes, bpw, ...) has no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from quantwb.reports.paired import Bootstrap, Interval, bootstrap_mean, unit_means
from quantwb.reports.sidecars import text_positions
from quantwb.reports.variants import METRICS, VariantRow

# metric -> (sidecar array, transform of the mean into the metric's unit); monotone increasing transforms only
BOOTSTRAPPED = {"kld_mean": ("kld", lambda m: m), "same_top_pct": ("same_top", lambda m: 100.0 * m), "ppl": ("nll", math.exp)}


@dataclass(frozen=True)
class Estimate:
    """A metric's value, interval and how the interval was obtained."""

    interval: Interval
    method: str  # "window bootstrap" | "record uncertainty"


def has_interval(metric: str) -> bool:
    """Whether `metric` can have an interval at all (task metrics: when lm-eval gave a stderr)."""
    return metric in BOOTSTRAPPED or f"{metric}_unc" in METRICS or (metric not in METRICS and "." in metric)


def bounded_metrics() -> list[str]:
    return sorted({*BOOTSTRAPPED, *(name for name in METRICS if f"{name}_unc" in METRICS)}) + ["TASK.METRIC"]


def z_value(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def estimate(row: VariantRow, metric: str, options: Bootstrap = Bootstrap()) -> Estimate | None:
    """The metric's value and interval for `row`, or None when it was not measured or has no uncertainty."""
    if metric in BOOTSTRAPPED and row.text is not None and row.text.text is not None:
        arrays = text_positions(row)
        if arrays:
            name, transform = BOOTSTRAPPED[metric]
            raw = bootstrap_mean(unit_means(arrays.data[name].astype(np.float64), row.text.text.n_chunks), options)
            interval = Interval(transform(raw.value), transform(raw.lo), transform(raw.hi),
                                (transform(raw.hi) - transform(raw.lo)) / (2.0 * z_value(options.level)))
            return Estimate(interval, "window bootstrap")
    value = row.value(metric)
    if value is None:
        return None
    if metric in METRICS:
        unc = row.value(f"{metric}_unc") if f"{metric}_unc" in METRICS else None
    else:
        task_metric = row.task_metric(metric)
        unc = task_metric.stderr if task_metric else None
    if unc is None:
        return None
    half = z_value(options.level) * unc
    return Estimate(Interval(value, value - half, value + half, unc), "record uncertainty")
