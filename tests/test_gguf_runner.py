"""The GGUF runner decodes several windows at once, one sequence each (as llama-perplexity does): the logits it
copies out of llama.cpp's buffer must be those of each window decoded alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantwb.evaluate.gguf_runner import GGUFRunner
from quantwb.evaluate.runners import RunnerOptions

CTX, FIRST = 64, 32


@pytest.fixture(scope="module")
def tiny_f16(tiny_gguf) -> Path:
    return tiny_gguf("F16")


def test_windows_decoded_together_equal_windows_decoded_alone(tiny_f16: Path) -> None:
    windows = np.random.default_rng(0).integers(100, 20000, size=(5, CTX)).astype(np.int32)
    runner = GGUFRunner(tiny_f16, RunnerOptions(ctx=CTX, threads=2))
    try:
        assert runner.batch_windows >= len(windows)  # all five go into one decode
        together = runner.scored_logits(windows, FIRST).copy()
        alone = np.concatenate([runner.scored_logits(w[None], FIRST).copy() for w in windows])
    finally:
        runner.close()
    assert together.shape == (5 * (CTX - 1 - FIRST), runner.vocab_size)
    np.testing.assert_allclose(together, alone, rtol=0, atol=5e-3)  # F16 + flash attention: batch composition moves a few logits by ~2e-3
    # and the windows differ from each other, so a copy-out in the wrong order could not pass
    assert not np.allclose(together[: CTX - 1 - FIRST], together[CTX - 1 - FIRST: 2 * (CTX - 1 - FIRST)], atol=1e-2)
