"""The report for machines: JSON (every metric by name, plus the context) and CSV (one row per variant)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from quantwb.reports.compare import Report
from quantwb.reports.statistics_json import statistics_json
from quantwb.reports.variants import METRICS, VariantRow, known_metrics


def _row(row: VariantRow, names: list[str]) -> dict[str, Any]:
    return {
        "variant": row.variant.name,
        "format": row.variant.format,
        "method": row.variant.method,
        "quant_type": row.variant.quant_type,
        "sha256": row.variant.sha256,
        "baseline": row.baseline.name,
        "is_baseline": row.is_baseline,
        "pareto": row.pareto,
        "metrics": {name: row.value(name) for name in names},
        "stderr": {f"{m.task}.{m.name}": m.stderr for m in (row.tasks.metrics if row.tasks else ())},
        "records": [str(path) for path in row.sources],
    }


def render_json(report: Report) -> str:
    names = known_metrics(report.rows)
    payload = {
        "kind": "quantwb.report",
        "baselines": [b.model_dump(mode="json") for b in report.baselines],
        "text": report.text_data.model_dump(mode="json") if report.text_data else None,
        "task_settings": report.task_settings,
        "pareto_metric": report.pareto_metric,
        "metric_descriptions": {name: METRICS[name].description for name in METRICS},
        "variants": [_row(row, names) for row in report.rows],
        "breaches": [str(b) for b in report.breaches],
        "code_version": report.code_version,  # the measuring code (a sweep's report), None from `quantwb compare`
        **statistics_json(report),
    }
    return json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: a number that is not finite is written as null (not measured)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def render_csv(report: Report) -> str:
    names = known_metrics(report.rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "format", "method", "quant_type", "pareto", *names])
    for row in report.rows:
        values = ["" if (v := row.value(n)) is None else repr(v) for n in names]
        writer.writerow([row.variant.name, row.variant.format, row.variant.method, row.variant.quant_type or "",
                         int(row.pareto), *values])
    return buffer.getvalue()
