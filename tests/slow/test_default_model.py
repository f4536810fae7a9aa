"""The usage lines people read first: `quantwb gguf --type Q4_K_M` and `quantwb awq` with no MODEL use the
embedded default and say so in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb import defaults
from tests.cli_helpers import quantwb

pytestmark = [pytest.mark.slow]

SAYS = f"no MODEL given: using {defaults.MODEL}"


def test_gguf_without_model_uses_the_default(tmp_path: Path) -> None:
    result = quantwb("gguf", "--type", "Q4_K_M", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == SAYS
    assert (tmp_path / f"{defaults.MODEL}-Q4_K_M.gguf").is_file()


def test_awq_without_model_uses_the_default(tmp_path: Path) -> None:
    result = quantwb("awq", "--samples", "8", "--seq-len", "64", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == SAYS
    # SmolLM2's 576-wide layers take group 64 where 128 does not divide them; the folder is named after it
    assert (tmp_path / f"{defaults.MODEL}-awq-w4g64" / "config.json").is_file()
