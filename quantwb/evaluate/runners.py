"""The Runner protocol: token windows in, float32 logits of the scored positions out, for every format.

Perplexity, KLD and top-1 are computed above the runners (kld.py) from the same token ids, so an HF
checkpoint and a GGUF file are measured by exactly the same code.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

# HF windows per forward pass when not asked: more is barely faster on a CPU and costs memory; 8 keeps a GPU busy
# at 512-token windows (the logits' copy to the host bounds it)
HF_BATCH_WINDOWS = {"cpu": 2, "accelerator": 8}
# ...and on a CPU no more windows than fit 256 MiB of float32 logits: one 512-token window of a 128k vocabulary
# (250 MiB); two of SmolLM2's 49k or TinyLlama's 32k.
HF_CPU_LOGITS_BYTES = 256 * 2**20

RUNNERS = {"hf": "quantwb.evaluate.hf_runner:HFRunner", "gguf": "quantwb.evaluate.gguf_runner:GGUFRunner"}


@dataclass(frozen=True)
class RunnerOptions:
    """How to run a variant: window length, CPU threads, windows per forward batch, and the (resolved) device."""

    ctx: int
    threads: int
    batch_windows: int | None = None  # None: the runner's default (HF_BATCH_WINDOWS, the GGUF runner's BATCH_TOKENS / ctx)
    device: str = "cpu"  # cpu, cuda or cuda:N; `auto` is resolved before a runner is opened


def hf_batch_windows(options: RunnerOptions, accelerator: bool, vocab: int) -> int:
    """Windows per HF forward pass: the option when given, else the device's default within the CPU's logits budget."""
    if options.batch_windows:
        return options.batch_windows
    if accelerator:
        return HF_BATCH_WINDOWS["accelerator"]
    return max(1, min(HF_BATCH_WINDOWS["cpu"], HF_CPU_LOGITS_BYTES // (4 * vocab * options.ctx)))


@dataclass
class ForwardClock:
    """Seconds spent in forward passes and the tokens they processed (prompt-processing speed)."""

    seconds: float = 0.0
    tokens: int = 0
    _started: float = field(default=0.0, repr=False)

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self, tokens: int) -> None:
        self.seconds += time.perf_counter() - self._started
        self.tokens += tokens

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


class Runner(Protocol):
    """One loaded variant."""

    vocab_size: int
    batch_windows: int  # windows per scored_logits call
    clock: ForwardClock
    device: str  # where it actually runs (a GGUF asked for CUDA runs on the CPU without a GPU build)
    dtype: str | None  # the unquantized weights' dtype (HF); None for a GGUF, whose tensors keep their types

    def scored_logits(self, windows: np.ndarray, first: int) -> np.ndarray:
        """Logits (float32) of positions first .. ctx-2 of each window in (n_windows, ctx) ids,
        flattened to (n_windows * (ctx-1-first), vocab) in window order. The array may be the backend's
        own buffer: read it before the next call, and never write to it."""
        ...

    def generation_tokens_per_s(self, prompt_ids: list[int], n_new: int) -> float:
        """Greedy decoding speed: `n_new` single-token steps after `prompt_ids`, tokens per second."""
        ...

    def close(self) -> None: ...


def open_runner(fmt: Literal["hf", "gguf"], path: Path, options: RunnerOptions) -> Runner:
    """Load `path` with the runner registered for `fmt` (imports its backend only now)."""

    module_name, class_name = RUNNERS[fmt].split(":")
    return getattr(importlib.import_module(module_name), class_name)(path, options)
