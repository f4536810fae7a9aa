"""`quantwb recommend RESULTS --max-size 100MiB [--max-ram 700MiB --ctx 8192] [--min-gen-tps 100] [--by kld_mean]`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from quantwb.commands.options import budget_options
from quantwb.reports.compare import CompareOptions, compare
from quantwb.reports.recommend import DEFAULT_BY, Budgets, recommend


@click.command("recommend")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@budget_options
@click.option("--by", default=DEFAULT_BY, show_default=True, metavar="METRIC",
              help="What 'best' means: kld_mean, ppl_ratio, any metric of `quantwb compare --help`, or TASK.METRIC.")
@click.option("--baseline", metavar="NAME", help="Use only records measured against this baseline.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def recommend_command(results: tuple[Path, ...], budgets: Budgets, by: str, baseline: str | None, fmt: str) -> None:
    """Name the best variant in RESULTS that meets every budget, with the runner-up and whether the difference
    exceeds its uncertainty. Exit 5 (one line naming the budget) when none fits."""
    report = compare(list(results), CompareOptions(baseline=baseline))
    choice = recommend(report, budgets, by)
    click.echo(json.dumps(choice.to_dict(), indent=2) if fmt == "json" else "\n".join(choice.lines()))


COMMANDS = [recommend_command]
