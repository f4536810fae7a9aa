"""The diagonal Fisher information of the base on the choosing text: what the cheap sensitivity weighs errors by.

KL(base ‖ quantized) has zero gradient at the base weights and the Fisher information as its Hessian, so storing a
weight w as w + δw raises the mean KLD by about ½ Σ F·δw² per scored position. F's diagonal comes from one backward
pass per window: at each scored position a label is drawn from the base's own distribution (not the text's next
token: that would be the empirical Fisher, a different matrix), and the squared gradient of the window's summed
log-probability of those labels is an unbiased estimate of the diagonal summed over the window's positions (the
cross terms between positions have zero mean, since each drawn label's score has zero mean under the base).

Run on the HF model in float32 with torch, over the first windows of the text the scan would measure (the
positions llama-perplexity scores: the second half of each window), then mapped into the GGUF's tensor names and
row order by llama.cpp's own converter (gguf_convert.gguf_layout).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantwb.evaluate.pipeline import TextSetup
from quantwb.evaluate.windows import window_inputs
from quantwb.models import ModelSource
from quantwb.quantize.base import Stopwatch
from quantwb.quantize.gguf_convert import gguf_layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FisherDiagonal:
    """Per GGUF tensor name, F's diagonal summed over `n_positions` scored positions, in the GGUF's row order."""

    values: dict[str, np.ndarray]
    n_positions: int
    n_windows: int
    wall_s: float


def fisher_diagonal(source: ModelSource, setup: TextSetup, windows: int, seed: int, threads: int) -> FisherDiagonal:
    """One forward and backward pass per window over the first `windows` windows of `setup`'s text."""
    import torch
    from transformers import AutoModelForCausalLM

    clock = Stopwatch()
    plan = setup.plan
    count = min(windows, plan.n_chunks)
    tokens = np.load(Path(setup.cache_dir) / "tokens.npy")
    inputs = torch.from_numpy(window_inputs(tokens, plan, range(count)))
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32)
        model.eval()
        params = {name: p for name, p in model.named_parameters() if p.dim() == 2}
        sums = {name: torch.zeros_like(p) for name, p in params.items()}
        draw = torch.Generator().manual_seed(seed)
        for index in range(count):
            model.zero_grad(set_to_none=True)
            logits = model(inputs[index : index + 1]).logits[0, plan.first : plan.ctx - 1].float()
            logp = torch.log_softmax(logits, dim=-1)
            with torch.no_grad():
                labels = torch.multinomial(logp.exp(), 1, generator=draw)
            logp.gather(1, labels).sum().backward()
            for name, p in params.items():
                sums[name] += p.grad.square()
            log.info("fisher: window %d/%d", index + 1, count)
        values: dict[str, np.ndarray] = {}
        with torch.no_grad(), gguf_layout(source) as mapped:
            for name, total in sums.items():
                for gguf_name, array in mapped(name, total):
                    values[gguf_name] = array.astype(np.float32)
    finally:
        torch.set_num_threads(saved_threads)
    return FisherDiagonal(values, count * plan.scored_per_window, count, clock.seconds)
