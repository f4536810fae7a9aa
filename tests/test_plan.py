"""Plans: the packaged default, shorthand variants, specs handed to the quantizers, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.errors import InputError
from quantwb.models import ModelSource
from quantwb.sweep import plan_matrix
from quantwb.sweep.chain import Chain
from quantwb.sweep.plan import load_plan, parse_plan
from quantwb.sweep.step_kinds import ChainState, chain_steps
from tests.cli_helpers import invoke, one_error_line, quantwb

DEFAULT_IDS = ["base", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "Q4_K_M-imatrix", "IQ4_XS-imatrix", "mix-Q4_K_M",
               "awq-w4g64", "gptq-w4g64"]


def test_default_plan() -> None:
    plan = load_plan()
    assert plan.models == ("smollm2-135m",)
    assert [v.id for v in plan.variants] == DEFAULT_IDS
    iq4 = plan.variant("IQ4_XS-imatrix").spec(plan.calibration)
    assert iq4.method == "gguf" and iq4.gguf_type == "IQ4_XS" and iq4.option("imatrix") == "compute"
    assert iq4.calibration is not None and iq4.calibration.text == "c4"  # calibrated on text other than the judging text
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
    ("models: [m]\nvariants: [{method: gguf}]\n", "variants.0 ({method: gguf}): type: Field required"),
    ("models: [m]\nvariants: [Q8_0, {method: awq}]\n", "variants.1 ({method: awq}): bits: Field required"),
    ("models: [m]\nvariants: [{method: hqq, bits: 4}]\n", "unknown method 'hqq' (methods: fp, gguf, gguf-mix, awq,"),
    ("models: [m]\nvariants: [{bits: 4}]\n", "variants.0 ({bits: 4}): needs a `method` (fp, gguf,"),
    ("models: [m]\nvariants: [{method: autoround}]\n", "needs `bits`, or a GGUF `type` for its GGUF export"),
    ("models: [m]\nvariants: [{method: autoround, type: Q4_K_M, bits: 4}]\n", "GGUF type Q4_K_M fixes bits, group size"),
    ("models: [m]\nvariants: [{method: w8a8, bits: 4}]\n", "bits: not a setting of w8a8 (settings: name, options, calibration)"),
    ("models: [m]\nvariants: [{method: fp8, type: Q8_0}]\n", "type: not a setting of fp8"),
    ("models: [m]\nvariants: [{method: rtn, bits: 4, calibration: {text: wiki}}]\n", "calibration: not a setting of rtn"),
    ("models: [m]\nvariants: [{method: autoround, type: Q4_K_M, imatrix: true}]\n", "imatrix: not a setting of autoround"),
    ("models: [m]\nvariants: [{method: fp, bits: 4}]\n", "bits: not a setting of fp (settings: name)"),
    # every method's options are a strict model: a misspelt one is refused, not ignored
    ("models: [m]\nvariants: [{method: gguf, type: Q4_K_M, options: {imatrixx: true}}]\n",
     "variants.0 ({method: gguf, type: Q4_K_M, options: {imatrixx: true}}): options.imatrixx: not an option of gguf "
     "(options: imatrix, allow_requantize)"),
    ("models: [m]\nvariants: [{method: gguf-mix, match: Q4_K_M, options: {layers: 2}}]\n",
     "options.layers: not an option of gguf-mix (options: candidates, chunks, layers_per_group, ctx, score, imatrix)"),
    ("models: [m]\nvariants: [{method: gguf-mix, target_bpw: 4.5, options: {chunks: 0}}]\n",
     "options.chunks: Input should be greater than or equal to 1"),
    ("models: [m]\nvariants: [{method: gptq, bits: 4, options: {damp: 2}}]\n", "options.damp: Input should be less than 1"),
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
    for args, message in ((["sweep", str(plan)], "variants.0 ({method: gptq}): bits: Field required"),
                          (["sweep", str(tmp_path / "missing.yaml")], "cannot read the plan"),
                          (["sweep", "--variant", "Q9"], "no variant 'Q9' in plan default")):
        result = quantwb(*args)
        assert result.returncode == 2 and message in one_error_line(result), result.stderr


# The default plan's step keys under a fixed code version and model hash: what `make report` caches by. A change
# here reruns (and may change) the committed report, so it must be deliberate.
DEFAULT_STEP_KEYS = {
    "base.text": "4250ea4a52bc02e3",
    "base.tasks": "a29c7bf5be220f6a",
    "F16.quantize": "0b7f82ebf4253eec",
    "F16.text": "65bab8367a8baa49",
    "F16.tasks": "5f0fa6f765f817cc",
    "Q8_0.quantize": "ae407fef698aa6d3",
    "Q8_0.text": "cb5bb1edd6f353ac",
    "Q8_0.tasks": "56a2b81b6e0bb3fd",
    "Q6_K.quantize": "86de4c909928b98c",
    "Q6_K.text": "b89548bb2eef9f53",
    "Q6_K.tasks": "cf96761ddca75202",
    "Q5_K_M.quantize": "acf4e090192a8c40",
    "Q5_K_M.text": "cf404d332f96c0e9",
    "Q5_K_M.tasks": "0b51fcb192862eb9",
    "Q4_K_M.quantize": "b69bae699e18b50f",
    "Q4_K_M.text": "158e543e81f5883c",
    "Q4_K_M.tasks": "e3c0258ea311f41e",
    "Q3_K_M.quantize": "9c0d0e5661887b85",
    "Q3_K_M.text": "c4a879f29bf44101",
    "Q3_K_M.tasks": "6fd001bbacb541f7",
    "Q2_K.quantize": "ed43c00fcfd01d92",
    "Q2_K.text": "1b4c8beb83efedf9",
    "Q2_K.tasks": "4328c21759186be5",
    "Q4_K_M-imatrix.quantize": "c68ee29ab91b4875",
    "Q4_K_M-imatrix.text": "c4098c3003ff9fae",
    "Q4_K_M-imatrix.tasks": "b1627e29e50839cf",
    "IQ4_XS-imatrix.quantize": "d5856a723e8768f8",
    "IQ4_XS-imatrix.text": "1af046300b15a890",
    "IQ4_XS-imatrix.tasks": "b50af69f838918cc",
    "mix-Q4_K_M.quantize": "4cfbfda76744f605",
    "mix-Q4_K_M.text": "52a5f0e3a763264d",
    "mix-Q4_K_M.tasks": "54e95006aced96dd",
    "awq-w4g64.quantize": "fa06b0986ec52bfc",
    "awq-w4g64.text": "a5b4863262556f28",
    "awq-w4g64.tasks": "de50d113a2e961a4",
    "gptq-w4g64.quantize": "8fc909972ac429c0",
    "gptq-w4g64.text": "87c65cb0d90c80b8",
    "gptq-w4g64.tasks": "d3e9e334057f808f",
}


def test_default_plan_step_keys_are_unchanged() -> None:
    plan = load_plan()
    keys = {}
    for variant in plan.variants:
        state = ChainState(Chain(plan, "smollm2-135m", variant, Path("/results"), None, "pinned-code", "cpu"))
        state.__dict__["source"] = ModelSource("smollm2-135m", Path("/m"), "LlamaForCausalLM", "0" * 64)  # not resolved
        keys.update({f"{variant.id}.{step.kind}": step.key()[:16] for step in chain_steps(state)})
    assert keys == DEFAULT_STEP_KEYS
