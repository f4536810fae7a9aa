"""lm-eval task suites on one variant: HF folders through lm-eval's HF class, GGUF files through ours.

Every task's metrics come back as Metric objects (value ± stderr), cached per (variant sha256, task,
data, limit, few-shot, lm-eval version) so a rerun only scores what changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from quantwb import defaults
from quantwb.errors import EvaluationError, InputError, OfflineError
from quantwb.evaluate import task_cache, task_packs
from quantwb.evaluate.gguf_runner import gguf_device
from quantwb.evaluate.hf_variant_load import load_causal_lm
from quantwb.evaluate.task_cache import CachedTask, TaskKey
from quantwb.formats.kind import variant_kind
from quantwb.formats.variant import content_sha256
from quantwb.quiet import native_stderr_to_log
from quantwb.records import Metric

log = logging.getLogger(__name__)

BACKENDS = {"hf": "lm-eval HFLM (transformers)", "gguf": "quantwb-gguf (llama.cpp in process)"}


@dataclass(frozen=True)
class TaskConfig:
    """Which lm-eval tasks to run and how; `text` is the local text scored by the text_ppl task."""

    tasks: tuple[str, ...]
    tasks_dir: Path | None = None
    limit: int | None = None  # documents per task; None = all
    num_fewshot: int | None = None  # None = the task's default (0 for every task in the pack)
    batch_size: int = 4  # HF forward batch; the GGUF class scores one sequence at a time
    text: str = defaults.EVAL_TEXT
    max_length: int | None = None  # tokens per forward pass; None = the model's (GGUF: at most 2048)
    device: str = "cpu"  # resolved (cpu, cuda, cuda:N): HF variants run there, GGUF ones offload when built for it

    def __post_init__(self) -> None:
        if not self.tasks:
            raise InputError("no tasks given (--tasks arc_easy,hellaswag,...)")
        if len(set(self.tasks)) != len(self.tasks):
            raise InputError(f"a task is named twice in {','.join(self.tasks)}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be at least 1, got {self.limit}")
        if self.num_fewshot is not None and self.num_fewshot < 0:
            raise InputError(f"--num-fewshot must be 0 or more, got {self.num_fewshot}")
        if self.batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class TaskResult:
    """The metrics of every requested task, in request order, and the settings they were measured with."""

    metrics: tuple[Metric, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)  # per-document scores of every task, by column


def run_tasks(variant_path: Path, config: TaskConfig, variant_sha256: str | None = None) -> TaskResult:
    """Run `config.tasks` on the HF folder or GGUF file at `variant_path`; cached tasks are not rerun."""
    resolved = task_packs.resolve_tasks(config.tasks, config.tasks_dir, config.text)
    variant_path = Path(variant_path)
    kind = variant_kind(variant_path)
    sha = variant_sha256 or content_sha256(variant_path, kind)
    version = metadata.version("lm-eval")
    keys = {
        task.name: TaskKey(sha, task.name, task.data_sha256, task.config_sha256, config.limit, config.num_fewshot, version,
                           config.device)
        for task in resolved
    }
    results = {name: task_cache.load(key) for name, key in keys.items()}
    reused = sorted(name for name, result in results.items() if result is not None)
    todo = [task for task in resolved if results[task.name] is None]
    if todo:
        lm = load_lm(variant_path, kind, config)
        for name, result in _evaluate(lm, todo, config).items():
            task_cache.store(keys[name], result)
            results[name] = result
    settings = {
        "tasks": list(config.tasks),
        "limit": config.limit,
        "num_fewshot": config.num_fewshot,
        "tasks_dir": str(task_packs.data_dir(config.tasks_dir)),
        "text": config.text if task_packs.TEXT_TASK in config.tasks else None,
        "n_samples": {name: result.n_samples for name, result in results.items() if result is not None},
        "data_sha256": {task.name: task.data_sha256 for task in resolved},
        "backend": BACKENDS[kind],
        "device": config.device if kind == "hf" else gguf_device(config.device),
        "batch_size": config.batch_size if kind == "hf" else 1,
        "lm_eval_version": version,
        "reused_from_cache": reused,
    }
    metrics = tuple(metric for task in resolved for metric in results[task.name].metrics)  # type: ignore[union-attr]
    samples = {key: values for task in resolved for key, values in (results[task.name].samples or {}).items()}  # type: ignore[union-attr]
    return TaskResult(metrics=metrics, settings=settings, samples=samples)


def load_lm(path: Path, kind: str, config: TaskConfig) -> Any:
    """The lm-eval LM for a variant: lm-eval's HFLM (CPU) or our in-process llama.cpp class."""
    try:
        if kind == "gguf":
            from quantwb.evaluate.lmeval_gguf import LlamaCppLM

            return LlamaCppLM(pretrained=str(path), max_length=config.max_length, device=gguf_device(config.device))
        from lm_eval.models.huggingface import HFLM
        from transformers import AutoTokenizer

        # Loaded here, as the text evaluation loads it, rather than by HFLM from the path: HFLM re-passes any
        # quantization_config in config.json, which transformers refuses for the GGUF one that built-in models
        # (dequantized from a GGUF) carry.
        model = load_causal_lm(path, config.device)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=config.batch_size, max_length=config.max_length,
                    device=config.device)
    except (OSError, ValueError, RuntimeError, ImportError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EvaluationError(f"{path}: lm-eval cannot load this {kind} model ({first_line})") from err


def _evaluate(lm: Any, tasks: list[task_packs.ResolvedTask], config: TaskConfig) -> dict[str, CachedTask]:
    """One simple_evaluate call over `tasks`; returns each task's metrics."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    # lm-eval's own index is only needed for its task names; pack tasks are passed as full configs. Its tasks made
    # offline are found through the generated YAMLs, which override the registered ones of the same name.
    include = [str(task.include_dir) for task in tasks if task.include_dir is not None]
    manager = TaskManager(include_defaults=any(isinstance(task.spec, str) for task in tasks), include_path=include or None)
    try:
        with native_stderr_to_log():  # lm-eval runs `git describe`, whose "fatal: not a git repository" is not ours to show
            output = simple_evaluate(
                model=lm,
                tasks=[task.spec for task in tasks],
                num_fewshot=config.num_fewshot,
                limit=config.limit,
                task_manager=manager,
                log_samples=True,  # per-document scores: the report pairs them with the baseline's (answer flips)
            )
    except ConnectionError as err:
        raise OfflineError(f"lm-eval could not download task data ({err})") from err
    if output is None:
        raise EvaluationError("lm-eval returned no results")
    return {task.name: _task_result(task.name, output) for task in tasks}


def _task_result(task: str, output: dict[str, Any]) -> CachedTask:
    """lm-eval's 'metric,filter' keys turned into Metric objects."""
    scores = output["results"].get(task)
    if scores is None:
        raise EvaluationError(f"{task}: lm-eval reported no results for this task")
    higher = output.get("higher_is_better", {}).get(task, {})
    metrics = []
    for key, value in scores.items():
        name, sep, filter_name = key.partition(",")
        if not sep or "_stderr" in name or not isinstance(value, (int, float)):
            continue
        stderr = scores.get(f"{name}_stderr,{filter_name}")
        metrics.append(
            Metric(
                name=name,
                task=task,
                value=float(value),
                stderr=float(stderr) if isinstance(stderr, (int, float)) else None,
                higher_is_better=bool(higher.get(name, True)),
                filter=filter_name,
            )
        )
    samples = output.get("n-samples", {}).get(task, {})
    return CachedTask(metrics=tuple(metrics), n_samples=samples.get("effective"),
                      samples=per_document_scores(task, output.get("samples", {}).get(task, [])))


def per_document_scores(task: str, logged: list[dict[str, Any]]) -> dict[str, list[float]]:
    """lm-eval's logged samples as columns: '<task>.doc_id' and '<task>.<metric>' (filter appended unless 'none'),
    one entry per document in doc_id order; only metrics with one number per document (acc, acc_norm, ...)."""
    columns: dict[str, dict[int, float]] = {}
    for sample in logged:
        suffix = "" if sample.get("filter", "none") == "none" else f".{sample['filter']}"
        for name in sample.get("metrics", []):
            value = sample.get(name)
            if isinstance(value, (bool, int, float)):
                columns.setdefault(f"{task}.{name}{suffix}", {})[int(sample["doc_id"])] = float(value)
    if not columns:
        return {}
    doc_ids = sorted(set().union(*(column.keys() for column in columns.values())))
    table = {f"{task}.doc_id": [float(d) for d in doc_ids]}
    for key, column in columns.items():
        table[key] = [column.get(d, float("nan")) for d in doc_ids]
    return table
