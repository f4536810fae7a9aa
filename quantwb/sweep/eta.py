"""How far a sweep is, and about how long its remaining steps will take, judged from the steps it has run.

A step's time is predicted by the mean of the steps already run in this sweep with the same kind and method
(a Q4_K_M quantize by the GGUF quantizes done, an AWQ text pass by AWQ's): methods differ by orders of
magnitude (a cached GGUF quantize takes a second, AWQ minutes), so no other step stands in for them.
Remaining steps without such a precedent are counted, not guessed ("+ 2 untimed"); steps that came from the
cache count as progress but not as timings. On Ray the cluster decides how many chains run at once, so only
the count is shown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from quantwb.sweep.chain import StepEvent
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
        """`[done/total]`, with `~T left` for the remaining steps that have a measured precedent."""
        label = event.step.label
        self.finished.add(label)
        step = self.planned.get(label)
        if event.status == "done" and step is not None:
            self.times[(step.kind, step.method)].append(event.wall_s)
        position = f"{len(self.finished)}/{max(len(self.planned), len(self.finished))}"
        estimate = self.estimate()
        if estimate is None:
            return f"[{position}]"
        seconds, untimed = estimate
        if seconds == 0:
            return f"[{position}]" if untimed == 0 else f"[{position}, {untimed} untimed left]"
        return f"[{position}, ~{_duration(seconds)}{f' + {untimed} untimed' if untimed else ''} left]"

    def estimate(self) -> tuple[float, int] | None:
        """(seconds the timed remaining steps will take, how many remaining steps have no precedent);
        None where no estimate is possible (on Ray)."""
        if self.parallel is None:
            return None
        remaining = [step for label, step in self.planned.items() if label not in self.finished]
        work, untimed = 0.0, 0
        for step in remaining:
            precedent = self.times.get((step.kind, step.method))
            if precedent:
                work += sum(precedent) / len(precedent)
            else:
                untimed += 1
        return work / max(1, min(self.parallel, len(remaining))), untimed


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
