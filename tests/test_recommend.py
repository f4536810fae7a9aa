"""`quantwb recommend` on hand-made records: the choice, its runner-up verdict, JSON, the RAM budget at a context,
and the one-line errors (no fit: exit 5; mixed baselines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb import records as r
from quantwb.errors import NoFitError
from quantwb.reports.compare import compare
from quantwb.reports.recommend import Budgets, ram_needed, recommend
from tests.cli_helpers import invoke, one_error_line
from tests.report_records import VARIANTS, text_record, with_runtime, write_all


def test_best_by_kld_within_size_and_a_clear_runner_up(tmp_path: Path) -> None:
    choice = recommend(compare([write_all(tmp_path)]), Budgets(max_size_bytes=110_000_000))
    assert choice.best.name == "m-Q5_K_M" and choice.runner_up is not None and choice.runner_up.name == "m-Q4_K_M"
    assert choice.difference == pytest.approx(0.011 - 0.040)
    assert choice.significant is True  # 0.029 apart, uncertainties 0.00022 and 0.0008
    assert choice.excluded == {"m": "--max-size 104.9MiB", "m-Q8_0": "--max-size 104.9MiB", "m-Q6_K": "--max-size 104.9MiB"}


def test_task_metric_difference_within_its_uncertainty(tmp_path: Path) -> None:
    choice = recommend(compare([write_all(tmp_path)]), Budgets(max_size_bytes=110_000_000), by="arc_easy.acc_norm")
    assert choice.best.name == "m-Q5_K_M" and choice.runner_up is not None and choice.runner_up.name == "m-Q4_K_M"
    assert choice.significant is False  # 0.44 against 0.43 with stderr 0.07 each
    assert "within its uncertainty" in choice.sentence()


def test_ram_budget_and_speed(tmp_path: Path) -> None:
    report = compare([write_all(tmp_path)])
    assert recommend(report, Budgets(max_ram_bytes=411_000_000)).best.name == "m-Q2_K"  # peak = size + 350 MB
    assert recommend(report, Budgets(max_ram_bytes=451_000_000)).best.name == "m-Q5_K_M"


def test_ram_is_the_runtimes_and_moves_to_a_context_by_the_recorded_kv_shape(tmp_path: Path) -> None:
    # the variant's path leads nowhere: the KV shape comes from the record alone
    r.write_record(with_runtime(text_record(VARIANTS[3]), {512: 190_000_000}), tmp_path)
    row = compare([tmp_path]).rows[0]
    assert ram_needed(row, Budgets(max_ram_bytes=1)) == 190_000_000  # the runtime's, not the evaluator's 450 MB
    per_token = 2 * 2 * (64 + 64) * 2  # 2 layers × 2 KV heads × (key + value 64) × f16 bytes
    assert ram_needed(row, Budgets(max_ram_bytes=1, ctx=8192)) == 190_000_000 - 512 * per_token + 8192 * per_token
    q8_per_token = 2 * 2 * 128 * 34 / 32  # q8_0: 34 bytes per 32 elements
    assert ram_needed(row, Budgets(max_ram_bytes=1, ctx=8192, kv_type="q8_0")) == (
        190_000_000 - 512 * per_token + int(8192 * q8_per_token))


def test_an_hf_cache_keeps_the_dtype_it_was_measured_in(tmp_path: Path) -> None:
    record = with_runtime(text_record(VARIANTS[4]), {512: 900_000_000}, kv_type="f32", engine="transformers")
    r.write_record(record, tmp_path)
    row = compare([tmp_path]).rows[0]
    per_token = 2 * 2 * (64 + 64) * 4  # float32 elements, whatever --kv-type says (it is llama.cpp's)
    assert ram_needed(row, Budgets(max_ram_bytes=1, ctx=4096, kv_type="q8_0")) == 900_000_000 + (4096 - 512) * per_token


def test_old_records_say_their_ram_is_the_evaluators_and_lack_the_kv_shape(tmp_path: Path) -> None:
    r.write_record(with_runtime(text_record(VARIANTS[3]), {512: 190_000_000}), tmp_path)
    r.write_record(text_record(VARIANTS[5]), tmp_path)  # m-Q4_K_M: a record from before the runtime was measured
    report = compare([tmp_path])
    old = next(row for row in report.rows if row.variant.name == "m-Q4_K_M")
    assert ram_needed(old, Budgets(max_ram_bytes=1)) == 92_000_000 + 350_000_000  # the evaluator's peak
    assert ram_needed(old, Budgets(max_ram_bytes=1, ctx=8192)) is None  # no KV shape to move it with
    choice = recommend(report, Budgets(max_ram_bytes=10**9, ctx=8192))
    assert choice.best.name == "m-Q5_K_M" and choice.excluded == {"m-Q4_K_M": "--max-ram 953.7MiB at 8192 tokens of context"}
    assert choice.lines()[1:] == [
        "note: the RAM of m-Q4_K_M is quantwb's evaluation process's peak, not the runtime's (records from before "
        "quantwb measured the runtime)",
        "note: no KV cache shape in the records of m-Q4_K_M (made before quantwb recorded it): their RAM at 8192 "
        "tokens is not known, so --max-ram excludes them"]


def test_cli_json_for_ci(tmp_path: Path) -> None:
    result = invoke("recommend", str(write_all(tmp_path)), "--max-size", "110MB", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["best"]["name"] == "m-Q5_K_M" and data["runner_up"]["name"] == "m-Q4_K_M"
    assert data["significant"] is True and data["by"] == "kld_mean" and data["n_fit"] == 4


def test_no_fit_names_the_budget_and_exits_5(tmp_path: Path) -> None:
    results = str(write_all(tmp_path))
    result = invoke("recommend", results, "--max-size", "1MB")
    assert result.exit_code == 5
    assert "--max-size" in one_error_line(result)
    result = invoke("recommend", results, "--max-size", "110MB", "--min-gen-tps", "100")  # every variant makes 50/s
    assert result.exit_code == 5
    line = one_error_line(result)
    assert "--min-gen-tps 100" in line and "--max-size" not in line


def test_mixed_baselines_and_unknown_metric_are_one_line(tmp_path: Path) -> None:
    write_all(tmp_path)
    other = r.BaselineInfo(name="other", sha256="d" * 64)
    r.write_record(text_record(("o-Q4_K_M", "gguf", "gguf", "Q4_K_M", 1, 4.9, 21.0, 0.04, 0.4, 0.3), other), tmp_path / "o")
    result = invoke("recommend", str(tmp_path), "--max-size", "110MB")
    assert result.exit_code == 4
    assert "baselines" in one_error_line(result)
    result = invoke("recommend", str(tmp_path), "--baseline", "m", "--by", "nonsense")
    assert result.exit_code == 2
    assert "kld_mean" in one_error_line(result)


def test_compare_shows_the_recommendation_above_the_table(tmp_path: Path) -> None:
    result = invoke("compare", str(write_all(tmp_path)), "--max-size", "110MB", "--format", "md")
    assert result.exit_code == 0, result.output
    first, _, table = result.stdout.partition("\n")
    assert first.startswith("recommended: m-Q5_K_M") and "m-Q2_K" in table


def test_min_gen_tps_reads_the_runtimes_speed(tmp_path: Path) -> None:
    """The evaluator's own 50 tokens/s is not what a runtime generates: the budget reads the runtime's tg figure, and
    a record without one is excluded with a line saying why."""
    speed = r.RuntimeSpeed(method="llama-bench", pp_tokens=512, tg_tokens=128, reps=3, pp_tokens_per_s=900.0,
                           pp_tokens_per_s_sd=5.0, tg_tokens_per_s=80.0, tg_tokens_per_s_sd=1.0)
    r.write_record(with_runtime(text_record(VARIANTS[3]), {512: 190_000_000}, speed=speed), tmp_path)
    r.write_record(text_record(VARIANTS[5]), tmp_path)  # from before the runtime's speed was measured
    choice = recommend(compare([tmp_path]), Budgets(min_gen_tokens_per_s=60))
    assert choice.best.name == "m-Q5_K_M" and choice.excluded == {"m-Q4_K_M": "--min-gen-tps 60"}
    assert any("no runtime speed in the records of m-Q4_K_M" in line for line in choice.lines())
    with pytest.raises(NoFitError, match="--min-gen-tps 81"):
        recommend(compare([tmp_path]), Budgets(min_gen_tokens_per_s=81))
