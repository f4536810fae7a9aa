"""What runs on a Ray worker: a model's base pass (once per model) and one variant's chain.

Results need no shared disk: unless the worker sees the driver's results folder (`Target.shared`), a chain
runs in a mirror under the worker's `QUANTWB_HOME/ray-results/`, seeded with the driver's markers and records
for that chain (so cached steps stay cached), and returns its markers and records for the driver to write.
Artifacts stay in the mirror. The base cache goes from the node that computed it to a node that lacks it
through Ray (a task pinned to the base's node reads the files), so no node needs another's disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from quantwb.devices import resolve_device
from quantwb.evaluate import base_cache
from quantwb.evaluate.pipeline import base_cache_key, evaluate_variants
from quantwb.fileio import sha256_text, write_json_atomic
from quantwb.home import quantwb_home
from quantwb.models import resolve
from quantwb.sweep.chain import Chain, StepEvent
from quantwb.sweep.plan import model_slug
from quantwb.sweep.run_chain import run_chain
from quantwb.sweep.step_kinds import planned_steps, text_eval_config
from quantwb.sweep.steps import code_version, marker_path
from quantwb.texts import load_text

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf")
Files = dict[str, Any]  # path relative to a results folder -> its JSON


@dataclass(frozen=True)
class Node:
    """The Ray node a task ran on."""

    node_id: str
    ip: str

    @property
    def label(self) -> str:
        return f"{self.ip} ({self.node_id[:8]})"


@dataclass(frozen=True)
class ModelFacts:
    """What the base task found: the node holding the base cache, its folder name, and the weights' bytes."""

    node: Node
    weight_bytes: int
    base_cache: str | None  # folder under QUANTWB_HOME/base-logprobs; None when the plan scores no text


@dataclass(frozen=True)
class Target:
    """The driver's results folder, how a worker tells whether it sees it, and what the driver already has."""

    results_dir: Path
    probe_token: str  # the driver wrote it to `probe`; a worker that reads it back shares the folder
    shared: bool | None = None  # None: detect with the probe
    seed: Files = field(default_factory=dict)  # the driver's markers and records of this chain

    @property
    def probe(self) -> Path:
        return self.results_dir / f".ray-probe-{self.probe_token[:12]}"

    def is_shared(self) -> bool:
        if self.shared is not None:
            return self.shared
        try:
            return self.probe.read_text() == self.probe_token
        except OSError:
            return False


@dataclass(frozen=True)
class ChainOutcome:
    """A chain's step events, and (when the worker did not share the results folder) its files for the driver."""

    events: list[StepEvent]
    node: Node
    wall_s: float
    shared: bool
    files: Files = field(default_factory=dict)
    gone: tuple[str, ...] = ()  # step kinds whose stale marker the chain removed (the driver removes its copy too)
    base_copied_from: str = ""  # the node whose base cache this chain's node received through Ray


def this_node() -> Node:
    import ray

    return Node(ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address())


def prepare_model(chain: Chain, progress: Any) -> ModelFacts:
    """Resolve the chain's model on this node and compute its base pass for the plan's text, when missing."""
    node = this_node()
    _report(progress, f"{model_slug(chain.model)} base pass", node)
    source = resolve(chain.model)
    weight_bytes = sum(p.stat().st_size for pattern in WEIGHT_PATTERNS for p in source.path.glob(pattern))
    text = chain.plan.evaluations.text
    if text is None:
        return ModelFacts(node, weight_bytes, None)
    config = text_eval_config(chain, text, resolve_device(chain.device))  # the chains' text steps then find this cache
    evaluate_variants([], config)  # no variants: only the base pass, and only when its cache is missing
    key = base_cache_key(source, load_text(text.name), config)
    return ModelFacts(node, weight_bytes, base_cache.cache_dir(key).name)


def _report(progress: Any, label: str, node: Node) -> None:
    """Tell the driver this task started, without waiting: a task blocked in ray.get lends its CPU to another task."""
    progress.actor.put_nowait.remote(("running", label, node.label, os.getpid()))


def read_base_cache(name: str) -> dict[str, bytes]:
    """The files of one base cache folder on this node (run pinned to the node that computed it)."""
    folder = quantwb_home() / "base-logprobs" / name
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def run_chain_task(chain: Chain, facts: ModelFacts | None, progress: Any, target: Target) -> ChainOutcome:
    """One variant's chain on this worker; `facts` is the base task's result (the ObjectRef this task waited on)."""
    started = time.perf_counter()
    node = this_node()
    _report(progress, f"{model_slug(chain.model)}/{chain.variant.id}", node)
    shared = target.is_shared()
    if code_version() != chain.code_version:
        reason = "this node runs other quantwb code or libraries than the driver (install the same on every node)"
        return ChainOutcome(failed_events(chain, reason), node, time.perf_counter() - started, shared)
    run = chain if shared else replace(chain, results_dir=mirror_dir(target.results_dir))
    if not shared:
        for relative, payload in target.seed.items():
            write_json_atomic(run.results_dir / relative, payload)
    copied = facts is not None and facts.base_cache is not None and _install_base_cache(facts.node, facts.base_cache)
    events = run_chain(run, None)
    _stamp_records(run, events, node)
    files, gone = ({}, ()) if shared else chain_files(run)
    return ChainOutcome(events, node, time.perf_counter() - started, shared, files, gone, facts.node.label if copied and facts else "")


def mirror_dir(results_dir: Path) -> Path:
    """This node's stand-in for a driver's results folder it cannot see (one per driver folder)."""
    return quantwb_home() / "ray-results" / sha256_text(str(results_dir))[:16]


def chain_files(chain: Chain) -> tuple[Files, tuple[str, ...]]:
    """The chain's step markers and the records they list, under `chain.results_dir`; and the kinds with no marker."""
    files: Files = {}
    gone = []
    for step in planned_steps(chain):
        marker = marker_path(chain.results_dir, step)
        try:
            payload = json.loads(marker.read_text())
        except (OSError, ValueError):
            gone.append(step.kind)
            continue
        files[marker.relative_to(chain.results_dir).as_posix()] = payload
        for name in payload.get("outputs", []):
            path = chain.results_dir / name
            if name.startswith("records/") and path.is_file():
                files[name] = json.loads(path.read_text())
    return files, tuple(gone)


def failed_events(chain: Chain, reason: str) -> list[StepEvent]:
    """The chain's first step failed for `reason`; the steps after it are skipped, as `run_chain` reports them."""
    steps = planned_steps(chain)
    return [StepEvent(steps[0], "failed", detail=reason)] + [
        StepEvent(step, "skipped", detail=f"needs {steps[0].label}, which failed") for step in steps[1:]]


def _install_base_cache(source: Node, name: str) -> bool:
    """Copy the base cache from the node that computed it, unless this node has it (same node, or a shared home)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    final = quantwb_home() / "base-logprobs" / name
    locks = quantwb_home() / "ray-results"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f".base-{name}.lock", "w") as lock:
        # One chain per node copies; the others wait here and then find it in place. (The copier's ray.get lends
        # its CPU to Ray, so another chain may start on this node meanwhile: without the lock it would copy too.)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if base_cache.is_complete(final):
            return False
        pinned = NodeAffinitySchedulingStrategy(source.node_id, soft=False)
        files = ray.get(ray.remote(read_base_cache).options(num_cpus=0, scheduling_strategy=pinned).remote(name))
        partial = final.parent / f".{final.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for file_name, data in files.items():
            (partial / file_name).write_bytes(data)
        os.rename(partial, final)  # meta.json is inside: the folder is complete the moment it has its name
    return True


def _stamp_records(chain: Chain, events: list[StepEvent], node: Node) -> None:
    """Name the Ray node in the environment of every record this chain measured (cached records keep theirs)."""
    for event in events:
        if event.status != "done":
            continue
        marker = json.loads(marker_path(chain.results_dir, event.step).read_text())
        for name in marker["outputs"]:
            path = chain.results_dir / name
            if name.startswith("records/") and path.suffix == ".json":
                record = json.loads(path.read_text())
                record["environment"] = {**record.get("environment", {}), "ray_node_id": node.node_id, "ray_node_ip": node.ip}
                write_json_atomic(path, record)
