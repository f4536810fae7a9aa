"""--fail-on: the parser, which variants breach, and the CLI exit code that CI gates on."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.errors import GateError, InputError
from quantwb.reports.compare import CompareOptions, compare
from quantwb.reports.gate import parse_threshold, raise_for_breaches
from tests.cli_helpers import one_error_line, quantwb
from tests.report_records import write_all


def _breaches(results: Path, *expressions: str) -> list[str]:
    thresholds = tuple(parse_threshold(e) for e in expressions)
    report = compare([results], CompareOptions(thresholds=thresholds))
    return [f"{b.variant}:{b.threshold.metric}" for b in report.breaches]


@pytest.mark.parametrize(("expression", "parsed"), [
    ("kld_mean>0.05", (None, "kld_mean", ">", 0.05)),
    (" ppl_ratio >= 1.05 ", (None, "ppl_ratio", ">=", 1.05)),
    ("arc_easy.acc<0.4", (None, "arc_easy.acc", "<", 0.4)),
    ("Q2_K:kld_mean>0.5", ("Q2_K", "kld_mean", ">", 0.5)),
    ("*gptq*:kld_p99<=1e-2", ("*gptq*", "kld_p99", "<=", 0.01)),
])
def test_parse(expression: str, parsed: tuple) -> None:
    t = parse_threshold(expression)
    assert (t.selector, t.metric, t.op, t.limit) == parsed


@pytest.mark.parametrize("bad", ["kld_mean", "kld_mean>>1", "kld_mean>x", "__import__('os')>1", "kld_mean=1", ">1"])
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(InputError, match="expected \\[VARIANT:\\]METRIC OP NUMBER"):
        parse_threshold(bad)


def test_breaches(tmp_path: Path) -> None:
    results = write_all(tmp_path)
    assert _breaches(results, "kld_mean>0.01") == ["m-Q2_K:kld_mean", "m-Q4_K_M:kld_mean", "m-Q5_K_M:kld_mean",
                                                   "m-gptq-w4g64:kld_mean"]
    assert _breaches(results, "kld_mean>0.6") == []
    assert _breaches(results, "kld_mean>=0.55") == ["m-Q2_K:kld_mean"]  # inclusive operator
    assert _breaches(results, "Q2_K:kld_mean>0.5", "m-Q8_0:ppl_ratio>1.0") == ["m-Q2_K:kld_mean", "m-Q8_0:ppl_ratio"]
    assert _breaches(results, "arc_easy.acc_norm<0.4") == ["m-Q2_K:arc_easy.acc_norm"]
    assert _breaches(results, "*gptq*:same_top_pct<99") == ["m-gptq-w4g64:same_top_pct"]


def test_unknown_metric_and_variant(tmp_path: Path) -> None:
    results = write_all(tmp_path)
    with pytest.raises(InputError, match="unknown metric 'kdl_mean'.*kld_mean"):
        _breaches(results, "kdl_mean>1")
    with pytest.raises(InputError, match="no variant matches 'Q3_K_S'"):
        _breaches(results, "Q3_K_S:kld_mean>1")


def test_gate_error_names_every_breach(tmp_path: Path) -> None:
    report = compare([write_all(tmp_path)], CompareOptions(thresholds=(parse_threshold("kld_mean>0.05"),)))
    with pytest.raises(GateError) as caught:
        raise_for_breaches(report.breaches)
    assert str(caught.value) == ("--fail-on: 2 breaches: m-Q2_K kld_mean=0.55 > 0.05; "
                                 "m-gptq-w4g64 kld_mean=0.06 > 0.05")
    assert caught.value.exit_code == 5


def test_cli_gate(tmp_path: Path) -> None:
    """In a separate process: CI gates on the process's exit code, and the report (stdout) still prints beside the error."""
    results = write_all(tmp_path / "results")
    failed = quantwb("compare", str(results), "--format", "md", "--fail-on", "kld_mean>0.01")
    assert failed.returncode == 5 and "| ★ m-Q2_K |" in failed.stdout  # the report still prints
    line = one_error_line(failed)
    assert all(name in line for name in ("m-Q2_K", "m-Q4_K_M", "m-Q5_K_M", "m-gptq-w4g64"))
    assert "m-Q8_0" not in line
    passed = quantwb("compare", str(results), "--out", str(tmp_path / "r.md"), "--fail-on", "kld_mean>1",
                     "--fail-on", "arc_easy.acc<0.1")
    assert passed.returncode == 0, passed.stderr
    assert "expected [VARIANT:]METRIC" in one_error_line(quantwb("compare", str(results), "--fail-on", "kld>"))
