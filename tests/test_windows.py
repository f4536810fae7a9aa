"""Windows cut as llama.cpp's perplexity tool cuts them."""

from __future__ import annotations

import numpy as np
import pytest

from quantwb.errors import DataError
from quantwb.evaluate.windows import WindowPlan, batches, plan_windows, window_inputs, window_targets


def test_plan_uses_whole_windows_only() -> None:
    plan = plan_windows(n_tokens=1000, ctx=128, chunks=None, bos_id=None)
    assert (plan.n_chunks, plan.first, plan.scored_per_window, plan.n_scored) == (7, 64, 63, 7 * 63)
    assert plan_windows(1000, 128, chunks=3, bos_id=None).n_chunks == 3
    assert plan_windows(1000, 128, chunks=50, bos_id=None).n_chunks == 7


def test_too_short_text_is_a_data_error() -> None:
    with pytest.raises(DataError, match="fewer than one window"):
        plan_windows(n_tokens=511, ctx=512, chunks=None, bos_id=None)


def test_inputs_replace_first_token_with_bos_and_targets_are_next_tokens() -> None:
    tokens = np.arange(100, 140)
    plan = WindowPlan(ctx=8, n_chunks=5, bos_id=1)
    inputs = window_inputs(tokens, plan, range(1, 3))
    assert inputs.tolist() == [[1, 109, 110, 111, 112, 113, 114, 115], [1, 117, 118, 119, 120, 121, 122, 123]]
    # positions 4, 5, 6 are scored; each predicts the token after it (position 7 predicts nothing)
    assert window_targets(tokens, plan, range(1, 3)).tolist() == [[113, 114, 115], [121, 122, 123]]
    no_bos = window_inputs(tokens, WindowPlan(ctx=8, n_chunks=5), range(0, 1))
    assert no_bos[0, 0] == 100


def test_batches_cover_every_window_once() -> None:
    plan = WindowPlan(ctx=8, n_chunks=10)
    assert [list(b) for b in batches(plan, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
