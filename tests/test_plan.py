"""Plans: the packaged default, shorthand variants, specs handed to the quantizers, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.errors import InputError
from quantwb.sweep import plan_matrix
from quantwb.sweep.plan import load_plan, parse_plan
from tests.cli_helpers import invoke, one_error_line, quantwb

DEFAULT_IDS = ["base", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ4_XS-imatrix", "awq-w4g64", "gptq-w4g64"]


def test_default_plan() -> None:
    plan = load_plan()
    assert plan.models == ("smollm2-135m",)
    assert [v.id for v in plan.variants] == DEFAULT_IDS
    iq4 = plan.variant("IQ4_XS-imatrix").spec(plan.calibration)
    assert iq4.method == "gguf" and iq4.gguf_type == "IQ4_XS" and iq4.option("imatrix") == "compute"
    assert iq4.calibration is not None and iq4.calibration.text == "wiki"
    gptq = plan.variant("gptq-w4g64").spec(plan.calibration)
    assert (gptq.method, gptq.bits, gptq.group_size) == ("gptq", 4, 64) and 576 % gptq.group_size == 0
    q4 = plan.variant("Q4_K_M").spec(plan.calibration)
    # no imatrix asked: the GGUF stage's default (auto), which computes one on the plan's calibration where llama.cpp needs it
    assert q4.calibration == plan.calibration.spec() and q4.option("imatrix") is None
    assert plan.variant("base").spec(plan.calibration) is None
    assert plan.evaluations.text.name == "wiki" and plan.evaluations.tasks.names == ("arc_easy", "hellaswag")
    assert plan.evaluations.tasks.limit is not None


def test_matrix_one_job_per_variant() -> None:
    matrix = plan_matrix(load_plan())
    assert [job["variant"] for job in matrix["include"]] == DEFAULT_IDS
    assert {job["model"] for job in matrix["include"]} == {"smollm2-135m"}


def test_cli_matrix(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text("models: [a, b]\nvariants: [Q8_0, {method: rtn, bits: 4, group_size: 128}]\n")
    result = invoke("sweep", str(plan), "--matrix")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["include"] == [
        {"model": "a", "variant": "Q8_0"}, {"model": "a", "variant": "rtn-w4g128"},
        {"model": "b", "variant": "Q8_0"}, {"model": "b", "variant": "rtn-w4g128"},
    ]


def test_autoround_w8a8_fp8_variants() -> None:
    plan = parse_plan("models: [m]\nvariants: [{method: autoround, bits: 4, group_size: 64, options: {iters: 50}},"
                      " {method: autoround, type: Q4_K_M}, {method: w8a8}, {method: fp8}]\n", "p.yaml")
    assert [v.id for v in plan.variants] == ["autoround-w4g64", "autoround-Q4_K_M", "w8a8", "fp8"]
    hf, gguf, w8a8, fp8 = (v.spec(plan.calibration) for v in plan.variants)
    assert (hf.method, hf.bits, hf.group_size, hf.option("iters")) == ("autoround", 4, 64, 50)
    assert (gguf.method, gguf.gguf_type, gguf.bits) == ("autoround", "Q4_K_M", None)
    assert hf.calibration == gguf.calibration == w8a8.calibration == plan.calibration.spec()
    assert fp8.calibration is None and (w8a8.bits, fp8.bits) == (None, None)


def test_precisions_plan_parses() -> None:
    plan = load_plan(Path(__file__).resolve().parents[1] / "quantwb" / "data" / "plans" / "precisions.yaml")
    assert {"autoround-Q4_K_M", "autoround-w4g64", "w8a8", "fp8", "Q4_K_M-imatrix", "rtn-w4g64"} <= {v.id for v in plan.variants}


@pytest.mark.parametrize(("text", "message"), [
    ("models: [m]\nvariants: [Q8_0\n", "not valid YAML"),
    ("- just a list\n", "a plan is a YAML mapping"),
    ("models: [m]\nvariants: [{method: gguf}]\n", "variants.0: Value error, a gguf variant needs `type`"),
    ("models: [m]\nvariants: [{method: awq}]\n", "a awq variant needs `bits`"),
    ("models: [m]\nvariants: [{method: hqq, bits: 4}]\n", "variants.0.method"),
    ("models: [m]\nvariants: [{method: autoround}]\n", "an autoround variant needs `bits`, or a GGUF `type`"),
    ("models: [m]\nvariants: [{method: w8a8, bits: 4}]\n", "w8a8 fixes 8-bit weights per channel"),
    ("models: [m]\nvariants: [{method: fp8, type: Q8_0}]\n", "`type` applies to gguf and autoround variants, not fp8"),
    ("models: [m]\nvariants: [{method: autoround, type: Q4_K_M, imatrix: true}]\n", "`imatrix` applies to gguf"),
    ("models: [m]\nvariants: [Q8_0, Q8_0]\n", "variant ids must be unique, repeated: Q8_0"),
    ("models: [m]\nvariants: [Q8_0]\nevaluation: {}\n", "evaluation: Extra inputs are not permitted"),
    ("models: []\nvariants: [Q8_0]\n", "models: "),
])
def test_bad_plans_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_plan(text, "p.yaml")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("p.yaml:")


def test_unknown_variant_names_the_plan_variants() -> None:
    with pytest.raises(InputError, match="no variant 'Q9' in plan default .*Q4_K_M"):
        load_plan().variant("Q9")


def test_cli_bad_plan_one_line(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text("models: [m]\nvariants: [{method: gptq}]\n")
    for args, message in ((["sweep", str(plan)], "a gptq variant needs `bits`"),
                          (["sweep", str(tmp_path / "missing.yaml")], "cannot read the plan"),
                          (["sweep", "--variant", "Q9"], "no variant 'Q9' in plan default")):
        result = quantwb(*args)
        assert result.returncode == 2 and message in one_error_line(result), result.stderr
