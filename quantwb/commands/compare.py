"""`quantwb compare`: records in, the memory-vs-quality report out, optionally gated for CI."""

from __future__ import annotations

from pathlib import Path

import click

from quantwb.reports.compare import CompareOptions
from quantwb.reports.compare import compare as build
from quantwb.reports.gate import Threshold, parse_threshold, raise_for_breaches
from quantwb.reports.regression import raise_for_regressions
from quantwb.reports.render import format_for, render, write_report
from quantwb.reports.terminal import print_report
from quantwb.reports.variants import METRICS

FORMAT_NAMES = ("md", "html", "json", "csv")


def _metrics_help() -> str:
    """The metric names --fail-on and the JSON/CSV output know, one a line, from METRICS."""
    width = max(map(len, METRICS))
    lines = [f"  {name:<{width}}  {d.description}{f' ({d.unit})' if d.unit else ''}" for name, d in METRICS.items()]
    example = "TASK.METRIC"
    lines.append(f"  {example:<{width}}  a task score, e.g. arc_easy.acc_norm")
    return "\b\nMetrics for --fail-on (also the JSON/CSV metric names):\n" + "\n".join(lines)


def _metric_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _thresholds(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[Threshold, ...]:
    return tuple(parse_threshold(value) for value in values)


@click.command(epilog=_metrics_help())
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), help="Output format (default: from --out's suffix, else a terminal table).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here (atomically) instead of stdout.")
@click.option("--baseline", metavar="NAME", help="Use only records measured against this baseline (name or sha256 prefix).")
@click.option("--allow-mixed-baselines", is_flag=True,
              help="Put records with different baselines in one report (KLD/PPL ratios then do not compare).")
@click.option("--fail-on", "thresholds", multiple=True, metavar="EXPR", callback=_thresholds,
              help="Exit 5 if [VARIANT:]METRIC OP NUMBER holds for any variant, e.g. 'kld_mean>0.05', "
                   "'Q2_K:ppl_ratio>1.5', 'arc_easy.acc<0.4', '*gptq*:kld_p99>1'. OP: > >= < <=. "
                   "VARIANT: name, quant type or glob. METRIC.lo / METRIC.hi test the low / high end of the "
                   "metric's 95% interval ('kld_mean.lo>0.05': certain breach). Repeatable; every breach is named.")
@click.option("--against", metavar="VARIANT",
              help="Reference of the paired Δ columns and answer flips (name, quant type or glob; default: the baseline).")
@click.option("--previous", type=click.Path(exists=True, path_type=Path), metavar="OLD",
              help="An earlier run (records folder/files or its report.json) for --fail-on-regression; variants match by name.")
@click.option("--fail-on-regression", "regression", metavar="METRICS", callback=_metric_list,
              help="Exit 5 if a variant is worse than in --previous beyond the combined 95% uncertainty on any of "
                   "these comma-separated metrics, e.g. 'kld_mean,arc_easy.acc'. Every regression is named.")
def compare(results: tuple[Path, ...], fmt: str | None, out: Path | None, baseline: str | None,
            allow_mixed_baselines: bool, thresholds: tuple[Threshold, ...], against: str | None, previous: Path | None,
            regression: tuple[str, ...]) -> None:
    """Compare the records in RESULTS (files, folders, globs): one row per variant, sorted by size.

    Shows format, method, bits per weight, size, peak RAM, PPL and PPL ratio, mean and p99 KLD,
    same-top %, task scores and tokens/s; marks the Pareto-optimal variants (★: no other variant is
    both smaller and better). The metrics --fail-on knows are listed below.
    """

    report = build(list(results), CompareOptions(baseline, allow_mixed_baselines, thresholds, against, previous, regression))
    chosen = format_for(out, fmt)
    if out is not None:
        write_report(report, chosen or "md", out)
        click.echo(f"wrote {out} ({len(report.rows)} variants)", err=True)
    elif chosen is None:
        print_report(report)
    else:
        click.echo(render(report, chosen), nl=False)
    raise_for_breaches(report.breaches)
    raise_for_regressions(report.regressions)


COMMANDS = [compare]
