"""The method table is the only place a method's facts live: a row added at run time is a method of plans, the
plan check, sweeps and the CLI alike."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from quantwb.errors import InputError
from quantwb.quantize import methods
from quantwb.quantize.method_fields import Fields
from quantwb.records import read_record
from quantwb.sweep.plan import load_plan, parse_plan
from tests import fake_method
from tests.cli_helpers import invoke

PLAIN = methods.Method("tests.fake_method:PlainQuantizer", Fields, fake_method.PlainOptions, calibrates=False,
                       id_rule=lambda variant: f"plain-{variant.options.type}", on_device=False)


@pytest.fixture
def plain_method(monkeypatch: pytest.MonkeyPatch) -> str:
    """The one row that makes `plain` a method (its file is tests/fake_method.py)."""
    monkeypatch.setitem(methods.METHODS, "plain", PLAIN)
    return "plain"


def test_a_new_row_is_a_plan_method(plain_method: str) -> None:
    plan = parse_plan("models: [m]\nvariants: [fp, {method: plain}, {method: plain, options: {type: Q4_0}}]\n")
    assert [v.id for v in plan.variants] == ["base", "plain-Q8_0", "plain-Q4_0"]
    spec = plan.variants[2].spec(plan.calibration)
    assert spec is not None and (spec.method, spec.options, spec.calibration) == ("plain", (("type", "Q4_0"),), None)
    assert "plain" in methods.names()
    # entries of table-made models cross process boundaries (spawned chains, Ray) as data, rebuilt through the table
    assert pickle.loads(pickle.dumps(plan)) == plan and pickle.loads(pickle.dumps(load_plan())) == load_plan()
    for entry, message in (("{method: plain, options: {typ: Q4_0}}", "options.typ: not an option of plain (options: type)"),
                           ("{method: plain, bits: 4}", "bits: not a setting of plain (settings: name, options)"),
                           ("{method: plain, calibration: {text: wiki}}", "calibration: not a setting of plain")):
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_plan(f"models: [m]\nvariants: [{entry}]\n", "p.yaml")


def test_a_new_row_runs_in_a_sweep_from_the_cli(plain_method: str, tiny_model: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: plain\nmodels: ["{tiny_model}"]\nvariants: [fp, {{method: plain}}]\n'
                    "evaluations:\n  text: {name: wiki, ctx: 128, chunks: 2}\n")
    matrix = invoke("sweep", str(plan), "--matrix")
    assert matrix.exit_code == 0, matrix.stderr
    assert [job["variant"] for job in json.loads(matrix.stdout)["include"]] == ["base", "plain-Q8_0"]
    results = tmp_path / "results"
    result = invoke("sweep", str(plan), "--results", str(results), "--jobs", "1", "--no-report")
    assert result.exit_code == 0, result.stderr
    assert (results / "artifacts" / "model" / "plain-Q8_0" / "model-Q8_0.gguf").is_file()
    record = read_record(results / "records" / "model" / "model-Q8_0.text.json")
    assert record.kld is not None and record.kld.kld.mean > 0  # measured against the base like every variant
