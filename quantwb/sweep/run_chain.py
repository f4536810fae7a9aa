"""One variant's chain run in order: cached steps are reused, a failed step skips the steps that need it."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator

from quantwb.errors import QuantwbError
from quantwb.sweep.chain import Chain, EventSink, StepEvent
from quantwb.sweep.plan import model_slug
from quantwb.sweep.step_kinds import ChainState, chain_steps
from quantwb.sweep.steps import Step, completed_outputs, forget, mark_done

log = logging.getLogger(__name__)

def run_chain(chain: Chain, emit: EventSink | None) -> list[StepEvent]:
    """quantize → text → tasks for one variant; returns every step's event (also passed to `emit` as it happens)."""
    with _thread_limit(chain.threads):
        return _run_steps(chain, emit)


def _run_steps(chain: Chain, emit: EventSink | None) -> list[StepEvent]:
    events: list[StepEvent] = []

    def record(event: StepEvent) -> None:
        events.append(event)
        if emit is not None:
            emit(event)

    blocked = ""
    for runner in chain_steps(ChainState(chain)):
        step = Step(model_slug(chain.model), chain.variant.id, runner.kind, "")
        if blocked:
            record(StepEvent(step, "skipped", detail=blocked))
            continue
        try:
            step = Step(step.model, step.variant, step.kind, runner.key())
            outputs = completed_outputs(chain.results_dir, step)
            if outputs is not None:
                runner.reuse(outputs)
                record(StepEvent(step, "cached"))
                continue
            forget(chain.results_dir, step)
            started = time.perf_counter()
            outputs = runner.run()
            wall_s = time.perf_counter() - started
            mark_done(chain.results_dir, step, outputs, wall_s)
            record(StepEvent(step, "done", wall_s))
        except QuantwbError as err:
            blocked = f"needs {step.label}, which failed"
            record(StepEvent(step, "failed", detail=str(err)))
        except Exception as err:  # a backend bug must not sink the other variants; it is reported, not hidden
            log.error("%s failed: %s: %s", step.label, type(err).__name__, err)
            log.debug("traceback of %s", step.label, exc_info=True)
            blocked = f"needs {step.label}, which failed"
            record(StepEvent(step, "failed", detail=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"))
    return events


@contextlib.contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    """Share the cores between parallel chains: torch uses `threads` for the chain, then what it used before."""
    if threads is None:
        yield
        return
    import torch

    previous_env, previous = os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
        if previous_env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous_env
