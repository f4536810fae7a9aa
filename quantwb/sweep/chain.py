"""What the step kinds, the runner and the executors share: a variant's chain and the events of its steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from quantwb.sweep.plan import Plan, VariantPlan
from quantwb.sweep.steps import Step

Status = Literal["cached", "done", "failed", "skipped"]


@dataclass(frozen=True)
class Chain:
    """Everything a worker process needs to run one variant's steps (picklable)."""

    plan: Plan
    model: str
    variant: VariantPlan
    results_dir: Path
    threads: int | None
    code_version: str  # taken once by the parent, so every worker keys steps alike
    device: str = "cpu"  # auto, cpu, cuda or cuda:N; resolved by the process that runs the chain


@dataclass(frozen=True)
class StepEvent:
    """What happened to one step: cached (skipped, outputs reused), done, failed or skipped (and why)."""

    step: Step
    status: Status
    wall_s: float = 0.0
    detail: str = ""


EventSink = Callable[[StepEvent], None]
