"""Token windows as llama.cpp's perplexity tool cuts them: chunks of n_ctx, BOS first, second half scored."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from quantwb.errors import DataError


@dataclass(frozen=True)
class WindowPlan:
    """How a token stream is cut: `n_chunks` disjoint windows of `ctx` tokens."""

    ctx: int
    n_chunks: int
    bos_id: int | None = None  # replaces each window's first token when the model adds a BOS

    @property
    def first(self) -> int:
        """First scored logit position: the model always sees at least ctx/2 tokens of context."""
        return self.ctx // 2

    @property
    def scored_per_window(self) -> int:
        """Positions first .. ctx-2; each predicts the token after it."""
        return self.ctx - 1 - self.first

    @property
    def n_scored(self) -> int:
        return self.n_chunks * self.scored_per_window

    @property
    def n_tokens_used(self) -> int:
        return self.n_chunks * self.ctx


def plan_windows(n_tokens: int, ctx: int, chunks: int | None, bos_id: int | None) -> WindowPlan:
    """All whole windows the text holds (or the first `chunks`); too short a text is a DataError."""
    if ctx < 4:
        raise DataError(f"context {ctx} is too small (at least 4 tokens)")
    available = n_tokens // ctx
    if available < 1:
        raise DataError(f"the text has {n_tokens} tokens, fewer than one window of --ctx {ctx}; use a longer text or a smaller --ctx")
    if chunks is not None and chunks < 1:
        raise DataError(f"--chunks must be at least 1 (got {chunks})")
    return WindowPlan(ctx=ctx, n_chunks=available if chunks is None else min(chunks, available), bos_id=bos_id)


def window_inputs(tokens: np.ndarray, plan: WindowPlan, indices: range) -> np.ndarray:
    """Input ids of windows `indices`, shape (len(indices), ctx), first token swapped for BOS if any."""
    rows = np.stack([tokens[i * plan.ctx : (i + 1) * plan.ctx] for i in indices]).astype(np.int64)
    if plan.bos_id is not None:
        rows[:, 0] = plan.bos_id
    return rows


def window_targets(tokens: np.ndarray, plan: WindowPlan, indices: range) -> np.ndarray:
    """The tokens the scored positions predict, shape (len(indices), scored_per_window)."""
    return np.stack(
        [tokens[i * plan.ctx + plan.first + 1 : (i + 1) * plan.ctx] for i in indices]
    ).astype(np.int64)


def batches(plan: WindowPlan, batch_windows: int) -> Iterator[range]:
    """Consecutive ranges of window indices, at most `batch_windows` each."""
    for start in range(0, plan.n_chunks, batch_windows):
        yield range(start, min(start + batch_windows, plan.n_chunks))
