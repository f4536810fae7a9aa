"""The steps of a sweep (quantize, text evaluation, task evaluation), their cache keys and completion markers.

A step is done iff its completion marker exists with the step's current key and every output it lists
still exists. Outputs are written atomically by the stages; the marker is written (atomically) after
them, so an interrupted step is simply run again. Keys hash the model's content, the variant spec, the
data's content and the code version, so changing any of them reruns exactly the affected steps.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import quantwb
from quantwb.cache_keys import cache_key
from quantwb.disk import remove_stale_partials
from quantwb.errors import InputError
from quantwb.fileio import sha256_file, sha256_text, write_json_atomic
from quantwb.records import now_utc
from quantwb.versions import library_versions

log = logging.getLogger(__name__)

StepKind = Literal["quantize", "text", "tasks"]
MARKER_FORMAT = 1
# The code whose edits can move a measured number (paths under quantwb/): a change to any of it reruns the
# steps it keys. An allow-list, so a file that moves out of it is noticed (a test checks every file of
# quantwb is in exactly one of the two lists) instead of silently leaving the cache key.
MEASURING_CODE = (
    "builtin_models.py", "calibration.py", "defaults.py", "devices.py", "evaluate", "formats", "models.py", "quantize", "records.py",
    "resources_usage.py", "mix", "sweep/step_kinds.py", "texts.py", "tokenizer_repair.py", "versions.py",
)
# Presentation, orchestration and plumbing: editing these never changes what a step measures.
NOT_MEASURING_CODE = (
    "__init__.py", "cli.py", "commands", "data", "errors.py", "fileio.py", "home.py", "llama_log.py", "quiet.py", "reports",
    "sweep/__init__.py", "sweep/chain.py", "sweep/eta.py", "sweep/plan.py", "sweep/run_plan.py", "sweep/run_chain.py", "sweep/steps.py",
    "sweep/ray_executor.py", "sweep/ray_tasks.py",
    # checks and process handling: they refuse or stop work, never change a number
    "cache_keys.py", "checkpoint_files.py", "disk.py", "interrupts.py", "record_values.py", "workers.py", "sweep/plan_check.py",
)


@dataclass(frozen=True)
class Step:
    """One unit of work of one variant of one model."""

    model: str  # model slug (folder name in the results tree)
    variant: str  # variant id from the plan
    kind: StepKind
    key: str  # content hash of everything the step's outputs depend on

    @property
    def label(self) -> str:
        return f"{self.model}/{self.variant} {self.kind}"


@cache
def code_version() -> str:
    """quantwb's version + a hash of the code that makes and measures variants + the libraries' versions."""
    root = Path(quantwb.__file__).parent
    files = sorted(p for p in root.rglob("*.py") if is_measuring_code(p.relative_to(root)))
    code = sha256_text("".join(f"{p.relative_to(root).as_posix()}:{sha256_file(p)}\n" for p in files))
    return f"{quantwb.__version__}+{code[:16]}|" + json.dumps(library_versions(), sort_keys=True)


def is_measuring_code(relative: Path) -> bool:
    """True when `relative` (a path under quantwb/) lies in MEASURING_CODE."""
    return any(relative.as_posix() == entry or relative.is_relative_to(entry) for entry in MEASURING_CODE)


def step_key(kind: StepKind, code: str, **parts: Any) -> str:
    """sha256 of the step kind, the code version (`code_version()`, taken once per sweep) and the inputs."""
    return cache_key("step", kind=kind, code=code, **parts)


def marker_path(results_dir: Path, step: Step) -> Path:
    return results_dir / "steps" / step.model / f"{step.variant}.{step.kind}.json"


def completed_outputs(results_dir: Path, step: Step) -> list[Path] | None:
    """The outputs of `step` if it is done with its current key, else None."""
    path = marker_path(results_dir, step)
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if marker.get("format") != MARKER_FORMAT or marker.get("key") != step.key:
        return None
    outputs = [results_dir / name for name in marker.get("outputs", [])]
    if not outputs or not all(p.exists() for p in outputs):
        return None
    return outputs


def mark_done(results_dir: Path, step: Step, outputs: list[Path], wall_s: float) -> None:
    """Record that `step` finished with `outputs` (paths inside results_dir); written last, atomically."""
    relative = [Path(p).resolve().relative_to(results_dir.resolve()).as_posix() for p in outputs]
    write_json_atomic(marker_path(results_dir, step), {
        "format": MARKER_FORMAT, "key": step.key, "step": step.label, "outputs": relative,
        "finished_at": now_utc(), "wall_s": round(wall_s, 3),
    })


def forget(results_dir: Path, step: Step) -> None:
    """Remove a stale marker and the outputs it lists, so old numbers never pass for new ones."""
    path = marker_path(results_dir, step)
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    path.unlink(missing_ok=True)
    for name in marker.get("outputs", []):
        output = results_dir / name
        if output.is_file() and output.suffix == ".json":  # records; artifacts are replaced atomically on rerun
            log.info("removing stale %s", output)
            output.unlink()


@contextlib.contextmanager
def results_lock(results_dir: Path) -> Iterator[None]:
    """One sweep per results folder at a time: two would race on the same steps.

    An OS lock (flock) on `.sweep.lock`, held while its file is open: the kernel releases it when the owner
    exits, however it dies, so there is no stale lock to judge. The file holds the owner's pid for the message;
    it is removed while still locked, and a lock taken on a file that was meanwhile removed is taken again."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / ".sweep.lock"
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _lock_owner(path)
            who = f" (pid {owner})" if owner is not None else ""
            raise InputError(f"{results_dir}: another sweep{who} is running on this results folder") from None
        try:
            same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)  # the previous owner removed it between our open and our lock: take the current one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding the lock, so no one can hold the removed file's lock as current
        os.close(fd)


def _lock_owner(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def remove_partials_under(results_dir: Path) -> list[Path]:
    """Every temporary output in the results tree whose writer is dead (disk.remove_stale_partials, the one rule):
    after stopping workers mid-step (Ctrl-C), which SIGTERM gives no chance to clean up after themselves."""
    marked = [path for path in results_dir.rglob(".*.partial-*")
              if not any(".partial-" in part for part in path.relative_to(results_dir).parent.parts)]
    return [removed for folder in sorted({path.parent for path in marked}) for removed in remove_stale_partials(folder)]
