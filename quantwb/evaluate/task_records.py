"""Records with evaluation="tasks": one per variant, written only after all its tasks completed."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from quantwb.evaluate import task_packs
from quantwb.evaluate.positions import write_sidecar
from quantwb.evaluate.tasks import TaskConfig, run_tasks
from quantwb.records import BaselineInfo, Record, VariantInfo, environment, now_utc, write_record
from quantwb.versions import library_versions

log = logging.getLogger(__name__)


def check_tasks(config: TaskConfig) -> None:
    """Fail on an unknown task or missing task data before any model is loaded."""
    task_packs.resolve_tasks(config.tasks, config.tasks_dir, config.text)


def write_task_records(
    variants: list[VariantInfo], baseline: BaselineInfo, config: TaskConfig, out_dir: Path
) -> list[Path]:
    """Run `config` on each variant (HF folder or GGUF file at variant.path); returns the record paths."""
    paths = []
    for variant in variants:
        log.info("%s: lm-eval tasks %s", variant.name, ", ".join(config.tasks))
        with _spinner(f"{variant.name}: lm-eval {', '.join(config.tasks)}"):
            result = run_tasks(Path(variant.path), config, variant_sha256=variant.sha256)
        samples = None
        if result.samples:  # per-document scores beside the record, for answer flips against the baseline
            arrays = {key: np.asarray(values, dtype=np.float32) for key, values in result.samples.items()}
            samples = write_sidecar(arrays, Path(out_dir) / f"{variant.name}.tasks.npz")
        record = Record(
            evaluation="tasks",
            created_at=now_utc(),
            variant=variant,
            baseline=baseline,
            metrics=list(result.metrics),
            task_settings=result.settings,
            library_versions=library_versions(),
            environment=environment(),
            samples=samples,
        )
        paths.append(write_record(record, Path(out_dir)))
    return paths


def _spinner(description: str):
    """lm-eval's own bars are off outside --verbose: show that work goes on, and for how long."""

    console = Console(stderr=True)  # a spinner only on a terminal: in a pipe or log, it leaves a blank line
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=console, transient=True, disable=not console.is_terminal)
    progress.add_task(description, total=None)
    return progress
