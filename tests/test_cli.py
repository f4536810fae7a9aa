"""The CLI shell: help lists commands, errors are one line with a non-zero exit and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import invoke, one_error_line, quantwb


def test_help_lists_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "models" in result.stdout


def test_models_lists_builtin_alias() -> None:
    result = invoke("models")
    assert result.exit_code == 0, result.stderr
    assert "smollm2-135m" in result.stdout


# The errors run in a separate process: the exit code and the one stderr line are what a user's shell gets.
def _assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode != 0
    assert fragment in one_error_line(result)
    assert "Traceback" not in result.stderr


def test_missing_path(tmp_path: Path) -> None:
    _assert_one_line_error(quantwb("resolve", str(tmp_path / "missing")), "no such folder")


def test_not_a_causal_lm(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    _assert_one_line_error(quantwb("resolve", str(tmp_path)), "not a causal language model")


def test_hub_id_offline() -> None:
    _assert_one_line_error(quantwb("resolve", "owner/not-cached-model"), "hub is not reachable")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = quantwb("--debug", "resolve", str(tmp_path / "missing"))
    assert result.returncode != 0 and "Traceback" in result.stderr


PROBE = '''
import click
from quantwb import cli

@click.command("probe")
def probe() -> None:
    exec("raise KeyboardInterrupt")  # where a Ctrl-C often lands: dataclasses and pydantic build methods by exec()

cli.LazyGroup.get_command = lambda self, ctx, name: probe
cli.main()
'''


def test_ctrl_c_inside_exec_still_exits_130_under_python_m(tmp_path: Path) -> None:
    # CPython ends a `python -m` process by SIGINT (returncode -2) after a KeyboardInterrupt raised inside exec() of a
    # string, even one that was caught; the README promises exit 130 and one line
    (tmp_path / "ctrl_c_probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])}
    result = subprocess.run([sys.executable, "-m", "ctrl_c_probe", "probe"], capture_output=True, text=True, env=env)
    assert result.returncode == 130, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), result.stderr
