"""Rendering from records: the eval tables' pinned formats, one byte format, help and metric names from METRICS."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from quantwb import records as r
from quantwb.reports.compare import compare
from quantwb.reports.eval_table import TASK_COLUMNS, TEXT_COLUMNS, eval_tables
from quantwb.reports.machine import render_csv
from quantwb.reports.numbers import fixed, human_bytes
from quantwb.reports.variants import METRICS, VariantRow, known_metrics
from tests.report_records import SPEED, VARIANTS, tasks_record, text_record, with_runtime, write_all

REPORTS = Path(__file__).resolve().parents[1] / "quantwb" / "reports"


def _text_cells(record: r.Record) -> list[str]:
    row = VariantRow(variant=record.variant, baseline=record.baseline, text=record, tasks=None, sources=())
    return [col.cell(row) for col in TEXT_COLUMNS]


def test_eval_text_row_keeps_its_formats() -> None:
    q4 = with_runtime(text_record(VARIANTS[5]), {512: 190 * 2**20}, speed=SPEED)  # m-Q4_K_M: 92 MB, PPL 21, KLD 0.04
    assert [col.header for col in TEXT_COLUMNS] == [
        "variant", "type", "MiB", "bpw", "PPL", "KLD mean", "same top", "Δp RMS", "run MiB", "run pp tok/s",
        "run tg tok/s"]
    # the runtime's RSS and tokens/s, not the evaluator's (1000 and 50 tokens/s in the record's resources)
    assert _text_cells(q4) == [
        "m-Q4_K_M", "Q4_K_M", "87.7", "4.90", "21.000 ± 0.210", "0.04000 ± 0.00080", "98.00 %", "-0.60 %", "190", "900",
        "60.0"]
    assert _text_cells(text_record(VARIANTS[5]))[-3:] == ["422", "-", "-"]  # an older record: no runtime speed


def test_eval_text_row_shows_unmeasured_as_dash() -> None:
    record = text_record(VARIANTS[0]).model_copy(update={"resources": r.Resources()})
    variant = record.variant.model_copy(update={"bits_per_weight": None, "quant_type": None})
    cells = _text_cells(record.model_copy(update={"variant": variant}))
    assert cells[1] == "fp" and cells[3] == "-" and cells[-3:] == ["-", "-", "-"]
    assert fixed(2, " %")(-0.0) == "0.00 %"  # a zero Δp RMS never prints as -0.00


def test_eval_tables_rows_and_task_scores() -> None:
    text = [text_record(spec) for spec in VARIANTS[:2]]
    no_kld = text_record(VARIANTS[2]).model_copy(update={"kld": None})
    tables = eval_tables([*text, no_kld])
    assert len(tables) == 1 and tables[0].row_count == 2  # no tasks table without tasks records; no KLD, no row
    tables = eval_tables([*text, tasks_record(VARIANTS[1])])
    assert [t.row_count for t in tables] == [2, 3]
    assert [col.header for col in TASK_COLUMNS] == ["variant", "task", "metric", "value", "± stderr"]
    console = Console(file=io.StringIO(), width=160)
    for table in tables:
        console.print(table)
    out = console.file.getvalue()
    assert "20.020 ± 0.200" in out and "0.00080 ± 0.00002" in out
    assert "│ m-Q8_0  │ arc_easy  │ acc_norm │ 0.4600 │   0.0700 │" in out


@pytest.mark.parametrize(("n", "text"), [(None, "–"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"),
                                         (2**20 - 1, "1024.0 KiB"), (270 * 2**20, "270.0 MiB"), (5 * 2**30, "5.0 GiB")])
def test_human_bytes(n: int | None, text: str) -> None:
    assert human_bytes(n) == text


def test_one_list_of_metric_names(tmp_path: Path) -> None:
    report = compare([write_all(tmp_path)])
    names = known_metrics(report.rows)
    assert names[: len(METRICS)] == list(METRICS) and names[len(METRICS):] == ["arc_easy.acc", "arc_easy.acc_norm", "hellaswag.acc_norm"]
    assert render_csv(report).splitlines()[0].split(",")[5:] == names
    assert {"peak_rss_eval_bytes", "delta_p_rms_pct"} <= set(METRICS)  # the eval table's columns read METRICS


def test_compare_help_lists_every_metric() -> None:
    from quantwb.commands.compare_command import compare as compare_cmd

    result = CliRunner().invoke(compare_cmd, ["--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, definition in METRICS.items():
        assert any(line.split()[:1] == [name] and definition.description in line for line in lines), name
    assert "TASK.METRIC" in result.output


def test_reports_never_import_evaluate_or_quantize() -> None:
    """Records are the only interface between measuring and reporting."""
    for path in sorted(REPORTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for module in modules:
                assert not module.startswith(("quantwb.evaluate", "quantwb.quantize")), f"{path.name} imports {module}"


def test_ram_column_is_the_runtimes_and_old_records_say_theirs_is_the_evaluators(tmp_path: Path) -> None:
    from quantwb.reports.markdown import render_markdown

    r.write_record(with_runtime(text_record(VARIANTS[3]), {512: 190 * 2**20, 8192: 360 * 2**20}), tmp_path)
    r.write_record(text_record(VARIANTS[5]), tmp_path)  # m-Q4_K_M: from before the runtime was measured
    report = compare([tmp_path])
    text = render_markdown(report)
    header = next(line for line in text.splitlines() if line.startswith("| variant"))
    assert "| RAM to run (ctx 512) |" in header and "peak RAM" not in header
    row = next(line for line in text.splitlines() if "m-Q5_K_M |" in line)
    assert "| 190.0 MiB |" in row  # the runtime at the evaluation's context, not 8192 and not the evaluator's
    old = next(line for line in text.splitlines() if "m-Q4_K_M |" in line)
    assert f"| {human_bytes(92_000_000 + 350_000_000)} (evaluator) |" in old
    assert ("RAM of m-Q4_K_M is quantwb's evaluation process's peak, not what running the variant takes: their "
            "records predate the runtime measurement (evaluate them again for it)") in text
    assert "RAM to run: peak RSS of a fresh llama.cpp process (llama.cpp 1.0, cpu, 2 threads, KV cache f16)" in text
    values = {row.variant.name: (row.value("runtime_rss_bytes"), row.value("eval_process_peak_bytes")) for row in report.rows}
    assert values == {"m-Q5_K_M": (190 * 2**20, 100_000_000 + 350_000_000), "m-Q4_K_M": (None, 92_000_000 + 350_000_000)}

    from quantwb.reports.html import render_html

    html = render_html(report)
    drill = html[html.index('<table id="memory">'):]
    assert "<td>8192</td><td>360.0 MiB</td>" in drill  # every context measured, not only the evaluation's
    assert f"<td>{human_bytes(100_000_000 + 350_000_000)}</td>" in drill  # the evaluator's peak moved here
    assert "<td>m-Q4_K_M</td><td>not measured (older record)</td>" in drill


def test_a_speed_measured_beside_other_work_is_marked_and_the_load_stated(tmp_path: Path) -> None:
    from quantwb.reports.html import render_html
    from quantwb.reports.markdown import render_markdown

    idle, loaded = (SPEED.model_copy(update={"other_cores_busy": busy, "cpus": 2}) for busy in (0.03, 0.91))
    r.write_record(with_runtime(text_record(VARIANTS[3]), {512: 190 * 2**20}, speed=idle), tmp_path)
    r.write_record(with_runtime(text_record(VARIANTS[5]), {512: 180 * 2**20}, speed=loaded), tmp_path)
    r.write_record(with_runtime(text_record(VARIANTS[6]), {512: 170 * 2**20}, speed=SPEED), tmp_path)  # not measured
    report = compare([tmp_path])
    text = render_markdown(report)
    assert next(line for line in text.splitlines() if "m-Q5_K_M |" in line).endswith("| 900 | 60 |")
    assert next(line for line in text.splitlines() if "m-Q4_K_M |" in line).endswith(
        "| 900 (others kept 0.91 cores busy) | 60 (others kept 0.91 cores busy) |")
    assert "- Load: while each speed test ran, other processes kept at most 0.91 cores busy (of 2)" in text
    assert ("- Warning: m-Q4_K_M (0.91) were timed while other processes kept at least 0.25 cores busy: their speed "
            "is understated and does not compare with the other rows (measure them again on an idle machine)") in text
    assert "- Load while m-Q2_K were timed: not measured" in text
    drill = render_html(report)
    assert "<td>tg128 60 ± 1.5</td><td>0.91</td>" in drill


def test_speed_columns_are_the_runtimes_and_old_records_render_blank(tmp_path: Path) -> None:
    from quantwb.reports.html import render_html
    from quantwb.reports.markdown import render_markdown

    r.write_record(with_runtime(text_record(VARIANTS[3]), {512: 190 * 2**20}, speed=SPEED), tmp_path)
    r.write_record(text_record(VARIANTS[5]), tmp_path)  # m-Q4_K_M: from before the runtime's speed was measured
    r.write_record(text_record(VARIANTS[6]), tmp_path)  # m-Q2_K: likewise
    report = compare([tmp_path])
    text = render_markdown(report)
    header = next(line for line in text.splitlines() if line.startswith("| variant"))
    assert header.endswith("| pp512 tok/s (llama.cpp, 2 threads, cpu) | tg128 tok/s (llama.cpp, 2 threads, cpu) |")
    assert next(line for line in text.splitlines() if "m-Q5_K_M |" in line).endswith("| 900 | 60 |")
    for name in ("m-Q4_K_M", "m-Q2_K"):  # blank, not the evaluator's 1000 and 50 tokens/s
        assert next(line for line in text.splitlines() if f"{name} |" in line).endswith("| – | – |")
    notes = [line for line in text.splitlines() if "not measured by their runtime" in line]
    assert notes == ["- Speed of m-Q2_K, m-Q4_K_M not measured by their runtime: their records predate it (evaluate "
                     "them again for it); quantwb's evaluator's own throughput is in the JSON report (gen_tokens_per_s)"]
    values = {row.variant.name: (row.value("runtime_tg_tokens_per_s"), row.value("gen_tokens_per_s")) for row in report.rows}
    assert values == {"m-Q5_K_M": (60.0, 50.0), "m-Q4_K_M": (None, 50.0), "m-Q2_K": (None, 50.0)}

    drill = render_html(report)
    drill = drill[drill.index('<table id="speed">'):]
    assert "<td>pp512 900 ± 12</td><td>tg128 60 ± 1.5</td><td>–</td><td>1000</td><td>50</td>" in drill
    assert "<td>m-Q4_K_M</td><td>not measured (older record)</td>" in drill


def test_the_report_names_the_machine_and_warns_when_records_come_from_different_cpus(tmp_path: Path) -> None:
    from quantwb.reports.markdown import render_markdown

    here = {"cpus": "2", "cpu": "AMD EPYC", "cpu_simd": "avx2 avx512f"}
    there = {**here, "cpu_simd": "avx2"}
    r.write_record(text_record(VARIANTS[3]).model_copy(update={"environment": here}), tmp_path)
    r.write_record(text_record(VARIANTS[5]).model_copy(update={"environment": here}), tmp_path)
    assert "- Machine: AMD EPYC, 2 logical CPUs, avx2 avx512f" in render_markdown(compare([tmp_path]))

    r.write_record(text_record(VARIANTS[6]).model_copy(update={"environment": there}), tmp_path)
    r.write_record(text_record(VARIANTS[0]), tmp_path)  # from before the machine was recorded
    text = render_markdown(compare([tmp_path]))
    assert "- Machine: " not in text
    assert ("- Warning: the records come from CPUs that differ (AMD EPYC, 2 logical CPUs, avx2: m-Q2_K; AMD EPYC, "
            "2 logical CPUs, avx2 avx512f: m-Q4_K_M, m-Q5_K_M)") in text
    assert f"- Machine of {VARIANTS[0][0]}: not stated" in text
