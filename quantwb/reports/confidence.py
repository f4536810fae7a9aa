"""Where the damage is: KLD and top-1 agreement by the baseline's confidence (plot), and the worst positions (HTML)."""

from __future__ import annotations

from html import escape

from quantwb.reports.compare import Report
from quantwb.reports.plots import Plot, png, short_label


def confidence_plot(report: Report) -> Plot | None:
    """Mean KLD (log scale) and top-1 agreement per bucket of the base's top-1 probability, one line per variant."""
    rows = [row for row in report.rows if row.text is not None and row.text.kld_by_confidence and not row.is_baseline]
    if not rows:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.5, 4.2))
    kld_ax, top_ax = figure.subplots(1, 2)
    buckets = rows[0].text.kld_by_confidence  # type: ignore[union-attr]
    labels = [f"[{b.lo:.2g}, {b.hi:.2g}{']' if b.hi == 1.0 else ')'}" for b in buckets]
    for row in rows:
        points = row.text.kld_by_confidence  # type: ignore[union-attr]
        xs = [i for i, b in enumerate(points) if b.kld_mean is not None]
        kld_ax.plot(xs, [max(points[i].kld_mean, 1e-9) for i in xs], marker="o", label=short_label(row))  # type: ignore[type-var]
        top_ax.plot(xs, [100 * points[i].same_top_p for i in xs], marker="o", label=short_label(row))  # type: ignore[operator]
    for ax, ylabel in ((kld_ax, "mean KLD (nats, log scale)"), (top_ax, "top-1 agreement (%)")):
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_xlabel("baseline's top-1 probability")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    kld_ax.set_yscale("log")
    counts = ", ".join(f"{label}: {b.n_positions}" for label, b in zip(labels, buckets, strict=True))
    top_ax.legend(fontsize=7, loc="lower right")
    caption = (f"Each bucket holds the positions where the baseline's most likely token has that probability (positions: {counts}). "
               "Damage where the baseline is sure shows as wrong answers; where it is unsure, as changed sampling.")
    return Plot("KLD and top-1 agreement by the baseline's confidence", caption, png(figure))


def worst_positions_html(report: Report) -> str:
    """A collapsed table per variant: the positions with the largest KLD, with the text before them."""
    parts = []
    for row in report.rows:
        worst = row.text.worst_positions if row.text is not None else []
        if not worst:
            continue
        lines = "".join(
            f"<tr><td class=num>{w.kld:.3g}</td><td class=num>{w.window}</td><td class=num>{w.base_top_p:.2f}</td>"
            f'<td class="ctx">{escape(w.context)}<mark>{escape(w.target)}</mark></td>'
            f"<td><code>{escape(repr(w.base_top))}</code></td><td><code>{escape(repr(w.variant_top))}</code></td></tr>"
            for w in worst
        )
        parts.append(
            f"<details><summary>{escape(row.variant.name)}: the {len(worst)} positions with the largest KLD</summary>"
            '<div class="scroll"><table><thead><tr><th>KLD</th><th>window</th><th>base top-1 p</th>'
            "<th>context (next token marked)</th><th>base top-1</th><th>variant top-1</th></tr></thead>"
            f"<tbody>{lines}</tbody></table></div></details>"
        )
    if not parts:
        return ""
    return "<h2>Drill-down: largest KLD positions</h2>" + "".join(parts)
