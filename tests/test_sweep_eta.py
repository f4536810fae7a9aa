"""The sweep's `[n/N, ~T + k untimed left]`: counted from the plan's steps, estimated only from this run's
measured steps of the same kind and method."""

from __future__ import annotations

from quantwb.sweep.chain import StepEvent
from quantwb.sweep.eta import PlannedStep, SweepClock
from quantwb.sweep.steps import Step


def _event(variant: str, kind: str, status: str = "done", wall_s: float = 0.0) -> StepEvent:
    return StepEvent(Step("m", variant, kind, ""), status, wall_s)  # type: ignore[arg-type]


def _plan() -> list[PlannedStep]:
    return [PlannedStep(f"m/{variant} {kind}", kind, method)  # type: ignore[arg-type]
            for variant, method in (("base", "fp"), ("Q8_0", "gguf"), ("Q4_0", "gguf"), ("awq", "awq"))
            for kind in (("text",) if method == "fp" else ("quantize", "text"))]


def test_estimate_is_the_mean_of_the_same_kind_and_method_over_the_parallel_chains() -> None:
    clock = SweepClock(_plan(), parallel=1)
    assert clock.observe(_event("base", "text", wall_s=100)) == "[1/7, 6 untimed left]"  # fp's text says nothing of gguf's
    assert clock.observe(_event("Q8_0", "quantize", wall_s=10)) == "[2/7, ~10 s + 4 untimed left]"  # Q4_0's quantize
    assert clock.observe(_event("Q8_0", "text", wall_s=100)) == "[3/7, ~2 min + 2 untimed left]"
    assert clock.estimate() == (110, 2)  # awq's quantize and text: no precedent, never guessed from the GGUFs'
    clock.observe(_event("Q4_0", "quantize", wall_s=30))  # GGUF quantizes now average 20 s
    clock.observe(_event("awq", "quantize", wall_s=600))
    assert clock.estimate() == (100, 1)
    parallel = SweepClock(_plan(), parallel=2)
    for event in (_event("base", "text", wall_s=100), _event("Q8_0", "quantize", wall_s=10), _event("Q8_0", "text", wall_s=100)):
        parallel.observe(event)
    assert parallel.estimate() == (55, 2)  # four steps left over two workers


def test_cached_steps_are_progress_not_timings() -> None:
    clock = SweepClock(_plan(), parallel=1)
    assert clock.observe(_event("base", "text", status="cached")) == "[1/7, 6 untimed left]"
    for variant, kind in (("Q8_0", "quantize"), ("Q8_0", "text"), ("Q4_0", "quantize"), ("Q4_0", "text"),
                          ("awq", "quantize")):
        clock.observe(_event(variant, kind, status="cached"))
    assert clock.observe(_event("awq", "text", status="failed")) == "[7/7]"


def test_on_ray_only_the_count() -> None:
    clock = SweepClock(_plan(), parallel=None)
    clock.observe(_event("base", "text", wall_s=100))
    assert clock.observe(_event("Q8_0", "quantize", wall_s=10)) == "[2/7]"
