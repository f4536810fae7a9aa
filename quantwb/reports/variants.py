"""One variant's measurements (its text and tasks records merged) and the named metrics read from them.

The metric names here are the vocabulary shared by the report columns, the JSON/CSV output and the
`--fail-on` gate, so a name a user sees in a report is a name they can gate on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quantwb.records import BaselineInfo, Metric, Record, RuntimeMemory, RuntimeSpeed, VariantInfo


@dataclass(frozen=True)
class VariantRow:
    """One variant: the records measured on it (either may be missing) and whether it is Pareto-optimal."""

    variant: VariantInfo
    baseline: BaselineInfo
    text: Record | None
    tasks: Record | None
    sources: tuple[Path, ...]
    pareto: bool = False

    @property
    def is_baseline(self) -> bool:
        return self.variant.sha256 == self.baseline.sha256

    def task_metric(self, key: str) -> Metric | None:
        """The task metric named `task.metric` (e.g. arc_easy.acc_norm), or None if not measured."""
        task, _, name = key.partition(".")
        for metric in self.tasks.metrics if self.tasks else ():
            if metric.task == task and metric.name == name:
                return metric
        return None

    def value(self, name: str) -> float | None:
        """The metric `name` (a key of METRICS or `task.metric`) in its natural unit, or None."""
        if name in METRICS:
            return METRICS[name].read(self)
        metric = self.task_metric(name)
        return metric.value if metric else None


@dataclass(frozen=True)
class MetricDef:
    """A named number of a variant: what it means, its unit and which direction is better."""

    description: str
    unit: str
    higher_is_better: bool
    read: Callable[[VariantRow], float | None]


def _kld(row: VariantRow):
    return row.text.kld if row.text else None


def _delta_p(row: VariantRow):
    return kld.delta_p if (kld := _kld(row)) else None


def _ppl(row: VariantRow):
    return row.text.perplexity if row.text else None


def _resources(row: VariantRow):
    return (row.text or row.tasks).resources  # type: ignore[union-attr]


def runtime_speed(row: VariantRow) -> RuntimeSpeed | None:
    """The runtime's own tokens/s (llama-bench's pp and tg, or transformers' generate), or None if not measured."""
    runtime = row.text.runtime if row.text else None
    return runtime.speed if runtime else None


def _text_resources(row: VariantRow):
    return row.text.resources if row.text else None


def _eval_process_peak(row: VariantRow) -> float | None:
    """The highest resident set of quantwb's own evaluation processes (loading or evaluating), over both records."""
    seen = [
        value
        for record in (row.text, row.tasks)
        if record is not None
        for value in (record.resources.peak_rss_load_bytes, record.resources.peak_rss_eval_bytes)
        if value is not None
    ]
    return float(max(seen)) if seen else None


def runtime_memory(row: VariantRow, ctx: int | None = None) -> RuntimeMemory | None:
    """The runtime's measurement at `ctx` (default: the evaluation's context), or None if not measured."""
    runtime = row.text.runtime if row.text else None
    if runtime is None or not runtime.runtime_rss_bytes:
        return None
    wanted = ctx if ctx is not None else (row.text.text.ctx if row.text and row.text.text else None)
    return next((m for m in runtime.runtime_rss_bytes if m.ctx == wanted), None) if wanted else runtime.runtime_rss_bytes[0]


def _runtime_rss(row: VariantRow) -> float | None:
    measured = runtime_memory(row)
    return None if measured is None else float(measured.rss_bytes)


def ram_is_evaluators(row: VariantRow) -> bool:
    """Whether the row's RAM figure is the evaluator's peak (a record from before the runtime was measured)."""
    return _runtime_rss(row) is None and _eval_process_peak(row) is not None


def _ram_to_run(row: VariantRow) -> float | None:
    """The runtime's peak RSS at the evaluation's context; for an older record, the evaluator's peak."""
    runtime = _runtime_rss(row)
    return runtime if runtime is not None else _eval_process_peak(row)


def _opt(getter: Callable[[VariantRow], object | None], attribute: str, scale: float = 1.0):
    def read(row: VariantRow) -> float | None:
        owner = getter(row)
        value = None if owner is None else getattr(owner, attribute)
        return None if value is None else float(value) * scale

    return read


def _kld_stat(attribute: str | None, percentile: str | None = None):
    def read(row: VariantRow) -> float | None:
        kld = _kld(row)
        if kld is None:
            return None
        if percentile is not None:
            return kld.kld.percentiles.get(percentile)
        return float(getattr(kld.kld, attribute))

    return read


# name -> definition; one table, read by the report columns, the machine outputs and the gate.
METRICS: dict[str, MetricDef] = {
    "size_bytes": MetricDef("bytes of the weight files", "B", False, lambda r: float(r.variant.size_bytes)),
    "bpw": MetricDef("bits per weight", "bits", False, lambda r: r.variant.bits_per_weight),
    "peak_rss_bytes": MetricDef("RAM to run at the evaluation's context: peak RSS of a fresh process of the "
                                "variant's runtime (llama.cpp, transformers); the evaluator's peak in records "
                                "made before quantwb measured the runtime", "B", False, _ram_to_run),
    "runtime_rss_bytes": MetricDef("peak RSS of the variant's runtime at the evaluation's context", "B", False,
                                   _runtime_rss),
    "eval_process_peak_bytes": MetricDef("peak RSS of quantwb's own evaluation process (loading or evaluating)", "B",
                                         False, _eval_process_peak),
    "peak_rss_eval_bytes": MetricDef("peak RSS of quantwb's evaluation process while scoring the text", "B", False,
                                     _opt(_text_resources, "peak_rss_eval_bytes")),
    "ppl": MetricDef("perplexity on the text", "", False, _opt(_ppl, "ppl")),
    "ppl_unc": MetricDef("uncertainty of the perplexity", "", False, _opt(_ppl, "ppl_unc")),
    "ppl_ratio": MetricDef("PPL(variant) / PPL(baseline)", "", False, _opt(_kld, "ppl_ratio")),
    "ppl_ratio_unc": MetricDef("uncertainty of the PPL ratio", "", False, _opt(_kld, "ppl_ratio_unc")),
    "kld_mean": MetricDef("mean KL(baseline || variant) per token", "nats", False, _kld_stat("mean")),
    "kld_mean_unc": MetricDef("uncertainty of the mean KLD", "nats", False, _kld_stat("mean_unc")),
    "kld_p99": MetricDef("99th percentile of the per-token KLD", "nats", False, _kld_stat(None, "99")),
    "kld_max": MetricDef("largest per-token KLD", "nats", False, _kld_stat("max")),
    "same_top_pct": MetricDef("tokens where both models' top-1 agree", "%", True, _opt(_kld, "same_top_p", 100.0)),
    "same_top_pct_unc": MetricDef("uncertainty of same-top", "%", False, _opt(_kld, "same_top_p_unc", 100.0)),
    "delta_p_rms_pct": MetricDef("RMS of Δp, the change in the next token's probability", "%", False,
                                 _opt(_delta_p, "rms", 100.0)),
    "runtime_pp_tokens_per_s": MetricDef("prompt tokens/s of the variant's runtime in a fresh process (llama.cpp: "
                                         "llama-bench's pp, 512 tokens by default; transformers: generate's prefill)", "tokens/s", True,
                                         _opt(runtime_speed, "pp_tokens_per_s")),
    "runtime_tg_tokens_per_s": MetricDef("generation tokens/s of the variant's runtime in a fresh process (llama.cpp: "
                                         "llama-bench's tg, 128 tokens by default; transformers: generate)", "tokens/s", True,
                                         _opt(runtime_speed, "tg_tokens_per_s")),
    "prompt_tokens_per_s": MetricDef("quantwb's evaluator's own prompt throughput (its scoring passes), not the "
                                     "runtime's", "tokens/s", True, _opt(_resources, "prompt_tokens_per_s")),
    "gen_tokens_per_s": MetricDef("quantwb's evaluator's own greedy generation throughput, not the runtime's",
                                  "tokens/s", True, _opt(_resources, "gen_tokens_per_s")),
}

# Which task metric a column shows when a task reports several: normalized accuracy first, as papers do.
PREFERRED_TASK_METRICS = ("acc_norm", "acc", "exact_match", "word_perplexity")


def describe(name: str) -> str:
    """One-line meaning of a metric name, for help texts and error messages."""
    if name in METRICS:
        return METRICS[name].description
    task, _, metric = name.partition(".")
    return f"{metric} on task {task}"


def known_metrics(rows: tuple[VariantRow, ...] | list[VariantRow]) -> list[str]:
    """Every metric name the rows can be asked for: the METRICS keys, then their `task.metric` keys."""
    tasks = sorted({f"{m.task}.{m.name}" for row in rows if row.tasks for m in row.tasks.metrics})
    return [*METRICS, *tasks]


def higher_is_better(name: str, rows: list[VariantRow]) -> bool:
    if name in METRICS:
        return METRICS[name].higher_is_better
    for row in rows:
        if metric := row.task_metric(name):
            return metric.higher_is_better
    return True
