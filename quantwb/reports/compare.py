"""Read records, refuse inconsistent sets with one line, merge each variant's records, mark the Pareto front."""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from quantwb.errors import InputError, RecordError
from quantwb.records import SCHEMA_VERSION, BaselineInfo, Record, TextData, find_records, read_record
from quantwb.reports.gate import Breach, Threshold, check_thresholds
from quantwb.reports.mcnemar import FlipSection, flip_section
from quantwb.reports.paired import PairedSection, paired_section, select_reference
from quantwb.reports.regression import Regression, find_regressions, previous_values
from quantwb.reports.variants import PREFERRED_TASK_METRICS, VariantRow

log = logging.getLogger(__name__)

# Quality measures the Pareto front may use, best first: KLD sees every token's distribution,
# PPL only the right token's probability, a task score only a few hundred questions.
PARETO_METRICS = ("kld_mean", "ppl")
# Task settings every tasks record must share (others, like the backend, may differ between variants).
COMPARABLE_TASK_SETTINGS = ("limit", "num_fewshot")


@dataclass(frozen=True)
class CompareOptions:
    """How to pick and check the records of one report."""

    baseline: str | None = None  # keep only records measured against this baseline (name or sha256 prefix)
    allow_mixed_baselines: bool = False
    thresholds: tuple[Threshold, ...] = ()
    against: str | None = None  # reference of the paired columns and answer flips (None: the baseline's own row)
    previous: Path | None = None  # an earlier run (records or report.json) for regression_metrics
    regression_metrics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.previous) != bool(self.regression_metrics):
            raise InputError("--previous OLD and --fail-on-regression METRICS go together: pass both or neither")


@dataclass(frozen=True)
class Report:
    """Everything a renderer needs: rows sorted by size, the baseline(s) and the data they were measured on."""

    rows: tuple[VariantRow, ...]
    baselines: tuple[BaselineInfo, ...]
    text_data: TextData | None
    task_settings: dict[str, Any]
    task_columns: tuple[str, ...]  # 'task.metric' keys shown as columns
    pareto_metric: str | None
    record_paths: tuple[Path, ...]
    breaches: tuple[Breach, ...] = field(default=())
    code_version: str | None = None  # set by a sweep, whose every step was keyed by this code version
    paired: PairedSection | None = None  # Δ against a reference on the same windows (None: no reference row)
    flips: FlipSection | None = None  # answer flips against the reference on the same documents
    reference_note: str | None = None  # why there is no reference, when there is none
    regressions: tuple[Regression, ...] = field(default=())

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key.partition(".")[0] for key in self.task_columns))


def compare(paths: list[Path], options: CompareOptions = CompareOptions()) -> Report:
    """Load the records under `paths`, check that they belong together, and build the report."""
    record_paths = find_records(paths)
    if not record_paths:
        raise RecordError(f"no records (*.json) under {', '.join(str(p) for p in paths)}")
    _check_schema_versions(record_paths)
    loaded = [(path, read_record(path)) for path in record_paths]
    loaded = _select_baseline(loaded, options)
    rows = _merge(loaded)
    text_data = _common(rows, "text", lambda r: r.text, "text data", _describe_text)
    task_settings = _common(rows, "tasks", _comparable_settings, "task settings", _describe_settings) or {}
    _check_task_data(rows)
    pareto_metric = next((m for m in PARETO_METRICS if sum(row.value(m) is not None for row in rows) >= 2), None)
    rows = mark_pareto(sorted(rows, key=lambda r: (r.variant.size_bytes, r.variant.name)), pareto_metric)
    report = Report(
        rows=tuple(rows),
        baselines=tuple({row.baseline.sha256: row.baseline for row in rows}.values()),
        text_data=text_data,
        task_settings=task_settings,
        task_columns=_task_columns(rows),
        pareto_metric=pareto_metric,
        record_paths=tuple(record_paths),
    )
    if options.thresholds:
        report = replace(report, breaches=tuple(check_thresholds(report.rows, options.thresholds)))
    return _with_statistics(report, options)


def _with_statistics(report: Report, options: CompareOptions) -> Report:
    """Add the paired comparisons, the answer flips and the regressions against a previous run."""
    reference = select_reference(report.rows, options.against)
    if reference is None:
        report = replace(report, reference_note="no record of the baseline itself; pass --against VARIANT for paired columns")
    else:
        if report.text_data is not None:
            report = replace(report, paired=paired_section(report.rows, reference))
        if report.task_columns:
            report = replace(report, flips=flip_section(report.rows, reference, report.task_columns))
    if options.previous is not None:
        plain = CompareOptions(baseline=options.baseline, allow_mixed_baselines=options.allow_mixed_baselines)
        previous = previous_values(options.previous, options.regression_metrics, lambda paths: compare(paths, plain).rows)
        report = replace(report, regressions=tuple(find_regressions(report.rows, previous, options.regression_metrics)))
    return report


def _check_schema_versions(paths: list[Path]) -> None:
    """Say which files disagree when a set mixes schema versions, before any one of them fails alone."""
    versions: dict[object, list[Path]] = defaultdict(list)
    for path in paths:
        try:
            version = json.loads(path.read_text()).get("schema_version")
        except (OSError, ValueError, AttributeError):
            continue  # read_record gives the precise one-line reason for this file
        if isinstance(version, int) and not isinstance(version, bool):  # "1" or 1.0: read_record names the defect
            versions[version].append(path)
    if len(versions) > 1:
        parts = "; ".join(f"v{v}: {', '.join(p.name for p in ps[:3])}{' ...' if len(ps) > 3 else ''}"
                          for v, ps in versions.items())
        raise RecordError(f"records of different schema versions ({parts}); this quantwb reads version {SCHEMA_VERSION}")


def _select_baseline(loaded: list[tuple[Path, Record]], options: CompareOptions) -> list[tuple[Path, Record]]:
    by_baseline: dict[str, list[tuple[Path, Record]]] = defaultdict(list)
    for path, record in loaded:
        by_baseline[record.baseline.sha256].append((path, record))
    if options.baseline:
        wanted = options.baseline
        chosen = {sha: group for sha, group in by_baseline.items()
                  if group[0][1].baseline.name == wanted or (len(wanted) >= 8 and sha.startswith(wanted))}
        if not chosen:
            raise InputError(f"--baseline {wanted}: no record was measured against it (baselines: {_describe_baselines(by_baseline)})")
        by_baseline = chosen
    if len(by_baseline) > 1 and not options.allow_mixed_baselines:
        raise RecordError(
            f"records were measured against {len(by_baseline)} different baselines ({_describe_baselines(by_baseline)}); "
            "pick one with --baseline NAME or pass --allow-mixed-baselines"
        )
    return [item for group in by_baseline.values() for item in group]


def _describe_baselines(by_baseline: dict[str, list[tuple[Path, Record]]]) -> str:
    return ", ".join(f"{group[0][1].baseline.name} sha256:{sha[:12]} ({len(group)} records)" for sha, group in by_baseline.items())


def _merge(loaded: list[tuple[Path, Record]]) -> list[VariantRow]:
    """One row per (variant content hash, baseline); a variant's newest record of each kind wins."""
    groups: dict[tuple[str, str], dict[str, tuple[Path, Record]]] = defaultdict(dict)
    for path, record in loaded:
        group = groups[(record.variant.sha256, record.baseline.sha256)]
        previous = group.get(record.evaluation)
        if previous is not None:
            newer = max(previous, (path, record), key=lambda item: item[1].created_at)
            log.warning("%s and %s both hold %s results of %s; using %s (newer)", previous[0], path,
                        record.evaluation, record.variant.name, newer[0])
            group[record.evaluation] = newer
        else:
            group[record.evaluation] = (path, record)
    rows = []
    for group in groups.values():
        text, tasks = group.get("text"), group.get("tasks")
        first = (text or tasks)[1]  # type: ignore[index]
        rows.append(VariantRow(
            variant=first.variant,
            baseline=first.baseline,
            text=text[1] if text else None,
            tasks=tasks[1] if tasks else None,
            sources=tuple(item[0] for item in (text, tasks) if item),
        ))
    return rows


def _common(rows: list[VariantRow], kind: str, read, what: str, describe) -> Any:
    """The one value of `read(record)` over the rows' `kind` records; refuse records measured differently."""
    seen: dict[str, list[str]] = defaultdict(list)
    values: dict[str, Any] = {}
    for row in rows:
        record = getattr(row, kind)
        if record is None:
            continue
        value = read(record)
        label = describe(value)
        seen[label].append(row.variant.name)
        values[label] = value
    if len(seen) > 1:
        parts = "; ".join(f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}" for label, names in seen.items())
        raise RecordError(f"{kind} records were measured with different {what} ({parts}); compare them separately")
    return next(iter(values.values()), None)


def _comparable_settings(record: Record) -> dict[str, Any]:
    """The settings that change a task's numbers; the backend and cache notes legitimately differ per variant."""
    return {key: record.task_settings.get(key) for key in COMPARABLE_TASK_SETTINGS}


def _check_task_data(rows: list[VariantRow]) -> None:
    """A task scored on different documents for different variants would make its column meaningless."""
    hashes: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        for task, digest in ((row.tasks.task_settings.get("data_sha256") or {}) if row.tasks else {}).items():
            if digest:
                hashes[task].add(digest)
    for task, seen in sorted(hashes.items()):
        if len(seen) > 1:
            raise RecordError(f"task {task} was scored on {len(seen)} different data files across the records; compare them separately")


def _describe_text(text: TextData | None) -> str:
    if text is None:
        return "none"
    return f"{text.name} sha256:{text.sha256[:12]} ctx {text.ctx} x {text.n_chunks} chunks"


def _describe_settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{key}={settings[key]}" for key in sorted(settings))


def _task_columns(rows: list[VariantRow]) -> tuple[str, ...]:
    """For each task, the preferred metric that was measured (acc_norm before acc)."""
    available: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        for metric in row.tasks.metrics if row.tasks else ():
            available[metric.task].add(metric.name)
    columns = []
    for task in sorted(available):
        names = available[task]
        chosen = next((m for m in PREFERRED_TASK_METRICS if m in names), sorted(names)[0])
        columns.append(f"{task}.{chosen}")
    return tuple(columns)


def mark_pareto(rows: list[VariantRow], metric: str | None) -> list[VariantRow]:
    """Mark rows no other row beats on both size and `metric` (lower is better for every PARETO_METRICS)."""
    if metric is None:
        return rows
    points = [(row.variant.size_bytes, row.value(metric)) for row in rows]
    marked = []
    for i, row in enumerate(rows):
        size, quality = points[i]
        dominated = quality is None or not math.isfinite(quality) or any(
            other_q is not None and other_s <= size and other_q <= quality and (other_s, other_q) != (size, quality)
            for j, (other_s, other_q) in enumerate(points) if j != i
        )
        marked.append(replace(row, pareto=not dominated))
    return marked
