"""Cache of lm-eval task results per (variant sha256, task, data, limit, few-shot, lm-eval version).

A rerun with the same key reuses the stored metrics instead of scoring the task again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from quantwb.cache_keys import cache_key
from quantwb.fileio import write_json_atomic
from quantwb.home import quantwb_home
from quantwb.records import Metric

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskKey:
    """Everything that decides a task's numbers."""

    variant_sha256: str
    task: str
    data_sha256: str | None
    config_sha256: str | None
    limit: int | None
    num_fewshot: int | None
    lm_eval_version: str
    device: str = "cpu"  # bf16 on an accelerator scores a little differently from fp32 on the CPU

    def digest(self) -> str:
        return cache_key("task-scores", **asdict(self))


@dataclass(frozen=True)
class CachedTask:
    """A task's metrics and how many documents they were computed on."""

    metrics: tuple[Metric, ...]
    n_samples: int | None
    samples: dict[str, list[float]] | None = None  # per-document scores by column (tasks.per_document_scores)


def cache_dir() -> Path:
    return quantwb_home() / "task-results"


def _path(key: TaskKey) -> Path:
    return cache_dir() / f"{key.task}-{key.digest()[:24]}.json"


def load(key: TaskKey) -> CachedTask | None:
    """The stored result for `key`, or None (also for a damaged entry, which is then recomputed)."""
    path = _path(key)
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        if payload.get("key") != asdict(key) or "samples" not in payload:
            return None  # an entry from before per-document scores were kept is scored again
        metrics = tuple(Metric.model_validate(item) for item in payload["metrics"])
        return CachedTask(metrics=metrics, n_samples=payload.get("n_samples"), samples=payload["samples"])
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as err:
        log.warning("ignoring damaged task cache entry %s (%s)", path, err)
        return None


def store(key: TaskKey, result: CachedTask) -> Path:
    """Write `result` under `key` atomically; returns the cache file."""
    path = _path(key)
    payload: dict[str, Any] = {
        "key": asdict(key),
        "metrics": [metric.model_dump(mode="json") for metric in result.metrics],
        "n_samples": result.n_samples,
        "samples": result.samples,
    }
    write_json_atomic(path, payload)
    return path
