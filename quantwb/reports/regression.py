"""`--previous OLD --fail-on-regression METRICS`: which variants got worse than in an earlier run, beyond noise.

OLD is a folder of records (or record files) or a report.json. Variants are matched by name. When both
runs kept per-position data on the same windows (per-document scores, for a task metric), the change is
paired: the bootstrap of the per-window (per-document) difference (reports/paired.py), a regression when
the whole interval lies on the worse side of 0. Otherwise the two values are independent estimates: a regression when the change exceeds
z·sqrt(u_new² + u_old²), with u each side's standard error (a metric without one, such as size_bytes,
counts as exact).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantwb.errors import GateError, InputError, RecordError
from quantwb.reports.intervals import BOOTSTRAPPED, estimate, z_value
from quantwb.reports.paired import Bootstrap, bootstrap_mean, paired_difference
from quantwb.reports.sidecars import task_samples, text_positions
from quantwb.reports.variants import VariantRow, higher_is_better, known_metrics


@dataclass(frozen=True)
class Previous:
    """One variant's value in the earlier run: value, standard error and (records only) its row."""

    value: float
    se: float
    row: VariantRow | None = None


@dataclass(frozen=True)
class Regression:
    """A variant worse than in the previous run beyond the combined uncertainty."""

    variant: str
    metric: str
    old: float
    new: float
    lo: float  # interval of new − old
    hi: float
    method: str

    def __str__(self) -> str:
        return (f"{self.variant} {self.metric} {self.old:.4g} -> {self.new:.4g} "
                f"(change {self.new - self.old:+.3g}, 95% [{self.lo:+.3g}, {self.hi:+.3g}], {self.method})")


def previous_values(old: Path, metrics: tuple[str, ...], load_rows) -> dict[str, dict[str, Previous]]:
    """variant name -> metric -> Previous, from a report.json or from records (read by `load_rows(paths)`)."""
    if old.is_file() and old.suffix == ".json":
        try:
            payload = json.loads(old.read_text())
        except (OSError, ValueError) as err:
            raise RecordError(f"--previous {old}: cannot read ({err})") from err
        if isinstance(payload, dict) and payload.get("kind") == "quantwb.report":
            return _from_report(payload, metrics)
    rows = load_rows([old])
    found: dict[str, dict[str, Previous]] = {}
    for row in rows:
        for metric in metrics:
            guess = estimate(row, metric)
            value = row.value(metric) if guess is None else guess.interval.value
            if value is not None:
                found.setdefault(row.variant.name, {})[metric] = Previous(value, guess.interval.se if guess else 0.0, row)
    return found


def _from_report(payload: dict, metrics: tuple[str, ...]) -> dict[str, dict[str, Previous]]:
    """Values and standard errors from a JSON report: its window-bootstrap intervals where it has them."""
    found: dict[str, dict[str, Previous]] = {}
    intervals = payload.get("intervals") or {}
    for variant in payload.get("variants", []):
        values, stderr = variant.get("metrics", {}), variant.get("stderr", {})
        bootstrapped = intervals.get(variant["variant"], {})
        for metric in metrics:
            if metric in bootstrapped:
                found.setdefault(variant["variant"], {})[metric] = Previous(bootstrapped[metric]["value"], bootstrapped[metric]["se"])
                continue
            value = values.get(metric)
            if isinstance(value, (int, float)):
                se = values.get(f"{metric}_unc", stderr.get(metric)) or 0.0
                found.setdefault(variant["variant"], {})[metric] = Previous(float(value), float(se))
    return found


def _paired_documents(new: VariantRow, old: VariantRow, metric: str, options: Bootstrap):
    """new − old of a task metric by the bootstrap over the documents both runs scored, when both kept them."""
    mine, theirs = task_samples(new), task_samples(old)
    ids = f"{metric.partition('.')[0]}.doc_id"
    if not mine or not theirs or metric not in mine.data or metric not in theirs.data:
        return None
    _, i, j = np.intersect1d(mine.data[ids], theirs.data[ids], return_indices=True)
    if len(i) < 2:
        return None
    differences = mine.data[metric][i].astype(np.float64) - theirs.data[metric][j].astype(np.float64)
    return bootstrap_mean(differences, options), "paired over documents"


def _paired(new: VariantRow, old: VariantRow | None, metric: str, options: Bootstrap):
    """new − old by the window bootstrap, when both rows kept per-position data on the same windows."""
    if old is not None and metric not in BOOTSTRAPPED and "." in metric:
        return _paired_documents(new, old, metric, options)
    if old is None or metric not in BOOTSTRAPPED or new.text is None or old.text is None or new.text.text != old.text.text:
        return None
    mine, theirs = text_positions(new), text_positions(old)
    if not mine or not theirs:
        return None
    name, transform = BOOTSTRAPPED[metric]
    diff = paired_difference(mine.data[name], theirs.data[name], new.text.text.n_chunks, options)
    if metric == "ppl":  # compare in ln PPL, report in PPL
        return diff, "paired over windows, in ln PPL"
    scale = transform(1.0) if metric == "same_top_pct" else 1.0
    return diff.scaled(scale), "paired over windows"


def find_regressions(rows: tuple[VariantRow, ...] | list[VariantRow], previous: dict[str, dict[str, Previous]],
                     metrics: tuple[str, ...], options: Bootstrap = Bootstrap()) -> list[Regression]:
    """Every (variant, metric) worse now than in `previous` beyond the combined uncertainty."""
    known = known_metrics(rows)
    for metric in metrics:
        if metric not in known:
            raise InputError(f"--fail-on-regression {metric}: unknown metric (known: {', '.join(known)})")
    compared = 0
    regressions = []
    z = z_value(options.level)
    for row in rows:
        for metric in metrics:
            before = previous.get(row.variant.name, {}).get(metric)
            now = estimate(row, metric, options)
            value = row.value(metric) if now is None else now.interval.value
            if before is None or value is None:
                continue
            compared += 1
            worse_up = not higher_is_better(metric, list(rows))
            paired = _paired(row, before.row, metric, options)
            if paired is not None:
                diff, method = paired
                lo, hi = diff.lo, diff.hi
            else:
                se = math.hypot(now.interval.se if now else 0.0, before.se)
                lo, hi, method = value - before.value - z * se, value - before.value + z * se, "independent runs"
            if (worse_up and lo > 0) or (not worse_up and hi < 0):  # the whole interval on the worse side of 0
                regressions.append(Regression(row.variant.name, metric, before.value, value, lo, hi, method))
    if compared == 0:
        raise InputError("--previous: no variant of this report has the --fail-on-regression metrics in the previous run "
                         "(variants are matched by name)")
    return regressions


def raise_for_regressions(regressions: tuple[Regression, ...] | list[Regression]) -> None:
    """Raise GateError (exit code 5) naming every regression, or return quietly."""
    if regressions:
        raise GateError(f"--fail-on-regression: {len(regressions)} regression{'s' if len(regressions) > 1 else ''}: "
                        + "; ".join(map(str, regressions)))
