"""Sweeps on the tiny model, for real (GGUF and HF variants, PPL/KLD and lm-eval): interrupted after a finished
variant and resumed without redoing it, run again (nothing but the report), then with a changed text evaluation
(only that evaluation reruns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.errors import RecordError
from quantwb.formats.manifest import read_manifest
from quantwb.records import read_record
from quantwb.reports.compare import compare
from quantwb.sweep import StepEvent, SweepOptions, run_sweep
from quantwb.sweep.eta import SweepClock
from quantwb.sweep.plan import parse_plan
from quantwb.sweep.steps import code_version


def _plan(model: Path, chunks: int = 3) -> str:
    return f"""
name: tiny
models: ["{model}"]
variants:
  - fp
  - Q8_0
  - {{method: rtn, bits: 4, group_size: 64}}
evaluations:
  text: {{name: wiki, ctx: 128, chunks: {chunks}}}
  tasks: {{names: [arc_easy], limit: 6}}
"""


class Interrupt(KeyboardInterrupt):
    """What Ctrl-C raises, delivered deterministically right after a chosen step completed."""


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sweep_runs(tiny_model: Path, module_dir) -> dict:
    """Run 1 is interrupted after Q8_0 finished, run 2 resumes (2 jobs), run 3 finds everything done."""
    results = module_dir("sweep") / "results"
    plan = parse_plan(_plan(tiny_model))
    events: dict[str, list[StepEvent]] = {"first": [], "resumed": [], "again": []}

    def interrupt_after_first_variant(event: StepEvent) -> None:
        events["first"].append(event)
        if event.step.variant == "Q8_0" and event.step.kind == "tasks" and event.status == "done":
            raise Interrupt

    with pytest.raises(Interrupt):
        run_sweep(plan, SweepOptions(results_dir=results), on_event=interrupt_after_first_variant)
    after_first = {name: t for name, t in _files(results).items() if name.startswith(("artifacts/", "records/"))}
    planned: list = []
    resumed = run_sweep(plan, SweepOptions(results_dir=results, jobs=2), on_event=events["resumed"].append,
                        on_plan=lambda steps, parallel: planned.append((steps, parallel)))
    after_resume = _files(results)
    again = run_sweep(plan, SweepOptions(results_dir=results), on_event=events["again"].append)
    return {"plan": plan, "results": results, "events": events, "after_first": after_first,
            "after_resume": after_resume, "resumed": resumed, "again": again, "planned": planned}


def _statuses(events: list[StepEvent]) -> dict[str, str]:
    return {f"{e.step.variant}.{e.step.kind}": e.status for e in events}


def test_interrupted_sweep_resumes_without_redoing(sweep_runs: dict) -> None:
    first = _statuses(sweep_runs["events"]["first"])
    assert first == {"base.text": "done", "base.tasks": "done", "Q8_0.quantize": "done", "Q8_0.text": "done",
                     "Q8_0.tasks": "done"}
    resumed = _statuses(sweep_runs["events"]["resumed"])
    assert resumed == {**{step: "cached" for step in first},
                       "rtn-w4g64.quantize": "done", "rtn-w4g64.text": "done", "rtn-w4g64.tasks": "done"}
    # the finished variant's artifact and records were not rewritten by the resumed run
    assert any(name.startswith("artifacts/model/Q8_0/") for name in sweep_runs["after_first"])
    for name, mtime in sweep_runs["after_first"].items():
        assert sweep_runs["after_resume"][name] == mtime, f"{name} was redone"
    assert not list(sweep_runs["results"].rglob(".*partial*")), "a partial output was left behind"


def test_second_run_only_reports(sweep_runs: dict) -> None:
    again = sweep_runs["again"]
    assert again.count("cached") == 8 and again.count("done") == 0
    after_again = _files(sweep_runs["results"])
    changed = sorted(n for n, t in after_again.items() if sweep_runs["after_resume"].get(n) != t)
    assert changed == ["report.html", "report.json", "report.md"]


def test_sweep_report_covers_every_variant(sweep_runs: dict) -> None:
    results = sweep_runs["results"]
    report = compare([results / "records"])
    assert [row.variant.method for row in report.rows] == ["gguf", "rtn", "fp"]  # by size: Q8_0 < w4 (fp embeddings) < fp32
    assert all(row.text is not None and row.tasks is not None for row in report.rows)
    base = report.rows[-1]
    assert base.is_baseline and base.value("kld_mean") == 0.0 and base.value("same_top_pct") == 100.0
    assert all(row.value("kld_mean") > 0 for row in report.rows[:2])
    assert report.task_columns == ("arc_easy.acc_norm",) and report.task_settings["limit"] == 6
    assert "model-rtn-w4g64" in (results / "report.md").read_text()
    assert 'src="data:image/png;base64,' in (results / "report.html").read_text()
    assert json.loads((results / "report.json").read_text())["code_version"] == code_version()  # what measured it


def test_changed_evaluation_reruns_only_evaluations(sweep_runs: dict, tiny_model: Path) -> None:
    plan = parse_plan(_plan(tiny_model, chunks=2))
    events: list[StepEvent] = []
    run_sweep(plan, SweepOptions(results_dir=sweep_runs["results"], variants=("rtn-w4g64",), report=False), events.append)
    assert _statuses(events) == {"rtn-w4g64.quantize": "cached", "rtn-w4g64.text": "done", "rtn-w4g64.tasks": "cached"}
    records = sweep_runs["results"] / "records"
    assert read_record(records / "model" / "model-rtn-w4g64.text.json").text.n_chunks == 2
    with pytest.raises(RecordError, match="different text data"):  # and compare will not mix 2- and 3-chunk numbers
        compare([records])


def test_plan_calibration_reaches_an_automatic_imatrix(tiny_model: Path, tmp_path: Path) -> None:
    """IQ2_XS needs an importance matrix (imatrix: auto computes one): it is computed on the plan's calibration."""
    plan = parse_plan(f"""
name: calib
models: ["{tiny_model}"]
calibration: {{text: wiki, samples: 4, seq_len: 64, seed: 3}}
variants: [IQ2_XS]
evaluations: {{}}
""")
    result = run_sweep(plan, SweepOptions(results_dir=tmp_path / "results", report=False))
    assert _statuses(list(result.events)) == {"IQ2_XS.quantize": "done"}
    (made,) = (tmp_path / "results" / "artifacts").rglob("*-IQ2_XS-imat.gguf")
    calibration = read_manifest(made)["imatrix"]["calibration"]
    assert (calibration["text_name"], calibration["samples"], calibration["seq_len"], calibration["seed"]) == ("wiki", 4, 64, 3)


def test_the_planned_steps_are_the_steps_that_run(sweep_runs: dict) -> None:
    """The sweep's progress count and estimate rest on the plan's steps: exactly those that then report."""
    ((planned, parallel),) = sweep_runs["planned"]
    assert parallel == 2
    assert sorted(step.label for step in planned) == sorted(e.step.label for e in sweep_runs["events"]["resumed"])
    assert {(step.kind, step.method) for step in planned if step.label.startswith("model/rtn")} == {
        ("quantize", "rtn"), ("text", "rtn"), ("tasks", "rtn")}
    clock = SweepClock(planned, parallel)
    shown = [clock.observe(event) for event in sweep_runs["events"]["first"]]
    assert shown[0] == "[1/8, 7 untimed left]"  # the base's text times no GGUF's or RTN's
    assert shown[-1] == "[5/8, 3 untimed left]"  # rtn's steps: no RTN step was measured in that run
