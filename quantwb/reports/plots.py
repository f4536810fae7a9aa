"""matplotlib figures of a report as PNG bytes: size vs KLD, size vs PPL (Pareto front drawn), task accuracy."""

from __future__ import annotations

import io
from dataclasses import dataclass

from quantwb.reports.compare import Report, mark_pareto
from quantwb.reports.variants import VariantRow

_DPI = 110
_FRONT_COLOR = "#d62728"
_POINT_COLOR = "#1f77b4"


@dataclass(frozen=True)
class Plot:
    """One rendered figure: a title, a one-line caption and the PNG bytes."""

    title: str
    caption: str
    png: bytes


def short_label(row: VariantRow) -> str:
    """The label drawn beside a point: the quant type, prefixed by the method for HF checkpoints."""
    kind = row.variant.quant_type
    if row.is_baseline or not kind:
        return "baseline" if row.is_baseline else row.variant.method
    return kind if row.variant.method == "gguf" else f"{row.variant.method} {kind}"


def report_plots(report: Report) -> list[Plot]:
    """Every plot the report's data supports (a plot needs at least two variants with the value)."""
    plots = []
    for metric, title, axis in (("kld_mean", "File size vs mean KLD to the baseline", "mean KLD (nats)"),
                                ("ppl", "File size vs perplexity", "perplexity")):
        if sum(row.value(metric) is not None for row in report.rows) >= 2:
            plots.append(_size_plot(report, metric, title, axis))
    if report.task_columns:
        plots.append(_task_plot(report))
    return plots


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return buffer.getvalue()


def _spans_decades(values: list[float], factor: float) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) >= 2 and max(positive) / min(positive) >= factor


def _size_plot(report: Report, metric: str, title: str, axis: str) -> Plot:
    from matplotlib.figure import Figure

    rows = mark_pareto(list(report.rows), metric)
    points = [(row, row.variant.size_bytes / (1 << 20), row.value(metric)) for row in rows if row.value(metric) is not None]
    log_y = _spans_decades([q for _, _, q in points], 20.0)
    hidden = [row for row, _, q in points if log_y and q <= 0]  # KLD 0 (baseline vs itself) has no place on a log axis
    shown = [p for p in points if p[0] not in hidden]

    figure = Figure(figsize=(7.5, 4.6))
    ax = figure.subplots()
    ax.scatter([s for _, s, _ in shown], [q for _, _, q in shown], color=_POINT_COLOR, zorder=3)
    front = sorted((s, q) for row, s, q in shown if row.pareto)
    if len(front) >= 2:
        ax.step([s for s, _ in front], [q for _, q in front], where="post", color=_FRONT_COLOR, linewidth=1.5,
                label="Pareto front", zorder=2)
        ax.legend(loc="best")
    if metric == "ppl":
        errors = [row.value("ppl_unc") or 0.0 for row, _, _ in shown]
        ax.errorbar([s for _, s, _ in shown], [q for _, _, q in shown], yerr=errors, fmt="none",
                    ecolor=_POINT_COLOR, capsize=2, zorder=3)
    # Neighbours by size get labels above and below in turn, so close points stay readable.
    for i, (row, size, quality) in enumerate(sorted(shown, key=lambda p: p[1])):
        ax.annotate(short_label(row), (size, quality), textcoords="offset points",
                    xytext=(5, 5 if i % 2 == 0 else -12), fontsize=8)
    if log_y:
        ax.set_yscale("log")
    if _spans_decades([s for _, s, _ in shown], 8.0):
        ax.set_xscale("log")
    ax.set_xlabel("file size (MiB)")
    ax.set_ylabel(axis + (" (log scale)" if log_y else ""))
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    caption = f"Lower and further left is better; the red steps join the variants no other variant beats on both size and {metric}."
    if hidden:
        caption += " Not drawn on the log axis (value 0): " + ", ".join(r.variant.name for r in hidden) + "."
    return Plot(title, caption, png(figure))


def _task_plot(report: Report) -> Plot:
    from matplotlib.figure import Figure

    rows = list(report.rows)
    keys = list(report.task_columns)
    width = 0.8 / len(keys)
    figure = Figure(figsize=(max(7.5, 0.75 * len(rows) + 2), 4.6))
    ax = figure.subplots()
    for k, key in enumerate(keys):
        xs, heights, errors = [], [], []
        for i, row in enumerate(rows):
            metric = row.task_metric(key)
            if metric is not None:
                xs.append(i + (k - (len(keys) - 1) / 2) * width)
                heights.append(metric.value)
                errors.append(metric.stderr or 0.0)
        ax.bar(xs, heights, width=width, yerr=errors, capsize=2, label=key.replace(".", " "), zorder=3)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([short_label(row) for row in rows], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("score (± stderr)")
    ax.set_title("Task scores by variant (sorted by size)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    caption = "Bars are lm-eval scores on the same documents for every variant; whiskers are lm-eval's standard errors."
    return Plot("Task scores by variant", caption, png(figure))
