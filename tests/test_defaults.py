"""Each default is defined once (quantwb.defaults): the CLI shows it, the library configs and the plan use it."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from quantwb import defaults
from quantwb.calibration import CalibrationSpec
from quantwb.cli import main
from quantwb.evaluate.pipeline import EvalConfig
from quantwb.evaluate.tasks import TaskConfig
from quantwb.quantize.gguf import ImatrixChoice
from quantwb.sweep import SweepOptions
from quantwb.sweep.plan import CalibrationPlan, TextEvaluation

CALIBRATION = {"calibration": defaults.CALIBRATION_TEXT, "samples": defaults.CALIBRATION_SAMPLES,
               "seq_len": defaults.CALIBRATION_SEQ_LEN, "seed": defaults.CALIBRATION_SEED}
SCHEME = {"bits": defaults.WEIGHT_BITS, "group_size": defaults.GROUP_SIZE, "out_dir": Path(defaults.OUT_DIR)}
# command -> option (Click's parameter name) -> the library default it must show
SHOWN = {
    "gguf": {**CALIBRATION, "imatrix": defaults.IMATRIX, "out_dir": Path(defaults.OUT_DIR)},
    "awq": {**CALIBRATION, **SCHEME},
    "gptq": {**CALIBRATION, **SCHEME},
    "rtn": SCHEME,
    "eval": {"text": defaults.EVAL_TEXT, "ctx": defaults.EVAL_CTX, "gen_tokens": defaults.GEN_TOKENS,
             "out_dir": defaults.RESULTS_DIR},
    "sweep": {"jobs": defaults.JOBS},
}


@pytest.mark.parametrize("command", sorted(SHOWN))
def test_cli_shows_the_library_defaults(command: str) -> None:
    params = {p.name: p for p in main.get_command(click.Context(main), command).params if isinstance(p, click.Option)}
    for name, expected in SHOWN[command].items():
        assert params[name].show_default, (command, name)
        assert params[name].default == expected, (command, name)


def test_library_configs_and_plan_use_the_same_defaults() -> None:
    spec = CalibrationSpec()
    plan = CalibrationPlan()
    assert (spec.text, spec.samples, spec.seq_len, spec.seed) == (plan.text, plan.samples, plan.seq_len, plan.seed) == (
        defaults.CALIBRATION_TEXT, defaults.CALIBRATION_SAMPLES, defaults.CALIBRATION_SEQ_LEN, defaults.CALIBRATION_SEED)
    config, text = EvalConfig(base="b"), TextEvaluation()
    assert (config.text, config.ctx) == (text.name, text.ctx) == (defaults.EVAL_TEXT, defaults.EVAL_CTX)
    assert TaskConfig(tasks=("arc_easy",)).text == defaults.EVAL_TEXT
    assert ImatrixChoice().mode == defaults.IMATRIX
    assert SweepOptions().jobs == defaults.JOBS and SweepOptions().results_dir == Path(defaults.RESULTS_DIR)


def test_calibration_defaults_differ_from_the_scored_text() -> None:
    """Calibrating on the scored tokens would flatter every calibrated method."""
    assert defaults.CALIBRATION_TEXT != defaults.EVAL_TEXT


def test_method_options_shown_by_the_cli_are_the_method_tables() -> None:
    """Symmetry comes from the method table, GPTQ's damp/act-order and the checkpoint format from its options model."""
    from quantwb.quantize.gptq import GPTQOptions
    from quantwb.quantize.hf_methods import HF_METHODS

    shown = {name: {p.name: p.default for p in main.get_command(click.Context(main), name).params} for name in ("awq", "gptq", "rtn")}
    assert shown["awq"]["zero_point"] is not HF_METHODS["awq"].default_symmetric
    assert shown["gptq"]["symmetric"] is HF_METHODS["gptq"].default_symmetric
    assert shown["rtn"]["symmetric"] is HF_METHODS["rtn"].default_symmetric
    assert (shown["gptq"]["damp"], shown["gptq"]["act_order"]) == (GPTQOptions().damp, GPTQOptions().act_order)
    assert shown["gptq"]["checkpoint_format"] == shown["awq"]["checkpoint_format"] == GPTQOptions().format
