"""`run_sweep(plan, options)`: make and measure every variant of a plan, skip what is cached, end with the report.

Results tree (one folder per run, relocatable):
    artifacts/<model>/   quantized variants (GGUF files, HF folders)
    records/<model>/     one JSON record per variant and evaluation (what `quantwb compare` reads)
    steps/<model>/       completion markers with cache keys (see steps.py)
    report[-<model>].{md,html,json}
Each variant is a chain quantize → text → tasks; chains are independent, so `--jobs N` runs N at once
and a CI matrix runs one per job (`plan_matrix`), merging the records afterwards with `quantwb compare`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from quantwb import defaults
from quantwb.devices import check_device
from quantwb.errors import InputError, QuantwbError
from quantwb.interrupts import interrupts_blocked_for_children
from quantwb.reports.compare import compare
from quantwb.reports.render import write_report
from quantwb.sweep.chain import Chain, EventSink, Status, StepEvent
from quantwb.sweep.eta import PlannedStep
from quantwb.sweep.plan import Plan, model_slug
from quantwb.sweep.plan_check import check_plan
from quantwb.sweep.ray_executor import ChainSink, RayOptions, require_ray, run_on_ray
from quantwb.sweep.run_chain import run_chain
from quantwb.sweep.step_kinds import planned_steps
from quantwb.sweep.steps import code_version, remove_partials_under, results_lock
from quantwb.workers import quiet_resource_tracker, stop_workers, worker_init

REPORT_FORMATS = ("md", "html", "json")


@dataclass(frozen=True)
class SweepOptions:
    """Where results go and which part of the plan to run."""

    results_dir: Path = Path(defaults.RESULTS_DIR)
    jobs: int = defaults.JOBS
    variants: tuple[str, ...] = ()  # run only these variant ids (one CI matrix job); empty: all
    models: tuple[str, ...] = ()  # run only these models; empty: all
    report: bool = True
    executor: Literal["local", "ray"] | None = None  # None: the plan's
    ray: RayOptions = RayOptions()
    device: str | None = None  # overrides the plan's `device`


@dataclass(frozen=True)
class SweepResult:
    events: tuple[StepEvent, ...]
    reports: tuple[Path, ...] = field(default=())
    retried: tuple[str, ...] = ()  # chains Ray ran again because their worker died

    def count(self, status: Status) -> int:
        return sum(event.status == status for event in self.events)


# the steps to come, and how many chains run at once (None: the cluster decides)
PlanSink = Callable[[list[PlannedStep], int | None], None]


def run_sweep(plan: Plan, options: SweepOptions, on_event: EventSink | None = None, on_chain: ChainSink | None = None,
              on_plan: PlanSink | None = None) -> SweepResult:
    """Run the plan's missing steps; `on_event` sees each step's outcome as it happens (`on_chain`: Ray chains' states,
    `on_plan`: the steps before the first runs)."""
    if options.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {options.jobs}")
    on_ray = (options.executor or plan.executor) == "ray"
    if on_ray:
        require_ray()
        if options.jobs != 1:
            raise InputError("--jobs is for the local executor; on Ray, the cluster's CPUs and the plan's `threads` decide")
    results_dir = options.results_dir.resolve()
    chains = _chains(plan, options, results_dir)
    check_plan(plan, options.models, options.variants)  # a wrong entry: exit 2 now, not a failed step an hour in
    if on_plan is not None:
        on_plan(progress_steps(chains), None if on_ray else options.jobs)
    events: list[StepEvent] = []
    retried: tuple[str, ...] = ()

    def emit(event: StepEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    with results_lock(results_dir):
        if on_ray:
            retried = run_on_ray(chains, options.ray, emit, on_chain)
        elif options.jobs == 1 or len(chains) == 1:
            for chain in chains:
                run_chain(chain, emit)
        else:
            quiet_resource_tracker()  # before the first chain's measurement pool starts it on the terminal's stderr
            # The first chain alone computes the shared base pass; the rest then fan out over the workers.
            run_chain(chains[0], emit)
            # spawn, not fork: forking a process that already runs torch's thread pools can deadlock the child.
            with ProcessPoolExecutor(max_workers=options.jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=worker_init, initargs=(os.getpid(),)) as pool:
                try:
                    with interrupts_blocked_for_children():  # the workers start here
                        futures = [pool.submit(run_chain, chain, None) for chain in chains[1:]]
                    for future in as_completed(futures):
                        for event in future.result():
                            emit(event)
                except BaseException:
                    stop_workers(pool)  # Ctrl-C: cancel the queued chains and stop the running ones, exit now
                    remove_partials_under(results_dir)  # what the stopped workers were writing
                    raise
        reports = _write_reports(plan, options, results_dir) if options.report else []
    failed = [e for e in events if e.status == "failed"]
    if failed:
        raise QuantwbError(f"sweep: {len(failed)} step(s) failed: " + "; ".join(f"{e.step.label}: {e.detail}" for e in failed)
                           + (f" (report written for the rest: {reports[0]})" if reports else "")
                           + (f" (retried after their worker died: {', '.join(retried)})" if retried else ""))
    return SweepResult(tuple(events), tuple(reports), retried)


def progress_steps(chains: list[Chain]) -> list[PlannedStep]:
    """Every step of the sweep with what its progress estimate goes by (kind and method)."""
    return [PlannedStep(step.label, step.kind, chain.variant.method) for chain in chains for step in planned_steps(chain)]


def plan_matrix(plan: Plan, models: tuple[str, ...] = ()) -> dict[str, list[dict[str, str]]]:
    """The plan as a CI matrix: one entry per (model, variant), GitHub Actions' `include` shape."""
    chosen = [m for m in plan.models if not models or m in models]
    return {"include": [{"model": m, "variant": v.id} for m in chosen for v in plan.variants]}


def _chains(plan: Plan, options: SweepOptions, results_dir: Path) -> list[Chain]:
    unknown = [v for v in options.variants if v not in {variant.id for variant in plan.variants}]
    if unknown:
        plan.variant(unknown[0])  # raises InputError listing the plan's variants
    missing = [m for m in options.models if m not in plan.models]
    if missing:
        raise InputError(f"model {missing[0]!r} is not in plan {plan.name} (models: {', '.join(plan.models)})")
    threads = plan.threads or (max(1, (os.cpu_count() or 1) // options.jobs) if options.jobs > 1 else None)
    code = code_version()
    # checked here, resolved where the chain runs (`auto` means the worker's accelerator, on a cluster too)
    device = check_device(options.device or plan.device)
    return [
        Chain(plan, model, variant, results_dir, threads, code, device)
        for model in plan.models if not options.models or model in options.models
        for variant in plan.variants if not options.variants or variant.id in options.variants
    ]


def _write_reports(plan: Plan, options: SweepOptions, results_dir: Path) -> list[Path]:
    """md, html and json reports per model, from every record under its records folder."""

    written = []
    models = [m for m in plan.models if not options.models or m in options.models]
    for model in models:
        records = results_dir / "records" / model_slug(model)
        if not records.is_dir():
            continue
        report = compare([records])  # an inconsistent set is an error: a report must not mix measurements
        report = replace(report, code_version=code_version())  # every step of this sweep was keyed by it
        stem = "report" if len(plan.models) == 1 else f"report-{model_slug(model)}"
        for fmt in REPORT_FORMATS:
            written.append(write_report(report, fmt, results_dir / f"{stem}.{fmt}"))
    return written
