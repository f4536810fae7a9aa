"""The tables `quantwb eval` prints after measuring: one row per text record, one per task score.

Values are read through METRICS (the names the reports, the JSON/CSV output and the gate share);
the headers and fixed-decimal formats of this quick view are defined here, once.
"""

from __future__ import annotations

from rich.table import Table

from quantwb.records import Metric, Record
from quantwb.reports.numbers import fixed, fixed_unc
from quantwb.reports.table import Column, metric_cell, metric_unc_cell
from quantwb.reports.terminal import rich_table
from quantwb.reports.variants import VariantRow

_MIB = 2**20

TEXT_COLUMNS: tuple[Column[VariantRow], ...] = (
    Column("variant", lambda row: row.variant.name, numeric=False),
    Column("type", lambda row: row.variant.quant_type or row.variant.method, numeric=False),
    Column("MiB", metric_cell("size_bytes", fixed(1, divisor=_MIB))),
    Column("bpw", metric_cell("bpw", fixed(2))),
    Column("PPL", metric_unc_cell("ppl", "ppl_unc", fixed_unc(3))),
    Column("KLD mean", metric_unc_cell("kld_mean", "kld_mean_unc", fixed_unc(5))),
    Column("same top", metric_cell("same_top_pct", fixed(2, " %"))),
    Column("Δp RMS", metric_cell("delta_p_rms_pct", fixed(2, " %"))),
    Column("run MiB", metric_cell("peak_rss_bytes", fixed(0, divisor=_MIB))),  # the runtime's RSS at the eval's ctx
    # the runtime's own tokens/s (llama-bench's pp and tg, or generate), not the evaluator's (in the record)
    Column("run pp tok/s", metric_cell("runtime_pp_tokens_per_s", fixed(0))),
    Column("run tg tok/s", metric_cell("runtime_tg_tokens_per_s", fixed(1))),
)

_SCORE = fixed(4)

TASK_COLUMNS: tuple[Column[tuple[Record, Metric]], ...] = (
    Column("variant", lambda item: item[0].variant.name, numeric=False),
    Column("task", lambda item: item[1].task, numeric=False),
    Column("metric", lambda item: item[1].name, numeric=False),
    Column("value", lambda item: _SCORE(item[1].value)),
    Column("± stderr", lambda item: _SCORE(item[1].stderr)),
)


def _text_row(record: Record) -> VariantRow:
    return VariantRow(variant=record.variant, baseline=record.baseline, text=record, tasks=None, sources=())


def eval_tables(records: list[Record]) -> list[Table]:
    """The text table (records with PPL and KLD), then the task-score table if any tasks record is given."""
    text = [_text_row(r) for r in records if r.evaluation == "text" and r.perplexity is not None and r.kld is not None]
    tables = [rich_table("quantwb eval", TEXT_COLUMNS, text, no_wrap=False)]
    if tasks := [r for r in records if r.evaluation == "tasks"]:
        scores = [(r, m) for r in tasks for m in r.metrics]
        tables.append(rich_table("quantwb eval: lm-eval tasks", TASK_COLUMNS, scores, no_wrap=False))
    return tables
