"""Any lm-eval task or group offline: lm-eval's own registered config for each leaf task, its dataset pointed at
local files (DIR/<task>/<split>.jsonl or .parquet, or DIR/<task>/<split>/ as `datasets.save_to_disk` writes it),
its prompts, filters and metrics kept.

lm-eval is handed generated YAMLs (an include_path) that each `include:` the registered YAML and override only the
dataset keys, under the same task name: a group (mmlu) finds its members by name, so it keeps its aggregation.
lm-eval's index of its ~14k YAMLs takes seconds to build, so the names quantwb needs from it are kept on disk per
lm-eval version: a missing data file is named in well under a second once that is done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from quantwb.errors import DataError, UnsupportedError
from quantwb.fileio import atomic_path, sha256_file, sha256_text, write_json_atomic
from quantwb.home import quantwb_home

# The config keys naming the splits a task reads; the evaluation split is lm-eval's: test, else validation.
SPLIT_KEYS = ("test_split", "validation_split", "training_split", "fewshot_split")
# A local split's file(s), tried in this order, and the `datasets` builder that reads each.
_LAYOUTS = (("{split}.jsonl", "json"), ("{split}.json", "json"), ("{split}.parquet", "parquet"), ("{split}", "arrow"))


@dataclass(frozen=True)
class LocalTask:
    """A requested task or group made offline: the folder of generated YAMLs, and hashes of its data and configs."""

    name: str
    include_dir: Path
    data_sha256: str
    config_sha256: str


def registered(name: str) -> bool:
    return name in _index()


def localize(name: str, folder: Path) -> LocalTask:
    """Generate the offline configs of task or group `name` reading `folder`; DataError names the first missing file."""
    index = _index()
    overrides: dict[str, dict[str, Any]] = {}
    data_files: list[Path] = []
    for leaf in _leaf_tasks(name, index):
        override, files = _override(leaf, index[leaf]["yaml"], folder / leaf, name)
        overrides[leaf] = override
        data_files += files
    data_sha256 = sha256_text("".join(sha256_file(p) for p in sorted(data_files)))
    config_sha256 = sha256_text("".join(yaml_sha256(Path(index[leaf]["yaml"])) for leaf in sorted(overrides)))
    include_dir = quantwb_home() / "lm-eval" / "offline-configs" / sha256_text(json.dumps(overrides, sort_keys=True))[:16]
    if not include_dir.is_dir():
        import yaml

        with atomic_path(include_dir) as tmp:
            tmp.mkdir(parents=True)
            for leaf, override in overrides.items():
                (tmp / f"{leaf}.yaml").write_text(yaml.safe_dump(override, sort_keys=False))
    return LocalTask(name, include_dir, data_sha256, config_sha256)


def _override(leaf: str, yaml_path: str, folder: Path, requested: str) -> tuple[dict[str, Any], list[Path]]:
    """The generated YAML of one leaf task (its registered YAML included, dataset keys replaced), and its files."""
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(yaml_path, resolve_func=False)
    splits = {key: config.get(key) for key in SPLIT_KEYS}
    evaluated = splits["test_split"] or splits["validation_split"]
    if not evaluated:
        raise UnsupportedError(f"{leaf}: its lm-eval config has no test or validation split to evaluate")
    found = {split: _local_split(folder, split) for split in {s for s in splits.values() if s}}
    if found[evaluated] is None:
        what = f"{requested}'s member {leaf}" if leaf != requested else leaf
        raise DataError(
            f"{what}: no local data, expected {folder / f'{evaluated}.jsonl'} (or .parquet, or a datasets folder "
            f"{folder / evaluated}/); pass --tasks-dir to the folder holding {leaf}/"
        )
    builders = {builder for local in found.values() if local for builder, _ in [local]}
    if len(builders) > 1:
        raise DataError(f"{folder}: the splits of {leaf} are in different formats ({', '.join(sorted(builders))}); use one")
    override: dict[str, Any] = {"include": str(yaml_path), "task": leaf, "dataset_path": builders.pop(),
                                "dataset_name": None,
                                "dataset_kwargs": {"data_files": {s: local[1] for s, local in found.items() if local}}}
    for key, split in splits.items():  # a split without local data is one lm-eval must not look for
        if split and found[split] is None:
            override[key] = None
    files = [Path(p) for local in found.values() if local for p in _expand(local[1])]
    return override, files


def _local_split(folder: Path, split: str) -> tuple[str, str] | None:
    """(builder, data_files entry) of the first layout present for `split`, else None."""
    for pattern, builder in _LAYOUTS:
        path = folder / pattern.format(split=split)
        if builder == "arrow":
            if path.is_dir() and any(path.glob("*.arrow")):
                return builder, str(path / "*.arrow")
        elif path.is_file():
            return builder, str(path)
    return None


def _expand(entry: str) -> list[Path]:
    path = Path(entry)
    return sorted(path.parent.glob(path.name)) if "*" in path.name else [path]


def _leaf_tasks(name: str, index: dict[str, dict[str, Any]]) -> list[str]:
    """The YAML tasks `name` stands for: itself, a tag's tasks, or a group's members, recursively, in order."""
    entry = index.get(name)
    if entry is None:
        raise UnsupportedError(f"{name}: not a task, group or tag lm-eval knows")
    kind = entry["kind"]
    if kind == "task":
        return [name]
    if kind == "tag":
        return [leaf for member in entry["members"] for leaf in _leaf_tasks(member, index)]
    if kind == "group":
        from lm_eval.tasks._yaml_loader import load_yaml

        members = load_yaml(entry["yaml"], resolve_func=False).get("task") or []
        leaves: list[str] = []
        for member in members if isinstance(members, list) else [members]:
            reference = member if isinstance(member, str) else member.get("task") or member.get("group")
            if not isinstance(reference, str) or reference not in index:
                raise UnsupportedError(f"{name}: defines a member inline ({reference!r}); only registered members can read local files")
            leaves += [leaf for leaf in _leaf_tasks(reference, index) if leaf not in leaves]
        return leaves
    raise UnsupportedError(f"{name}: a Python task in lm-eval (not a YAML config), so quantwb cannot point it at local files")


def _index() -> dict[str, dict[str, Any]]:
    """lm-eval's task index as {name: {kind, yaml, members}}, built by lm-eval once per version and kept on disk."""
    path = quantwb_home() / "lm-eval" / f"index-{metadata.version('lm-eval')}.json"
    if path.is_file():
        index = _read_index(path)
        sample = next((entry["yaml"] for entry in index.values() if entry["yaml"]), None)
        if sample and Path(sample).is_file():  # else lm-eval was installed elsewhere since: index it again
            return index
    return _build_index(path)


@cache
def _read_index(path: Path) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text())


def _build_index(path: Path) -> dict[str, dict[str, Any]]:
    from lm_eval.tasks import TaskManager

    index = {
        name: {"kind": entry.kind.name.lower(), "yaml": str(entry.yaml_path) if entry.yaml_path else None,
               "members": sorted(entry.tags) if entry.kind.name == "TAG" else []}
        for name, entry in TaskManager().task_index.items()
    }
    write_json_atomic(path, index)
    return index


def yaml_sha256(path: Path) -> str:
    """Hash of a registered YAML and the YAMLs it includes (a prompt edited upstream invalidates cached scores)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    include = load_yaml(path, resolve_func=False, recursive=False).get("include") or []
    included = [path.parent / name for name in ([include] if isinstance(include, str) else include)]
    return sha256_text(sha256_file(path) + "".join(yaml_sha256(child) for child in included))
