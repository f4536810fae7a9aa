"""The report's per-GGUF type-mix cell: what llama.cpp wrote, not what the type name says."""

from __future__ import annotations

from pathlib import Path

from quantwb import records as r
from quantwb.reports.compare import compare
from quantwb.reports.markdown import render_markdown
from quantwb.reports.table import type_mix
from tests.report_records import VARIANTS, text_record


def test_cell_counts_quantized_types_most_first() -> None:
    assert type_mix({"F32": 61, "Q6_K": 14, "Q5_0": 166, "Q8_0": 15}) == "166×Q5_0 · 15×Q8_0 · 14×Q6_K"
    assert type_mix(None) == type_mix({"F32": 3}) == "–"


def test_report_shows_the_cell_for_gguf_rows(tmp_path: Path) -> None:
    for spec in VARIANTS[:2]:
        record = text_record(spec)
        if spec[1] == "gguf":
            variant = record.variant.model_copy(update={"tensor_types": {"F32": 61, "Q5_0": 166, "Q8_0": 15, "Q6_K": 14}})
            record = record.model_copy(update={"variant": variant})
        r.write_record(record, tmp_path)
    text = render_markdown(compare([tmp_path]))
    assert "tensor types" in text and "166×Q5_0 · 15×Q8_0 · 14×Q6_K" in text
