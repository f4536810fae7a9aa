"""`quantwb recommend`: among the measured variants, the best by one metric that meets every budget given.

Budgets are applied in a fixed order (size, RAM, generation speed) so that, when nothing fits, the error
names the budget that excluded the last candidates. The RAM a variant needs is what its runtime (llama.cpp,
transformers) held in a fresh process at the evaluation's context (the record's `runtime`). With `ctx`, it is
predicted at that context: that figure, less the KV cache at the measured context, plus the KV cache at `ctx`
(layers × KV heads × (key + value width) × tokens × bytes per element), the cache's shape read from the record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quantwb.errors import InputError, NoFitError
from quantwb.formats.kv_geometry import KV_TYPE_BYTES, KVGeometry
from quantwb.reports.compare import Report
from quantwb.reports.variants import METRICS, VariantRow, higher_is_better, known_metrics, runtime_memory

DEFAULT_BY = "kld_mean"


@dataclass(frozen=True)
class Budgets:
    max_size_bytes: int | None = None
    max_ram_bytes: int | None = None
    min_gen_tokens_per_s: float | None = None
    ctx: int | None = None  # count the KV cache at this many tokens in the RAM budget
    kv_type: str = "f16"  # a GGUF's K/V cache type at `ctx` (llama.cpp's --cache-type-k/-v); HF caches keep their dtype

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.max_size_bytes, self.max_ram_bytes, self.min_gen_tokens_per_s))


@dataclass(frozen=True)
class Pick:
    name: str
    path: str
    quant_type: str | None
    size_bytes: int
    ram_bytes: float | None
    value: float
    uncertainty: float | None


@dataclass(frozen=True)
class Recommendation:
    by: str
    higher_is_better: bool
    best: Pick
    runner_up: Pick | None
    difference: float | None  # best − runner-up
    difference_unc: float | None  # √(u_best² + u_runner²)
    budgets: Budgets
    n_fit: int
    excluded: dict[str, str] = field(default_factory=dict)  # variant -> the budget it broke
    notes: tuple[str, ...] = ()  # what the RAM figures could not count (older records)

    @property
    def significant(self) -> bool | None:
        """Whether the best beats the runner-up by more than the uncertainty of their difference."""
        if self.difference is None or self.difference_unc is None:
            return None
        return abs(self.difference) > self.difference_unc

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "significant": self.significant}

    def sentence(self) -> str:
        unit = METRICS[self.by].unit if self.by in METRICS else ""
        text = f"recommended: {_describe(self.best, self.by, unit)}"
        if self.runner_up is None:
            return text + f"; the only one of {self.n_fit + len(self.excluded)} variants that fits"
        text += f"; runner-up: {_describe(self.runner_up, self.by, unit)}"
        if self.significant is None:
            return text + " (no uncertainty to say whether the difference is real)"
        verdict = "larger than" if self.significant else "within"
        return text + f"; the difference {abs(self.difference or 0):.4g} is {verdict} its uncertainty ±{self.difference_unc:.2g}"

    def lines(self) -> list[str]:
        """The sentence, then one line per note."""
        return [self.sentence(), *self.notes]


def recommend(report: Report, budgets: Budgets, by: str = DEFAULT_BY) -> Recommendation:
    """The best variant of `report` by `by` among those within every budget; NoFitError names the budget that failed."""
    rows = list(report.rows)
    if by not in known_metrics(rows):
        raise InputError(f"--by {by}: not a metric of these records; choose from {', '.join(known_metrics(rows))}")
    if budgets.kv_type not in KV_TYPE_BYTES:
        raise InputError(f"--kv-type {budgets.kv_type}: choose from {', '.join(KV_TYPE_BYTES)}")
    left = [row for row in rows if row.value(by) is not None]
    if not left:
        raise NoFitError(f"no variant has {by} measured")
    excluded: dict[str, str] = {}
    for label, test in _budget_tests(budgets):
        kept = [row for row in left if test(row)]
        excluded.update({row.variant.name: label for row in left if row not in kept})
        if not kept:
            notes = "".join(f"; {note.removeprefix('note: ')}" for flag, note in _notes(rows, budgets)
                            if label.startswith(flag))
            raise NoFitError(f"no variant fits {label} (the last {len(left)} candidate(s) exceed it){notes}")
        left = kept
    higher = higher_is_better(by, rows)
    left.sort(key=lambda row: (-(row.value(by) or 0.0) if higher else (row.value(by) or 0.0), row.variant.size_bytes))
    best, runner = _pick(left[0], by, budgets), (_pick(left[1], by, budgets) if len(left) > 1 else None)
    difference = unc = None
    if runner is not None:
        difference = best.value - runner.value
        if best.uncertainty is not None and runner.uncertainty is not None:
            unc = math.hypot(best.uncertainty, runner.uncertainty)
    return Recommendation(by, higher, best, runner, difference, unc, budgets, len(left), excluded, budget_notes(rows, budgets))


def ram_needed(row: VariantRow, budgets: Budgets) -> float | None:
    """RAM to run the variant: its runtime's measured peak RSS at the evaluation's context, and with `budgets.ctx`
    that figure moved to `ctx` by the KV cache difference. None when the record cannot say (at a `ctx`: no KV
    shape in the record). A record from before the runtime was measured gives the evaluator's peak instead."""
    peak = METRICS["peak_rss_bytes"].read(row)
    if peak is None or budgets.ctx is None:
        return peak
    shape = row.variant.kv_geometry
    if shape is None:
        return None
    geometry = KVGeometry(shape.n_layers, shape.n_kv_heads, shape.key_dim, shape.value_dim)
    measured = runtime_memory(row)
    runtime = row.text.runtime if row.text else None
    measured_type = runtime.kv_type if runtime and measured else "f16"
    measured_ctx = measured.ctx if measured else (row.text.text.ctx if row.text and row.text.text else 0)
    target_type = budgets.kv_type if row.variant.format == "gguf" else measured_type
    return peak - geometry.cache_bytes(measured_ctx, measured_type) + geometry.cache_bytes(budgets.ctx, target_type)


def budget_notes(rows: list[VariantRow], budgets: Budgets) -> tuple[str, ...]:
    """One line per kind of record whose RAM or speed could not be counted as asked: no runtime figure, no KV shape,
    no runtime speed."""
    return tuple(note for _, note in _notes(rows, budgets))


def _notes(rows: list[VariantRow], budgets: Budgets) -> list[tuple[str, str]]:
    """(the budget flag it is about, the note)."""
    notes = []
    if budgets.min_gen_tokens_per_s is not None:
        slow = [row.variant.name for row in rows if row.value("runtime_tg_tokens_per_s") is None]
        if slow:
            notes.append(("--min-gen-tps", f"note: no runtime speed in the records of {', '.join(slow)} (made before "
                                           "quantwb measured it), so --min-gen-tps excludes them"))
    if budgets.max_ram_bytes is None:
        return notes
    evaluators = [row.variant.name for row in rows if row.text and row.text.runtime is None and row.value("peak_rss_bytes")]
    if evaluators:
        notes.append(("--max-ram", f"note: the RAM of {', '.join(evaluators)} is quantwb's evaluation process's peak, not "
                                   "the runtime's (records from before quantwb measured the runtime)"))
    if budgets.ctx is not None:
        shapeless = [row.variant.name for row in rows if row.variant.kv_geometry is None]
        if shapeless:
            notes.append(("--max-ram", f"note: no KV cache shape in the records of {', '.join(shapeless)} (made before "
                                       f"quantwb recorded it): their RAM at {budgets.ctx} tokens is not known, so "
                                       "--max-ram excludes them"))
    return notes


def _budget_tests(budgets: Budgets) -> list[tuple[str, Callable[[VariantRow], bool]]]:
    tests: list[tuple[str, Callable[[VariantRow], bool]]] = []
    if budgets.max_size_bytes is not None:
        tests.append((f"--max-size {_mib(budgets.max_size_bytes)}",
                      lambda row: row.variant.size_bytes <= (budgets.max_size_bytes or 0)))
    if budgets.max_ram_bytes is not None:
        at = f" at {budgets.ctx} tokens of context" if budgets.ctx else ""
        tests.append((f"--max-ram {_mib(budgets.max_ram_bytes)}{at}",
                      lambda row: (ram := ram_needed(row, budgets)) is not None and ram <= (budgets.max_ram_bytes or 0)))
    if budgets.min_gen_tokens_per_s is not None:
        tests.append((f"--min-gen-tps {budgets.min_gen_tokens_per_s:g}",
                      lambda row: (tps := row.value("runtime_tg_tokens_per_s")) is not None
                      and tps >= (budgets.min_gen_tokens_per_s or 0)))
    return tests


def _pick(row: VariantRow, by: str, budgets: Budgets) -> Pick:
    return Pick(row.variant.name, row.variant.path, row.variant.quant_type, row.variant.size_bytes,
                ram_needed(row, budgets) if budgets.max_ram_bytes is not None else METRICS["peak_rss_bytes"].read(row),
                float(row.value(by) or 0.0), _uncertainty(row, by))


def _uncertainty(row: VariantRow, by: str) -> float | None:
    if by in METRICS:
        return row.value(f"{by}_unc") if f"{by}_unc" in METRICS else None
    metric = row.task_metric(by)
    return metric.stderr if metric else None


def _describe(pick: Pick, by: str, unit: str) -> str:
    unc = f" ± {pick.uncertainty:.2g}" if pick.uncertainty is not None else ""
    ram = f", RAM {_mib(int(pick.ram_bytes))}" if pick.ram_bytes is not None else ""
    return f"{pick.name} ({by} {pick.value:.4g}{unc}{(' ' + unit) if unit else ''}, {_mib(pick.size_bytes)}{ram})"


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f}MiB"
