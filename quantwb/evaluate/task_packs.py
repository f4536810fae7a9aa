"""Resolve task names to lm-eval task configs: quantwb's offline pack (local JSONL) or lm-eval's own tasks.

The pack (quantwb/data/tasks/*.yaml) keeps lm-eval's prompts and metrics and swaps only the dataset for
local files under a data folder; any other task or group lm-eval registers reads local files the same way
(lmeval_local.py), and goes to the hub only when they are missing and the hub is reachable.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from quantwb.errors import DataError, InputError
from quantwb.evaluate import lmeval_local
from quantwb.evaluate.lmeval_local import yaml_sha256
from quantwb.fileio import atomic_path, sha256_file, sha256_text
from quantwb.home import hub_offline, quantwb_home
from quantwb.texts import load_text

log = logging.getLogger(__name__)

TASKS_DIR_ENV = "QUANTWB_TASKS_DIR"
TEXT_TASK = "text_ppl"  # lm-eval's wikitext perplexity, on the text given with --text
_DOC_BLOCK = re.compile(r"<doc\b[^>]*>(.*?)</doc>", re.DOTALL)


@dataclass(frozen=True)
class ResolvedTask:
    """One requested task: what lm-eval is handed (a name or a full config) and what its data are."""

    name: str
    spec: str | dict[str, Any]
    data_sha256: str | None  # content hash of the local data; None for lm-eval's hub tasks
    config_sha256: str | None  # hash of the pack YAML, so editing a prompt invalidates cached results
    include_dir: Path | None = None  # generated YAMLs that point lm-eval's own config at local files


def pack_dir() -> Path:
    """The folder of quantwb's task YAMLs (package data)."""
    return Path(str(resources.files("quantwb.data").joinpath("tasks")))


def packaged_data_dir() -> Path:
    """The task data shipped with quantwb (ARC-Easy, a HellaSwag subset); the default data folder."""
    return Path(str(resources.files("quantwb.data").joinpath("tasks_data")))


def pack_task_names() -> list[str]:
    return sorted(path.stem for path in pack_dir().glob("*.yaml"))


def data_dir(given: Path | None) -> Path:
    """--tasks-dir, else $QUANTWB_TASKS_DIR, else the packaged data."""
    if given is not None:
        return Path(given).expanduser()
    from_env = os.environ.get(TASKS_DIR_ENV)
    return Path(from_env).expanduser() if from_env else packaged_data_dir()


def resolve_tasks(names: tuple[str, ...], tasks_dir: Path | None, text: str) -> list[ResolvedTask]:
    """Check every name and its data before any model loads; raises InputError/DataError/OfflineError."""
    if not names:
        raise InputError("no tasks given (--tasks arc_easy,hellaswag,...)")
    folder = data_dir(tasks_dir)
    pack = set(pack_task_names())
    resolved = []
    for name in names:
        if name == TEXT_TASK:
            resolved.append(_text_task(text))
        elif name in pack:
            resolved.append(_pack_task(name, folder))
        else:
            resolved.append(_lm_eval_task(name, pack, folder))
    return resolved


def load_pack_yaml(name: str) -> dict[str, Any]:
    """A pack task's config as lm-eval reads it (includes merged, !function resolved)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(pack_dir() / f"{name}.yaml", resolve_func=True)


def _pack_task(name: str, folder: Path, data_files: dict[str, Path] | None = None) -> ResolvedTask:
    config = load_pack_yaml(name)
    relative = config["dataset_kwargs"]["data_files"]
    files = data_files or {split: folder / rel for split, rel in relative.items()}
    for split, path in files.items():
        if not path.is_file():
            raise DataError(
                f"{name}: no data file {path}; pass --tasks-dir (or set {TASKS_DIR_ENV}) to a folder "
                f"holding {relative[split]}"
            )
    config["dataset_kwargs"] = {**config["dataset_kwargs"], "data_files": {s: str(p) for s, p in files.items()}}
    digest = sha256_text("".join(sha256_file(p) for _, p in sorted(files.items())))
    return ResolvedTask(name=name, spec=config, data_sha256=digest, config_sha256=yaml_sha256(pack_dir() / f"{name}.yaml"))


def _text_task(text_name: str) -> ResolvedTask:
    """lm-eval's rolling-loglikelihood perplexity over the documents of a local text."""

    text = load_text(text_name)
    documents = split_documents(text.text)
    if not documents:
        raise DataError(f"{text_name}: no text to score")
    path = quantwb_home() / "task-data" / f"{TEXT_TASK}-{sha256_text(text.text)[:16]}.jsonl"
    if not path.is_file():
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps({"page": doc}) + "\n" for doc in documents), encoding="utf-8")
    return _pack_task(TEXT_TASK, path.parent, data_files={"test": path})


def split_documents(text: str) -> list[str]:
    """Documents of a text: the bodies of <doc ...> blocks when it has them, else blank-line paragraphs."""
    blocks = _DOC_BLOCK.findall(text) or re.split(r"\n\s*\n", text)
    return [block.strip() for block in blocks if block.strip()]


def _lm_eval_task(name: str, pack: set[str], folder: Path) -> ResolvedTask:
    """lm-eval's own config for `name`, reading local files from `folder`; the hub only when they are missing and
    the hub is reachable (an unreachable hub would retry for minutes: the missing file is named at once instead)."""
    if not lmeval_local.registered(name):
        raise InputError(
            f"unknown task {name!r}: not in quantwb's offline pack ({', '.join(sorted(pack))}) nor in lm-eval's tasks"
        )
    try:
        local = lmeval_local.localize(name, folder)
    except DataError:
        if hub_offline(datasets=True) or not _hub_reachable():
            raise
        log.info("%s: no local data in %s; lm-eval will download it", name, folder)
        return ResolvedTask(name=name, spec=name, data_sha256=None, config_sha256=None)
    return ResolvedTask(name=name, spec=name, data_sha256=local.data_sha256, config_sha256=local.config_sha256,
                        include_dir=local.include_dir)


def _hub_reachable(timeout_s: float = 1.0) -> bool:
    """Whether a TCP connection to the hub opens within `timeout_s`."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True
