"""Sweeps on the tiny model, for real: interrupted after a finished variant and resumed without redoing it,
then run again (nothing but the report), then with a changed evaluation (only the evaluations rerun)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.errors import RecordError
from quantwb.plan import parse_plan
from quantwb.records import read_record
from quantwb.reports.compare import compare
from quantwb.sweep import StepEvent, SweepOptions, run_sweep

VARIANTS = ["base", "rtn-w4g64", "rtn-w8g128"]


def _plan(model: Path, chunks: int = 3) -> str:
    return f"""
name: tiny
models: ["{model}"]
variants:
  - fp
  - {{method: rtn, bits: 4, group_size: 64}}
  - {{method: rtn, bits: 8, group_size: 128}}
evaluations:
  text: {{name: wiki, ctx: 128, chunks: {chunks}}}
"""


class Interrupt(KeyboardInterrupt):
    """What Ctrl-C raises, delivered deterministically right after a chosen step completed."""


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sweep_runs(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run 1 is interrupted after rtn-w4g64 finished, run 2 resumes (2 jobs), run 3 finds everything done."""
    results = tmp_path_factory.mktemp("sweep") / "results"
    plan = parse_plan(_plan(tiny_model))
    events: dict[str, list[StepEvent]] = {"first": [], "resumed": [], "again": []}

    def interrupt_after_first_variant(event: StepEvent) -> None:
        events["first"].append(event)
        if event.step.variant == "rtn-w4g64" and event.step.kind == "text" and event.status == "done":
            raise Interrupt

    with pytest.raises(Interrupt):
        run_sweep(plan, SweepOptions(results_dir=results), on_event=interrupt_after_first_variant)
    after_first = {name: t for name, t in _files(results).items() if name.startswith(("artifacts/", "records/"))}
    resumed = run_sweep(plan, SweepOptions(results_dir=results, jobs=2), on_event=events["resumed"].append)
    after_resume = _files(results)
    again = run_sweep(plan, SweepOptions(results_dir=results), on_event=events["again"].append)
    return {"plan": plan, "results": results, "events": events, "after_first": after_first,
            "after_resume": after_resume, "resumed": resumed, "again": again}


def _statuses(events: list[StepEvent]) -> dict[str, str]:
    return {f"{e.step.variant}.{e.step.kind}": e.status for e in events}


def test_interrupted_sweep_resumes_without_redoing(sweep_runs: dict) -> None:
    first = _statuses(sweep_runs["events"]["first"])
    assert first == {"base.text": "done", "rtn-w4g64.quantize": "done", "rtn-w4g64.text": "done"}
    resumed = _statuses(sweep_runs["events"]["resumed"])
    assert resumed == {"base.text": "cached", "rtn-w4g64.quantize": "cached", "rtn-w4g64.text": "cached",
                       "rtn-w8g128.quantize": "done", "rtn-w8g128.text": "done"}
    # the finished variant's artifact and records were not rewritten by the resumed run
    assert any(name.startswith("artifacts/model/rtn-w4g64/") for name in sweep_runs["after_first"])
    for name, mtime in sweep_runs["after_first"].items():
        assert sweep_runs["after_resume"][name] == mtime, f"{name} was redone"
    assert not list(sweep_runs["results"].rglob(".*partial*")), "a partial output was left behind"


def test_second_run_only_reports(sweep_runs: dict) -> None:
    again = sweep_runs["again"]
    assert again.count("cached") == 5 and again.count("done") == 0
    after_again = _files(sweep_runs["results"])
    changed = sorted(n for n, t in after_again.items() if sweep_runs["after_resume"].get(n) != t)
    assert changed == ["report.html", "report.json", "report.md"]


def test_sweep_report_covers_every_variant(sweep_runs: dict) -> None:
    results = sweep_runs["results"]
    report = compare([results / "records"])
    assert [row.variant.method for row in report.rows] == ["rtn", "rtn", "fp"]  # sorted by size: w4 < w8 < fp32
    base = report.rows[-1]
    assert base.is_baseline and base.value("kld_mean") == 0.0 and base.value("same_top_pct") == 100.0
    w4, w8 = report.rows[0], report.rows[1]
    assert 0 < w8.value("kld_mean") < w4.value("kld_mean")  # 8-bit rounding loses less than 4-bit
    assert "model-rtn-w4g64" in (results / "report.md").read_text()
    assert 'src="data:image/png;base64,' in (results / "report.html").read_text()


def test_changed_evaluation_reruns_only_evaluations(sweep_runs: dict, tiny_model: Path) -> None:
    plan = parse_plan(_plan(tiny_model, chunks=2))
    events: list[StepEvent] = []
    run_sweep(plan, SweepOptions(results_dir=sweep_runs["results"], variants=("rtn-w4g64",), report=False), events.append)
    assert _statuses(events) == {"rtn-w4g64.quantize": "cached", "rtn-w4g64.text": "done"}
    records = sweep_runs["results"] / "records"
    assert read_record(records / "model" / "model-rtn-w4g64.text.json").text.n_chunks == 2
    with pytest.raises(RecordError, match="different text data"):  # and compare will not mix 2- and 3-chunk numbers
        compare([records])
