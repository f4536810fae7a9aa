"""`quantwb compare`: records in, the memory-vs-quality report out, optionally gated for CI."""

from __future__ import annotations

from pathlib import Path

import click

from quantwb import defaults
from quantwb.commands.options import budget_options
from quantwb.errors import InputError, NoFitError
from quantwb.reports.compare import CompareOptions
from quantwb.reports.compare import compare as build
from quantwb.reports.gate import Threshold, parse_threshold, raise_for_breaches
from quantwb.reports.recommend import DEFAULT_BY, Budgets, recommend
from quantwb.reports.regression import raise_for_regressions
from quantwb.reports.render import format_for, render, write_report
from quantwb.reports.terminal import print_report
from quantwb.reports.variants import METRICS
from quantwb.sweep.plan import load_plan

FORMAT_NAMES = ("md", "html", "json", "csv")


def _metrics_help() -> str:
    """The metric names --fail-on and the JSON/CSV output know, one a line, from METRICS."""
    width = max(map(len, METRICS))
    lines = [f"  {name:<{width}}  {d.description}{f' ({d.unit})' if d.unit else ''}" for name, d in METRICS.items()]
    example = "TASK.METRIC"
    lines.append(f"  {example:<{width}}  a task score, e.g. arc_easy.acc_norm")
    return "\b\nMetrics for --fail-on (also the JSON/CSV metric names):\n" + "\n".join(lines)


def _default_records() -> Path:
    """The records folder `quantwb sweep` writes for its default plan, or one line saying how to make it."""
    plan = load_plan(None)
    folder = Path(defaults.RESULTS_DIR) / plan.name / "records"  # sweep/run_plan.py: <results>/records/<model>
    if not folder.is_dir() or not any(folder.rglob("*.json")):
        raise InputError(f"no RESULTS given and no records in {folder}: run `quantwb sweep` to make them (the default "
                         "plan), or pass record files or folders")
    click.echo(f"no RESULTS given: comparing {folder}", err=True)
    return folder


def _metric_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _thresholds(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[Threshold, ...]:
    return tuple(parse_threshold(value) for value in values)


@click.command(epilog=_metrics_help())
@click.argument("results", nargs=-1, type=click.Path(path_type=Path))
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
@budget_options
@click.option("--by", default=DEFAULT_BY, show_default=True, metavar="METRIC",
              help="With a budget: the metric the recommendation above the table is best by (see `quantwb recommend`).")
def compare(results: tuple[Path, ...], fmt: str | None, out: Path | None, baseline: str | None,
            allow_mixed_baselines: bool, thresholds: tuple[Threshold, ...], against: str | None, previous: Path | None,
            regression: tuple[str, ...], budgets: Budgets, by: str) -> None:
    """Compare the records in RESULTS (files, folders, globs; default: the records of `quantwb sweep`'s default plan,
    results/default): one row per variant, sorted by size.

    Shows format, method, bits per weight, size, peak RAM, PPL and PPL ratio, mean and p99 KLD,
    same-top %, task scores and tokens/s; marks the Pareto-optimal variants (★: no other variant is
    both smaller and better). The metrics --fail-on knows are listed below.
    """

    report = build(list(results) or [_default_records()],
                   CompareOptions(baseline, allow_mixed_baselines, thresholds, against, previous, regression))
    chosen = format_for(out, fmt)
    if budgets.given:  # the recommendation goes above the table (stderr when the table goes to a file or a machine format)
        try:
            line = "\n".join(recommend(report, budgets, by).lines())
        except NoFitError as err:
            line = f"recommended: none ({err})"
        click.echo(line, err=out is not None or chosen in ("json", "csv"))
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
