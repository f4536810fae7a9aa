"""The CLI shell: help lists commands, errors are one line with a non-zero exit and no traceback."""

from __future__ import annotations

import json
import subprocess
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
