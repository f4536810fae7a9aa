"""compare: merging, ordering, Pareto marks, stated context, and one clear line for every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb import records as r
from quantwb.errors import InputError, RecordError
from quantwb.reports.compare import CompareOptions, compare
from quantwb.reports.machine import render_csv, render_json
from quantwb.reports.markdown import render_markdown
from tests.cli_helpers import invoke, one_error_line, quantwb
from tests.report_records import BASE, SPEED, TEXT, VARIANTS, tasks_record, text_record, with_runtime, write_all


def test_rows_merge_sort_and_pareto(tmp_path: Path) -> None:
    report = compare([write_all(tmp_path)])
    names = [row.variant.name for row in report.rows]
    assert names == ["m-Q2_K", "m-Q4_K_M", "m-Q5_K_M", "m-gptq-w4g64", "m-Q6_K", "m-Q8_0", "m"]  # by size
    assert all(row.text is not None and row.tasks is not None for row in report.rows), "text+tasks not merged"
    assert report.pareto_metric == "kld_mean"
    # the GPTQ variant is both bigger and worse than Q4_K_M (and Q5_K_M): the only dominated one
    assert [row.variant.name for row in report.rows if not row.pareto] == ["m-gptq-w4g64"]
    assert report.task_columns == ("arc_easy.acc_norm", "hellaswag.acc_norm")
    base = report.rows[-1]
    assert base.is_baseline and base.value("kld_mean") == 0.0
    q2 = report.rows[0]
    assert q2.value("ppl_ratio") == pytest.approx(35.0 / 20.0)
    assert q2.value("kld_p99") == pytest.approx(0.55 * 9)
    assert q2.value("same_top_pct") == pytest.approx(100 * (1 - 0.55 / 2))
    assert q2.value("peak_rss_bytes") == 60_000_000 + 350_000_000  # max of load and eval
    assert q2.value("arc_easy.acc") == pytest.approx(0.37)


def test_pareto_falls_back_to_ppl_without_kld(tmp_path: Path) -> None:
    for spec in VARIANTS[1:4]:
        record = text_record(spec)
        r.write_record(record.model_copy(update={"kld": None}), tmp_path)
    report = compare([tmp_path])
    assert report.pareto_metric == "ppl" and all(row.pareto for row in report.rows)


def test_markdown_states_baseline_origin_and_data(tmp_path: Path) -> None:
    text = render_markdown(compare([write_all(tmp_path)]))
    assert "Baseline: m (sha256 bbbbbbbbbbbb)" in text
    assert "dequantized from the Q4_1 GGUF" in text
    assert "Text: wiki" in text and "40000 tokens, ctx 512, 20 chunks" in text
    assert "Tasks (lm-eval): arc_easy, hellaswag; first 50 documents of each task, 0-shot" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0].split(" | ")[:4] == ["| variant", "format", "method", "bpw"]
    assert "KLD p99" in lines[0] and "arc_easy acc_norm %" in lines[0]
    assert "tok/s" not in lines[0]  # records without the runtime's speed: no speed column, not the evaluator's
    q2 = next(line for line in lines if "m-Q2_K" in line)
    assert q2.startswith("| ★ m-Q2_K |") and "57.2 MiB" in q2 and "35.0 ± 7.0" in q2
    assert "| 35.00 ± 0.35 | 1.7500 ± 0.0010 | 0.550 ± 0.011 | 4.95 |" in q2
    gptq = next(line for line in lines if "gptq" in line)
    assert "★" not in gptq


def test_json_and_csv_carry_every_metric(tmp_path: Path) -> None:
    report = compare([write_all(tmp_path)])
    payload = json.loads(render_json(report))
    q8 = next(v for v in payload["variants"] if v["variant"] == "m-Q8_0")
    assert q8["metrics"]["kld_mean"] == pytest.approx(0.0008) and q8["pareto"] is True
    assert q8["metrics"]["hellaswag.acc_norm"] == pytest.approx(0.33)
    assert payload["baselines"][0]["origin"].startswith("dequantized")
    csv_lines = render_csv(report).splitlines()
    assert len(csv_lines) == 1 + len(VARIANTS) and "kld_mean" in csv_lines[0].split(",")


def test_tasks_only_variant_still_listed(tmp_path: Path) -> None:
    r.write_record(text_record(VARIANTS[1]), tmp_path)
    r.write_record(tasks_record(VARIANTS[2]), tmp_path)
    report = compare([tmp_path])
    assert [(row.text is None, row.tasks is None) for row in report.rows] == [(True, False), (False, True)]


def test_different_baselines_refused_unless_allowed(tmp_path: Path) -> None:
    other = r.BaselineInfo(name="other", sha256="e" * 64)
    write_all(tmp_path, VARIANTS[:3])
    r.write_record(text_record(("z-Q4_0", "gguf", "gguf", "Q4_0", 1, 4.5, 30.0, 0.1, 0, 0), baseline=other), tmp_path)
    with pytest.raises(RecordError, match="2 different baselines"):
        compare([tmp_path])
    assert len(compare([tmp_path], CompareOptions(allow_mixed_baselines=True)).baselines) == 2
    assert [row.variant.name for row in compare([tmp_path], CompareOptions(baseline="other")).rows] == ["z-Q4_0"]
    with pytest.raises(InputError, match="--baseline nope"):
        compare([tmp_path], CompareOptions(baseline="nope"))


def test_different_text_data_refused(tmp_path: Path) -> None:
    r.write_record(text_record(VARIANTS[1]), tmp_path)
    r.write_record(text_record(VARIANTS[2], text=TEXT.model_copy(update={"ctx": 256})), tmp_path)
    with pytest.raises(RecordError, match="different text data"):
        compare([tmp_path])


def test_cli_bad_inputs_one_line_each(tmp_path: Path) -> None:
    """In a separate process: the exit code and the one stderr line are what a user's shell (or CI) gets."""
    good = r.write_record(text_record(VARIANTS[1]), tmp_path / "a")
    newer = tmp_path / "a" / "future.json"
    payload = json.loads(good.read_text())
    payload.update(schema_version=2)
    payload["variant"]["name"] = "future"
    newer.write_text(json.dumps(payload))
    line = one_error_line(quantwb("compare", str(tmp_path / "a")))
    assert "different schema versions" in line and "v1" in line and "v2: future.json" in line

    truncated = r.write_record(text_record(VARIANTS[2]), tmp_path / "b")
    truncated.write_text(truncated.read_text()[:200])
    result = quantwb("compare", str(tmp_path / "b"))
    assert result.returncode == 4 and "truncated" in one_error_line(result)

    r.write_record(text_record(VARIANTS[1]), tmp_path / "c")
    r.write_record(text_record(VARIANTS[2], baseline=BASE.model_copy(update={"name": "n", "sha256": "f" * 64})), tmp_path / "c")
    result = quantwb("compare", str(tmp_path / "c"))
    assert result.returncode == 4 and "different baselines" in one_error_line(result)
    assert quantwb("compare", "--allow-mixed-baselines", str(tmp_path / "c")).returncode == 0

    assert "no such record" in one_error_line(quantwb("compare", str(tmp_path / "missing.json")))


def test_cli_writes_each_format(tmp_path: Path) -> None:
    results = write_all(tmp_path / "results")
    terminal = invoke("compare", str(results))
    assert terminal.exit_code == 0 and "m-Q4_K_M" in terminal.stdout and "Baseline: m" in terminal.stdout
    for suffix in ("md", "json", "csv"):
        out = tmp_path / f"report.{suffix}"
        assert invoke("compare", str(results), "--out", str(out)).exit_code == 0
        assert "m-Q2_K" in out.read_text()
    assert json.loads(invoke("compare", str(results), "--format", "json").stdout)["kind"] == "quantwb.report"
    result = quantwb("compare", str(results), "--out", str(tmp_path / "report.txt"))  # the error as a user's shell gets it
    assert "cannot tell the format" in one_error_line(result)


def test_task_settings_must_agree_where_they_change_numbers(tmp_path: Path) -> None:
    gguf = tasks_record(VARIANTS[1])
    r.write_record(gguf.model_copy(update={"task_settings": {**gguf.task_settings, "backend": "llama.cpp"}}), tmp_path)
    r.write_record(tasks_record(VARIANTS[0]), tmp_path)
    assert len(compare([tmp_path]).rows) == 2  # a different backend per format is expected
    other = tasks_record(VARIANTS[2])
    r.write_record(other.model_copy(update={"task_settings": {**other.task_settings, "limit": 100}}), tmp_path / "limit")
    r.write_record(tasks_record(VARIANTS[0]), tmp_path / "limit")
    with pytest.raises(RecordError, match="different task settings"):
        compare([tmp_path / "limit"])
    r.write_record(other.model_copy(update={"task_settings": {**other.task_settings, "data_sha256": {"arc_easy": "9" * 64}}}),
                   tmp_path / "data")
    r.write_record(tasks_record(VARIANTS[0]), tmp_path / "data")
    with pytest.raises(RecordError, match="task arc_easy was scored on 2 different data files"):
        compare([tmp_path / "data"])


def test_speed_from_different_devices_is_labelled_not_mixed(tmp_path: Path) -> None:
    for i, spec in enumerate(VARIANTS[:3]):
        device = "cuda" if i == 1 else "cpu"
        r.write_record(with_runtime(text_record(spec), {512: 2**28}, speed=SPEED, device=device), tmp_path)
    text = render_markdown(compare([tmp_path]))
    assert "speed was measured on different devices (cpu, cuda)" in text
    assert "| pp512 tok/s (llama.cpp, 2 threads) | tg128 tok/s (llama.cpp, 2 threads) |" in text
    assert "| 900 (cuda) | 60 (cuda) |" in text and "| 900 (cpu) | 60 (cpu) |" in text


def test_speed_header_states_what_the_rows_share_and_cells_what_differs(tmp_path: Path) -> None:
    for spec in VARIANTS[1:3]:
        r.write_record(with_runtime(text_record(spec), {512: 2**28}, speed=SPEED), tmp_path)
    text = render_markdown(compare([tmp_path]))
    assert "| pp512 tok/s (llama.cpp, 2 threads, cpu) | tg128 tok/s (llama.cpp, 2 threads, cpu) |" in text
    assert "(cpu)" not in text and "different devices" not in text
    hf = SPEED.model_copy(update={"method": "generate", "tg_tokens_per_s": 20.0})
    r.write_record(with_runtime(text_record(VARIANTS[0]), {512: 2**29}, engine="transformers", speed=hf), tmp_path)
    text = render_markdown(compare([tmp_path]))
    assert "| pp512 tok/s (2 threads, cpu) | tg128 tok/s (2 threads, cpu) |" in text
    assert "| 900 (transformers) | 20 (transformers) |" in text and "| 900 (llama.cpp) | 60 (llama.cpp) |" in text
    assert ("Speed: tokens/s of a fresh llama.cpp process (llama.cpp 1.0, cpu, 2 threads), llama-bench's method: "
            "pp512 decodes one batch of 512 random token ids, tg128 decodes 128 tokens one at a time") in text
    assert "Speed: tokens/s of a fresh transformers process (transformers 1.0, cpu, 2 threads), greedy generate" in text


def test_cli_without_results_reads_the_default_sweeps_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # results/default is relative to where a user runs quantwb
    result = quantwb("compare")
    assert result.returncode == 2 and "quantwb sweep" in one_error_line(result) and "results/default" in result.stderr
    write_all(tmp_path / "results" / "default" / "records" / "smollm2-135m")
    found = invoke("compare")
    assert found.exit_code == 0 and "m-Q4_K_M" in found.stdout
    assert "no RESULTS given: comparing results/default/records" in found.stderr
