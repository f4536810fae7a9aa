"""The Ray executor (driver side): every chain of a sweep becomes a Ray task that Ray schedules over a cluster.

Per model, one task resolves the model and computes the base pass; that model's chain tasks take its result
(an ObjectRef) as their argument, so Ray starts them only after it, and a chain on another node copies the
cache through Ray. An ObjectRef, not a lock on a shared home, because the cluster need not share a disk.
Each chain task reserves `num_cpus` = the plan's threads, a GPU when its device is an accelerator, and
`memory` from the weights' bytes; a task whose worker dies is run again (`max_retries`), and the sweep names it.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from quantwb import defaults
from quantwb.devices import is_accelerator
from quantwb.errors import InputError
from quantwb.fileio import write_json_atomic
from quantwb.sweep.chain import Chain, EventSink
from quantwb.sweep.plan import model_slug
from quantwb.sweep.ray_tasks import ChainOutcome, ModelFacts, Target, chain_files, failed_events, prepare_model, run_chain_task
from quantwb.sweep.step_kinds import planned_steps
from quantwb.sweep.steps import forget

log = logging.getLogger(__name__)

INSTALL_HINT = "--executor ray needs Ray, which is not installed: pip install 'quantwb[ray]'"
ChainStatus = Literal["queued", "running", "retried", "done", "failed"]
_GIB = 2**30


@dataclass(frozen=True)
class RayOptions:
    """Which cluster, and whether workers write straight into the results folder."""

    address: str | None = None  # None: $RAY_ADDRESS, else a local Ray instance; "auto": the cluster `ray start` began here
    shared_results: bool | None = None  # None: each task checks whether it sees the driver's results folder
    max_retries: int = defaults.RAY_MAX_RETRIES


@dataclass(frozen=True)
class ChainEvent:
    """A chain (or a model's base pass) changed state on the cluster."""

    chain: str  # model/variant, or "model base pass"
    status: ChainStatus
    node: str = ""
    wall_s: float = 0.0
    detail: str = ""
    pid: int | None = None  # the worker process, while running


ChainSink = Callable[[ChainEvent], None]


def require_ray() -> None:
    """Fail in one line, before anything is written, when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise InputError(INSTALL_HINT) from None


def chain_resources(threads: int, device: str, weight_bytes: int | None, cluster_gpus: float) -> dict[str, Any]:
    """Ray resources of one chain task: its threads' CPUs, a GPU on an accelerator, memory from the weights' bytes."""
    accelerator = is_accelerator(device) or (device == "auto" and cluster_gpus > 0)
    resources: dict[str, Any] = {"num_cpus": threads, "num_gpus": 1 if accelerator else 0}
    if weight_bytes is not None:
        # The weights as loaded, a second copy while quantizing or converting, and ~1 GiB for the interpreter,
        # torch and llama.cpp: an estimate, so Ray does not put more chains on a node than its memory holds.
        resources["memory"] = 2 * weight_bytes + _GIB
    return resources


def run_on_ray(chains: list[Chain], options: RayOptions, emit: EventSink, on_chain: ChainSink | None = None) -> tuple[str, ...]:
    """Run every chain as a Ray task, passing each step event to `emit`; returns the chains Ray ran again."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        _connect(ray, options.address)
    try:
        return _Driver(ray, chains, options, emit, on_chain or (lambda event: None)).run()
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray: Any, address: str | None) -> None:
    local = address is None and not os.environ.get("RAY_ADDRESS")
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                 **({"include_dashboard": False} if local else {}))
    except ConnectionError as err:
        raise InputError(f"cannot reach the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: {err}") from None


class _Driver:
    """Submits the base tasks, then each model's chains as its base finishes; writes what the chains return."""

    def __init__(self, ray: Any, chains: list[Chain], options: RayOptions, emit: EventSink, on_chain: ChainSink) -> None:
        self.ray, self.options, self.emit, self.on_chain = ray, options, emit, on_chain
        self.chains = [replace(c, threads=c.plan.threads or defaults.RAY_THREADS) for c in chains]
        self.results_dir = chains[0].results_dir
        self.token = secrets.token_hex(16)
        self.attempts: dict[str, int] = {}
        self.retried: list[str] = []

    def run(self) -> tuple[str, ...]:
        from ray.util.queue import Queue

        target = Target(self.results_dir, self.token, self.options.shared_results)
        target.probe.write_text(self.token)
        progress = Queue(actor_options={"num_cpus": 0})
        bases: dict[Any, list[Chain]] = {}
        running: dict[Any, Chain] = {}
        try:
            for model in dict.fromkeys(c.model for c in self.chains):
                of_model = [c for c in self.chains if c.model == model]
                task = self.ray.remote(prepare_model).options(num_cpus=of_model[0].threads, max_retries=self.options.max_retries)
                bases[task.remote(of_model[0], progress)] = of_model
            for chain in self.chains:
                self.on_chain(ChainEvent(_label(chain), "queued"))
            while bases or running:
                ready, _ = self.ray.wait([*bases, *running], num_returns=1, timeout=0.5)
                self._drain(progress)
                for ref in ready:
                    if ref in bases:
                        for chain in bases.pop(ref):
                            running[self._submit(chain, ref, progress, target)] = chain
                    else:
                        self._finish(running.pop(ref), ref)
            self._drain(progress)
        finally:
            for ref in [*bases, *running]:
                self.ray.cancel(ref, force=True)  # an interrupted sweep leaves nothing running on the cluster
            progress.shutdown(force=True)
            target.probe.unlink(missing_ok=True)
        return tuple(self.retried)

    def _submit(self, chain: Chain, base: Any, progress: Any, target: Target) -> Any:
        try:
            facts: ModelFacts | None = self.ray.get(base)
        except Exception as err:  # the chains then run the base pass themselves, and fail with its reason if it fails
            log.warning("%s base pass failed on Ray: %s", model_slug(chain.model), _one_line(err))
            facts, base = None, None
        resources = chain_resources(chain.threads or defaults.RAY_THREADS, chain.device,
                                    facts.weight_bytes if facts else None, self.ray.cluster_resources().get("GPU", 0))
        task = self.ray.remote(run_chain_task).options(**resources, max_retries=self.options.max_retries, retry_exceptions=False)
        seed, _ = chain_files(chain)  # the driver's markers of this chain and their records: a worker without them still skips
        return task.remote(chain, base, progress, replace(target, seed=seed))

    def _finish(self, chain: Chain, ref: Any) -> None:
        try:
            outcome: ChainOutcome = self.ray.get(ref)
        except Exception as err:  # the worker died more often than max_retries allows, or Ray itself failed
            events, node, wall_s = failed_events(chain, f"Ray task failed: {_one_line(err)}"), "", 0.0
            note = ""
        else:
            events, node, wall_s = outcome.events, outcome.node.label, outcome.wall_s
            note = f"base cache copied from {outcome.base_copied_from}" if outcome.base_copied_from else ""
            if not outcome.shared:
                self._write_back(chain, outcome)
        for event in events:
            self.emit(event)
        failed = next((e for e in events if e.status == "failed"), None)
        self.on_chain(ChainEvent(_label(chain), "failed" if failed else "done", node, wall_s, failed.detail if failed else note))

    def _drain(self, progress: Any) -> None:
        """Show the tasks that started; a chain that starts twice was retried (its first worker died)."""
        for _, label, node, pid in progress.get_nowait_batch(progress.qsize()):
            self.attempts[label] = self.attempts.get(label, 0) + 1
            if self.attempts[label] == 2:
                self.retried.append(label)
                self.on_chain(ChainEvent(label, "retried", node, detail="its worker died; Ray runs it again"))
            self.on_chain(ChainEvent(label, "running", node, pid=pid))

    def _write_back(self, chain: Chain, outcome: ChainOutcome) -> None:
        """Write the records and markers a worker returned, exactly where the local executor writes them."""
        for step in planned_steps(chain):
            if step.kind in outcome.gone:
                forget(self.results_dir, step)  # the worker dropped this stale step: so does the driver
        for name, payload in sorted(outcome.files.items(), key=lambda item: item[0].startswith("steps/")):
            write_json_atomic(self.results_dir / name, payload)  # records first, markers last, as run_chain does


def _label(chain: Chain) -> str:
    return f"{model_slug(chain.model)}/{chain.variant.id}"


def _one_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1].strip() if lines else ''}"
