"""`quantwb sweep [PLAN]`: run a plan's missing steps (cached steps are skipped) and write the report."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from quantwb import defaults
from quantwb.commands.options import device_option
from quantwb.sweep import StepEvent, SweepOptions, plan_matrix, run_sweep
from quantwb.sweep.eta import PlannedStep, SweepClock
from quantwb.sweep.plan import load_plan
from quantwb.sweep.ray_executor import ChainEvent, RayOptions

_STYLES = {"cached": "dim", "done": "green", "failed": "bold red", "skipped": "yellow"}


@click.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="[PLAN.yaml]")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Results folder (default: results/<plan name>).")
@click.option("--jobs", default=defaults.JOBS, show_default=True, help="Variants made and measured at once (cores are shared between them).")
@click.option("--variant", "variants", multiple=True, metavar="ID", help="Run only this variant id (repeatable; ids: --matrix).")
@click.option("--model", "models", multiple=True, help="Run only this model of the plan (repeatable).")
@click.option("--matrix", is_flag=True, help="Print the plan's (model, variant) jobs as a JSON CI matrix and exit.")
@click.option("--no-report", is_flag=True, help="Skip the report (a CI matrix job; `quantwb compare` merges later).")
@device_option("calibration and evaluation", default=None, show_default="the plan's device, auto")
@click.option("--executor", type=click.Choice(["local", "ray"]), help="Run chains as local processes or as Ray tasks (default: the plan's).")
@click.option("--address", metavar="auto|HOST:PORT", help="Ray cluster to use (default: $RAY_ADDRESS, else a local Ray instance).")
@click.option("--shared-results/--no-shared-results", default=None,
              help="Ray workers write into --results directly / return records to this machine (default: detected per worker).")
def sweep(plan_file: Path | None, results_dir: Path | None, jobs: int, variants: tuple[str, ...],
          models: tuple[str, ...], matrix: bool, no_report: bool, executor: str | None, address: str | None,
          shared_results: bool | None, device: str | None) -> None:
    """Make and measure every variant in PLAN.yaml (default: the built-in plan on smollm2-135m).

    Steps already done with the same inputs (content hashes of model, variant spec, data and quantwb
    code) are skipped, so a second run only rewrites the report and an interrupted run resumes where it
    stopped. Writes artifacts/, records/ and report.{md,html,json} into the results folder.
    """
    plan = load_plan(plan_file)
    if matrix:
        click.echo(json.dumps(plan_matrix(plan, models)))
        return
    console = Console(stderr=True)
    clocks: list[SweepClock] = []

    def start(planned: list[PlannedStep], parallel: int | None) -> None:
        clocks.append(SweepClock(planned, parallel))

    def show(event: StepEvent) -> None:
        took = f" {event.wall_s:.1f} s" if event.status == "done" else ""
        detail = f" ({event.detail})" if event.detail else ""
        where = f"  {clocks[0].observe(event)}" if clocks else ""
        console.print(f"{event.status:<7} {event.step.label}{took}{detail}{where}", style=_STYLES[event.status],
                      markup=False, highlight=False)

    def show_chain(event: ChainEvent) -> None:
        where = f" on {event.node}" if event.node else ""
        took = f" in {event.wall_s:.1f} s" if event.status in ("done", "failed") else ""
        detail = f" ({event.detail})" if event.detail else ""
        console.print(f"chain {event.status:<7} {event.chain}{where}{took}{detail}", markup=False, highlight=False,
                      style="bold yellow" if event.status == "retried" else "dim")

    options = SweepOptions(results_dir or Path(defaults.RESULTS_DIR) / plan.name, jobs, variants, models, not no_report,
                           executor, RayOptions(address, shared_results), device)  # type: ignore[arg-type]
    result = run_sweep(plan, options, on_event=show, on_chain=show_chain, on_plan=start)
    retried = f"; retried after their worker died: {', '.join(result.retried)}" if result.retried else ""
    console.print(f"{len(result.events)} steps: {result.count('done')} run, {result.count('cached')} cached{retried}", highlight=False)
    for path in result.reports:
        click.echo(str(path))


COMMANDS = [sweep]
