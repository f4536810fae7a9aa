"""GGUF runner: llama-cpp-python, one window per decode, logits requested only for scored positions."""

from __future__ import annotations

import contextlib
import ctypes
import time
from pathlib import Path

import numpy as np

from quantwb.errors import EvaluationError, InputError
from quantwb.evaluate.runners import ForwardClock, RunnerOptions
from quantwb.llama_log import discard, llama_log_to


def load_llama(path: Path, **params):
    """llama_cpp.Llama, loaded with llama.cpp's own logging silenced; a file it cannot load is an InputError."""
    import llama_cpp

    with llama_log_to(discard):
        try:
            return llama_cpp.Llama(str(path), **{"verbose": False, **params})
        except (ValueError, RuntimeError) as err:
            raise InputError(f"{path}: llama.cpp cannot load this GGUF ({err})") from err


class GGUFRunner:
    """A .gguf file on CPU through llama.cpp (same kernels as llama-perplexity)."""

    def __init__(self, path: Path, options: RunnerOptions) -> None:
        import llama_cpp

        self._lib = llama_cpp
        with contextlib.ExitStack() as scope:  # llama.cpp's log silenced while this runner lives, restored by close()
            scope.enter_context(llama_log_to(discard))
            # flash_attn: what llama-perplexity uses by default on CPU (25 % faster windows here)
            self.llm = load_llama(
                path, n_ctx=options.ctx, n_batch=options.ctx, n_ubatch=min(options.ctx, 512),
                n_threads=options.threads, n_threads_batch=options.threads, logits_all=False, flash_attn=True,
            )
            self._log_scope = scope.pop_all()
        self.vocab_size = self.llm.n_vocab()
        self._ctx = self.llm.ctx
        self._batch = llama_cpp.llama_batch_init(options.ctx, 0, 1)
        self.batch_windows = 1
        self.clock = ForwardClock()

    def _decode(self, ids: np.ndarray | list[int], start_pos: int, want_logits: np.ndarray) -> int:
        """Decode `ids` at positions start_pos.. on sequence 0; returns how many rows of logits came out."""
        batch = self._batch
        batch.n_tokens = len(ids)
        for k, token in enumerate(ids):
            batch.token[k] = int(token)
            batch.pos[k] = start_pos + k
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = 0
            batch.logits[k] = bool(want_logits[k])
        if self._lib.llama_decode(self._ctx, batch) != 0:
            raise EvaluationError("llama_decode failed")
        return int(np.count_nonzero(want_logits))

    def _clear(self) -> None:
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self._ctx), True)

    def _logits(self, rows: int) -> np.ndarray:
        """llama.cpp's own logits buffer, not a copy: valid until the next decode."""
        pointer = self._lib.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(rows, self.vocab_size))

    def scored_logits(self, windows: np.ndarray, first: int) -> np.ndarray:
        """One window per call (batch_windows = 1): its logits are llama.cpp's buffer, which the next decode reuses."""
        (window,) = windows
        ctx = len(window)
        positions = np.arange(ctx)
        self._clear()
        self.clock.start()
        rows = self._decode(window, 0, (positions >= first) & (positions < ctx - 1))
        self._lib.llama_synchronize(self._ctx)
        self.clock.stop(ctx)
        return self._logits(rows)

    def generation_tokens_per_s(self, prompt_ids: list[int], n_new: int) -> float:
        self._clear()
        last = np.zeros(len(prompt_ids), dtype=bool)
        last[-1] = True
        self._decode(prompt_ids, 0, last)
        next_id = int(np.argmax(self._logits(1)[0]))
        started = time.perf_counter()
        for step in range(n_new):
            self._decode([next_id], len(prompt_ids) + step, np.ones(1, dtype=bool))
            next_id = int(np.argmax(self._logits(1)[0]))
        return n_new / (time.perf_counter() - started)

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        self.llm.close()
        self._log_scope.close()
