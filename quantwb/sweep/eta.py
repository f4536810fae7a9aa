"""How far a sweep is, and about how long its remaining steps will take, judged from the steps it has run.

A step's time is predicted by the mean of the steps already run with the same kind and method (a Q4_K_M
quantize by the GGUF quantizes done, an AWQ by the AWQs), else of the same kind; steps that came from the
cache count as progress but not as timings. Until every remaining step has such a precedent no estimate is
given: a guess without a measured basis would be a number quantwb did not measure. On Ray the cluster decides
how many chains run at once, so only the count is shown.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from quantwb.sweep.runner import StepEvent
from quantwb.sweep.steps import StepKind


@dataclass(frozen=True)
class PlannedStep:
    """What predicts a step's time: its kind and its variant's method (`fp` for the unquantized base)."""

    label: str  # Step.label: model/variant kind
    kind: StepKind
    method: str


class SweepClock:
    """Counts the sweep's steps as their events arrive and estimates the time the rest will take."""

    def __init__(self, planned: list[PlannedStep], parallel: int | None) -> None:
        self.planned = {step.label: step for step in planned}
        self.parallel = parallel  # chains at once; None: unknown (no estimate)
        self.finished: set[str] = set()
        self.times: dict[tuple[StepKind, str], list[float]] = defaultdict(list)

    def observe(self, event: StepEvent) -> str:
        """`[done/total]`, with `~N min left` once every remaining step has a measured precedent."""
        label = event.step.label
        self.finished.add(label)
        step = self.planned.get(label)
        if event.status == "done" and step is not None:
            self.times[(step.kind, step.method)].append(event.wall_s)
        total = max(len(self.planned), len(self.finished))
        position = f"{len(self.finished)}/{total}"
        left = self.seconds_left()
        return f"[{position}]" if left is None or left == 0 else f"[{position}, ~{_duration(left)} left]"

    def seconds_left(self) -> float | None:
        remaining = [step for label, step in self.planned.items() if label not in self.finished]
        if not remaining:
            return 0.0
        if self.parallel is None:
            return None
        by_kind: dict[StepKind, list[float]] = defaultdict(list)
        for (kind, _), seconds in self.times.items():
            by_kind[kind].extend(seconds)
        work = 0.0
        for (kind, method), count in Counter((step.kind, step.method) for step in remaining).items():
            precedent = self.times.get((kind, method)) or by_kind.get(kind)
            if not precedent:
                return None
            work += count * sum(precedent) / len(precedent)
        return work / max(1, min(self.parallel, len(remaining)))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
