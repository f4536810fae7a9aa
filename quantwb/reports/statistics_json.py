"""The paired statistics in the JSON report: Δ against the reference, flips, KLD by confidence, regressions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from quantwb.reports.compare import Report
from quantwb.reports.intervals import BOOTSTRAPPED, estimate
from quantwb.reports.paired import Interval


def _interval(interval: Interval) -> dict[str, Any]:
    return {**asdict(interval), "excludes_zero": interval.excludes_zero}


def statistics_json(report: Report) -> dict[str, Any]:
    """The JSON report's keys `intervals` (95%, by variant), `paired`, `flips`, `kld_by_confidence` and `regressions`."""
    paired = flips = None
    if section := report.paired:
        paired = {
            "against": section.against, "method": section.method, "resamples": section.bootstrap.resamples,
            "level": section.bootstrap.level, "seed": section.bootstrap.seed, "n_windows": section.n_windows,
            "variants": {name: {"n/a": row.reason} if row.reason else {key: _interval(i) for key, i in row.intervals.items()}
                         for name, row in section.rows.items()},
        }
    if section := report.flips:
        flips = {
            "against": section.against, "test": "exact McNemar (two-sided binomial on the flips)",
            "accuracy_change_method": section.bootstrap.describe("documents"),
            "variants": {name: {key: {"n_documents": f.n_documents, "right_to_wrong": f.right_to_wrong,
                                      "wrong_to_right": f.wrong_to_right, "flips_pct": f.flips_pct, "p_value": f.p_value,
                                      "accuracy_change": _interval(f.accuracy_change)} for key, f in per_key.items()}
                         for name, per_key in section.rows.items()},
            "n/a": section.reasons,
        }
    intervals = {}
    for row in report.rows:
        found = {metric: estimate(row, metric) for metric in BOOTSTRAPPED}
        chosen = {metric: {**_interval(e.interval), "method": e.method} for metric, e in found.items() if e is not None}
        if chosen:
            intervals[row.variant.name] = chosen
    return {
        "reference_note": report.reference_note,
        "intervals": intervals,
        "paired": paired,
        "flips": flips,
        "kld_by_confidence": {row.variant.name: [b.model_dump(mode="json") for b in row.text.kld_by_confidence]
                              for row in report.rows if row.text is not None and row.text.kld_by_confidence},
        "regressions": [{"variant": r.variant, "metric": r.metric, "old": r.old, "new": r.new, "lo": r.lo, "hi": r.hi,
                         "method": r.method, "text": str(r)} for r in report.regressions],
    }
