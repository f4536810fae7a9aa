"""The report's columns as text cells, shared by the terminal, Markdown and HTML renderers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from quantwb.reports.compare import Report
from quantwb.reports.variants import VariantRow

PARETO_MARK = "★"


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[VariantRow], str]
    numeric: bool = True


def human_bytes(n: float | None) -> str:
    """Bytes as MiB/GiB text (binary units, as `ls -h` and llama.cpp print them)."""
    if n is None:
        return "–"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def number(value: float | None, digits: int = 4) -> str:
    """`digits` significant digits, scientific only for tiny values (KLD of near-lossless variants)."""
    if value is None:
        return "–"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def with_unc(value: float | None, unc: float | None, digits: int = 4) -> str:
    """`value ± unc` with both rounded to the uncertainty's second significant digit."""
    if value is None:
        return "–"
    if unc is None or unc <= 0 or not math.isfinite(unc):
        return number(value, digits)
    decimals = 1 - math.floor(math.log10(unc))
    if decimals > 6:  # an uncertainty too small for fixed point (near-lossless variants): scientific
        return f"{number(value, digits)} ± {unc:.1e}"
    decimals = max(decimals, 0)
    return f"{value:.{decimals}f} ± {unc:.{decimals}f}"


def _variant_cell(row: VariantRow) -> str:
    mark = f"{PARETO_MARK} " if row.pareto else ""
    return f"{mark}{row.variant.name}{' (baseline)' if row.is_baseline else ''}"


def _method_cell(row: VariantRow) -> str:
    kind = row.variant.quant_type
    return f"{row.variant.method} {kind}" if kind and kind != row.variant.method else row.variant.method


def _task_cell(key: str) -> Callable[[VariantRow], str]:
    def cell(row: VariantRow) -> str:
        metric = row.task_metric(key)
        if metric is None:
            return "–"
        if metric.name.startswith(("acc", "exact_match")):  # proportions read best as percent
            stderr = None if metric.stderr is None else 100 * metric.stderr
            return with_unc(100 * metric.value, stderr, 3)
        return with_unc(metric.value, metric.stderr)

    return cell


def _metric(name: str, fmt: Callable[[float | None], str] = number, unc: str | None = None) -> Callable[[VariantRow], str]:
    if unc is None:
        return lambda row: fmt(row.value(name))
    return lambda row: with_unc(row.value(name), row.value(unc))


def columns(report: Report) -> list[Column]:
    """Columns in reading order; a column no variant has a value for is left out."""
    fixed = [
        Column("variant", _variant_cell, numeric=False),
        Column("format", lambda row: row.variant.format, numeric=False),
        Column("method", _method_cell, numeric=False),
        Column("bpw", lambda row: number(row.value("bpw"), 3)),
        Column("size", _metric("size_bytes", human_bytes)),
        Column("peak RAM", _metric("peak_rss_bytes", human_bytes)),
        Column("PPL", _metric("ppl", unc="ppl_unc")),
        Column("PPL ratio", _metric("ppl_ratio", unc="ppl_ratio_unc")),
        Column("KLD mean", _metric("kld_mean", unc="kld_mean_unc")),
        Column("KLD p99", _metric("kld_p99")),
        Column("same top %", _metric("same_top_pct", unc="same_top_pct_unc")),
    ]
    tasks = [Column(f"{key.replace('.', ' ')} %" if ".acc" in key else key.replace(".", " "), _task_cell(key))
             for key in report.task_columns]
    speed = [
        Column("prompt tok/s", _metric("prompt_tokens_per_s", lambda v: number(v, 4))),
        Column("gen tok/s", _metric("gen_tokens_per_s", lambda v: number(v, 3))),
    ]
    chosen = [*fixed, *tasks, *speed]
    return [col for col in chosen if not col.numeric or any(col.cell(row) != "–" for row in report.rows)]


def cells(report: Report) -> tuple[list[str], list[list[str]]]:
    """(headers, rows of cell text) for the whole report."""
    cols = columns(report)
    return [col.header for col in cols], [[col.cell(row) for col in cols] for row in report.rows]


def preamble(report: Report) -> list[str]:
    """Lines stated above the table: baseline, its origin, the data, the Pareto criterion."""
    lines = []
    for baseline in report.baselines:
        lines.append(f"Baseline: {baseline.name} (sha256 {baseline.sha256[:12]})")
        if baseline.origin:
            lines.append(f"Baseline origin: {baseline.origin}")
    if len(report.baselines) > 1:
        lines.append("Warning: variants were measured against different baselines; KLD and PPL ratios do not compare across them")
    if text := report.text_data:
        lines.append(
            f"Text: {text.name} (sha256 {text.sha256[:12]}), {text.n_tokens} tokens, ctx {text.ctx}, "
            f"{text.n_chunks} chunks, {text.n_scored} scored positions (second half of each window, as llama.cpp)"
        )
    if report.task_names:
        limit = report.task_settings.get("limit")
        shots = report.task_settings.get("num_fewshot")
        documents = f"first {limit} documents of each task" if limit else "every document"
        shots_text = "each task's default number of few-shot examples" if shots is None else f"{shots}-shot"
        lines.append(f"Tasks (lm-eval): {', '.join(report.task_names)}; {documents}, {shots_text}")
    if report.pareto_metric:
        lines.append(f"{PARETO_MARK} Pareto-optimal: no other variant is both smaller and lower in {report.pareto_metric}. Sorted by size.")
    return lines
