"""The report's columns as text cells, shared by the terminal, Markdown and HTML renderers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from quantwb.reports.compare import Report
from quantwb.reports.measured_on import machine_lines
from quantwb.reports.numbers import MISSING, Formatter, UncFormatter, human_bytes, number, with_unc
from quantwb.reports.paired_cells import flip_columns, paired_columns, statistics_lines
from quantwb.reports.speed_cells import speed_columns, speed_lines
from quantwb.reports.variants import VariantRow, ram_is_evaluators

PARETO_MARK = "★"

Row = TypeVar("Row")


@dataclass(frozen=True)
class Column(Generic[Row]):
    """A table column: its header, the text of its cell in a row, and whether it is right-aligned (a number)."""

    header: str
    cell: Callable[[Row], str]
    numeric: bool = True


def _variant_cell(row: VariantRow) -> str:
    mark = f"{PARETO_MARK} " if row.pareto else ""
    foreign = " (other source)" if row.variant.foreign_source else ""
    return f"{mark}{row.variant.name}{' (baseline)' if row.is_baseline else ''}{foreign}"


def _method_cell(row: VariantRow) -> str:
    kind = row.variant.quant_type
    return f"{row.variant.method} {kind}" if kind and kind != row.variant.method else row.variant.method


def type_mix(tensor_types: dict[str, int] | None) -> str:
    """'166×Q5_0 · 15×Q8_0 · 14×Q6_K': the quantized tensors of a GGUF by written type, most first (floats left out)."""
    counts = sorted(((n, name) for name, n in (tensor_types or {}).items() if name not in ("F32", "F16", "BF16")),
                    key=lambda item: (-item[0], item[1]))
    return " · ".join(f"{n}×{name}" for n, name in counts) or MISSING


def _task_cell(key: str) -> Callable[[VariantRow], str]:
    def cell(row: VariantRow) -> str:
        metric = row.task_metric(key)
        if metric is None:
            return MISSING
        if metric.name.startswith(("acc", "exact_match")):  # proportions read best as percent
            stderr = None if metric.stderr is None else 100 * metric.stderr
            return with_unc(100 * metric.value, stderr, 3)
        return with_unc(metric.value, metric.stderr)

    return cell


def ram_header(report: Report) -> str:
    """'RAM to run (ctx 512)': the runtime's peak RSS at the evaluation's context."""
    text = report.text_data
    return f"RAM to run (ctx {text.ctx})" if text else "RAM to run"


def _ram_cell(row: VariantRow) -> str:
    """The runtime's RSS; an older record's figure is the evaluator's peak, and the cell says so."""
    text = human_bytes(row.value("peak_rss_bytes"))
    return f"{text} (evaluator)" if text != MISSING and ram_is_evaluators(row) else text


def runtime_lines(report: Report) -> list[str]:
    """How the RAM column was measured, and which rows' RAM is the evaluator's (records from before)."""
    lines = []
    runtimes = {(rt.engine, rt.engine_version, rt.device, rt.threads, rt.kv_type, rt.runtime_rss_bytes[0].gen_tokens)
                for row in report.rows if row.text and (rt := row.text.runtime) and rt.runtime_rss_bytes}
    for engine, version, device, threads, kv_type, gen in sorted(runtimes):
        held = ("allocates the context's KV cache at load" if engine == "llama.cpp"
                else "is given a prompt that fills the context")
        lines.append(f"RAM to run: peak RSS of a fresh {engine} process ({version}, {device}, {threads} threads, "
                     f"KV cache {kv_type}) that loads the variant, {held}, and generates {gen} tokens")
    old = [row.variant.name for row in report.rows if ram_is_evaluators(row)]
    if old:
        lines.append(f"RAM of {', '.join(old)} is quantwb's evaluation process's peak, not what running the variant "
                     "takes: their records predate the runtime measurement (evaluate them again for it)")
    return lines


def metric_cell(name: str, fmt: Formatter = number) -> Callable[[VariantRow], str]:
    """The cell of METRICS[name] (or a `task.metric`), formatted by `fmt`."""
    return lambda row: fmt(row.value(name))


def metric_unc_cell(name: str, unc: str, fmt: UncFormatter = with_unc) -> Callable[[VariantRow], str]:
    """The cell `value ± unc` of two metrics, formatted by `fmt`."""
    return lambda row: fmt(row.value(name), row.value(unc))


def columns(report: Report) -> list[Column]:
    """Columns in reading order; a column no variant has a value for is left out."""
    fixed = [
        Column("variant", _variant_cell, numeric=False),
        Column("format", lambda row: row.variant.format, numeric=False),
        Column("method", _method_cell, numeric=False),
        Column("bpw", metric_cell("bpw", lambda v: number(v, 3))),
        Column("size", metric_cell("size_bytes", human_bytes)),
        Column(ram_header(report), _ram_cell),
        Column("PPL", metric_unc_cell("ppl", "ppl_unc")),
        Column("PPL ratio", metric_unc_cell("ppl_ratio", "ppl_ratio_unc")),
        Column("KLD mean", metric_unc_cell("kld_mean", "kld_mean_unc")),
        Column("KLD p99", metric_cell("kld_p99")),
        Column("same top %", metric_unc_cell("same_top_pct", "same_top_pct_unc")),
    ]
    fixed += [Column(header, cell) for header, cell in paired_columns(report)]
    tasks = [column for key in report.task_columns for column in (
        Column(f"{key.replace('.', ' ')} %" if ".acc" in key else key.replace(".", " "), _task_cell(key)),
        *(Column(header, cell) for header, cell in flip_columns(report, key)))]
    speed = [Column(header, cell) for header, cell in speed_columns(report)]
    # what each GGUF holds, since a type name hides it (llama.cpp's "Q4_K_M" may be mostly Q5_0)
    types = ([Column("tensor types", lambda row: type_mix(row.variant.tensor_types), numeric=False)]
             if any(row.variant.tensor_types for row in report.rows) else [])
    fixed[3:3] = types
    chosen = [*fixed, *tasks, *speed]
    return [col for col in chosen if not col.numeric or any(col.cell(row) != MISSING for row in report.rows)]


def cells(report: Report) -> tuple[list[str], list[list[str]]]:
    """(headers, rows of cell text) for the whole report."""
    cols = columns(report)
    return [col.header for col in cols], [[col.cell(row) for col in cols] for row in report.rows]


def preamble(report: Report) -> list[str]:
    """Lines stated above the table: baseline, its origin, the data, the Pareto criterion."""
    lines = []
    for baseline in report.baselines:
        lines.append(f"Baseline: {baseline.name} (sha256 {baseline.sha256[:12]})")
        if baseline.origin:
            lines.append(f"Baseline origin: {baseline.origin}")
    foreign = [row.variant.name for row in report.rows if row.variant.foreign_source]
    if foreign:
        lines.append(f"Warning: made from another model than the baseline (--allow-foreign-variant): {', '.join(foreign)}")
    if len(report.baselines) > 1:
        lines.append("Warning: variants were measured against different baselines; KLD and PPL ratios do not compare across them")
    if text := report.text_data:
        lines.append(
            f"Text: {text.name} (sha256 {text.sha256[:12]}), {text.n_tokens} tokens, ctx {text.ctx}, "
            f"{text.n_chunks} chunks, {text.n_scored} scored positions (second half of each window, as llama.cpp)"
        )
    if report.task_names:
        limit = report.task_settings.get("limit")
        shots = report.task_settings.get("num_fewshot")
        documents = f"first {limit} documents of each task" if limit else "every document"
        shots_text = "each task's default number of few-shot examples" if shots is None else f"{shots}-shot"
        lines.append(f"Tasks (lm-eval): {', '.join(report.task_names)}; {documents}, {shots_text}")
    lines += machine_lines(report) + runtime_lines(report) + speed_lines(report)
    if report.pareto_metric:
        lines.append(f"{PARETO_MARK} Pareto-optimal: no other variant is both smaller and lower in {report.pareto_metric}. Sorted by size.")
    return lines + statistics_lines(report)
