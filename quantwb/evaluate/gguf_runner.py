"""GGUF runner: llama-cpp-python, one window per decode, logits requested only for scored positions."""

from __future__ import annotations

import ctypes
import logging
import time
from pathlib import Path

import numpy as np

from quantwb.errors import EvaluationError, InputError
from quantwb.evaluate.runners import ForwardClock, RunnerOptions
from quantwb.llama_log import discard, llama_log_to

log = logging.getLogger(__name__)


def load_llama(path: Path, **params):
    """llama_cpp.Llama, loaded with llama.cpp's own logging silenced; a file it cannot load is an InputError."""
    import llama_cpp

    with llama_log_to(discard):
        try:
            return llama_cpp.Llama(str(path), **{"verbose": False, **params})
        except (ValueError, RuntimeError) as err:
            raise InputError(f"{path}: llama.cpp cannot load this GGUF ({err})") from err


def gguf_device(requested: str) -> str:
    """Where llama.cpp will run: the requested accelerator when this llama-cpp-python was built with GPU offload
    (CMAKE_ARGS=-DGGML_CUDA=on), else the CPU, said in the log by each runner that asked (the record states the
    device used)."""
    import llama_cpp

    if requested == "cpu":
        return "cpu"
    if llama_cpp.llama_supports_gpu_offload():
        return requested
    log.warning("llama-cpp-python was built without GPU offload: GGUF variants run on the CPU "
                "(reinstall with CMAKE_ARGS=-DGGML_CUDA=on to offload)")
    return "cpu"


def _main_gpu(device: str) -> dict:
    return {"main_gpu": int(device.split(":")[1])} if ":" in device else {}


BATCH_TOKENS = 2048  # llama-perplexity's default n_batch: n_batch / n_ctx windows go into one decode


class GGUFRunner:
    """A .gguf file through llama.cpp (same kernels as llama-perplexity), every layer offloaded on an accelerator.

    Like llama-perplexity, several windows go into one decode, each as its own sequence of a context sized for all
    of them (n_seq = BATCH_TOKENS / ctx; each sequence sees only its own window)."""

    def __init__(self, path: Path, options: RunnerOptions) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.batch_windows = options.batch_windows or max(1, BATCH_TOKENS // options.ctx)
        tokens = options.ctx * self.batch_windows
        # llama.cpp's log silenced around each call into it (load, decode, free), not for the runner's life: a scope
        # holds Ctrl-C until it closes (quantwb.llama_log), and lm-eval drives this runner in the parent process.
        with llama_log_to(discard):
            self.device = gguf_device(options.device)
            # flash_attn: what llama-perplexity uses by default on CPU (25 % faster windows here)
            self.llm = load_llama(
                path, n_ctx=options.ctx, n_batch=options.ctx, n_ubatch=min(options.ctx, 512),
                n_threads=options.threads, n_threads_batch=options.threads, logits_all=False, flash_attn=True,
                n_gpu_layers=-1 if self.device != "cpu" else 0, **_main_gpu(self.device),
            )
            # llama-cpp-python's own context holds one sequence; ours holds one per window of a batch.
            params = llama_cpp.llama_context_params.from_buffer_copy(self.llm.context_params)
            params.n_ctx, params.n_batch, params.n_seq_max = tokens, tokens, self.batch_windows
            params.n_ubatch = min(tokens, 512)  # llama-perplexity's default micro-batch, so the float rounding matches
            self._ctx = llama_cpp.llama_init_from_model(self.llm.model, params)
            if not self._ctx:
                raise EvaluationError(f"{path}: llama.cpp could not make a context of {tokens} tokens")
        self.dtype = None  # a GGUF's tensors keep their own types
        self.vocab_size = self.llm.n_vocab()
        self._batch = llama_cpp.llama_batch_init(tokens, 0, 1)
        self.clock = ForwardClock()

    def _decode(self, ids: np.ndarray, positions: np.ndarray, sequences: np.ndarray, want_logits: np.ndarray) -> int:
        """Decode tokens `ids` at `positions` of `sequences`; returns how many rows of logits came out."""
        batch = self._batch
        batch.n_tokens = len(ids)
        for k, (token, position, sequence, wanted) in enumerate(zip(ids.tolist(), positions.tolist(), sequences.tolist(),
                                                                    want_logits.tolist(), strict=True)):
            batch.token[k] = token
            batch.pos[k] = position
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = sequence
            batch.logits[k] = wanted
        with llama_log_to(discard):
            status = self._lib.llama_decode(self._ctx, batch)
        if status != 0:
            raise EvaluationError("llama_decode failed")
        return int(np.count_nonzero(want_logits))

    def _clear(self) -> None:
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self._ctx), True)

    def _logits(self, rows: int) -> np.ndarray:
        """llama.cpp's own logits buffer, not a copy: valid until the next decode."""
        pointer = self._lib.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(rows, self.vocab_size))

    def scored_logits(self, windows: np.ndarray, first: int) -> np.ndarray:
        """Every window of `windows` in one decode, one sequence each; the rows come out in batch order (window by
        window), in llama.cpp's buffer, which the next decode reuses."""
        n, ctx = windows.shape
        positions = np.tile(np.arange(ctx), n)
        self._clear()
        self.clock.start()
        rows = self._decode(windows.reshape(-1), positions, np.repeat(np.arange(n), ctx), (positions >= first) & (positions < ctx - 1))
        self._lib.llama_synchronize(self._ctx)
        self.clock.stop(windows.size)
        return self._logits(rows)

    def generation_tokens_per_s(self, prompt_ids: list[int], n_new: int) -> float:
        def one_sequence(ids: list[int], start: int, logits: np.ndarray) -> None:
            self._decode(np.asarray(ids), np.arange(start, start + len(ids)), np.zeros(len(ids), dtype=int), logits)

        self._clear()
        last = np.zeros(len(prompt_ids), dtype=bool)
        last[-1] = True
        one_sequence(prompt_ids, 0, last)
        next_id = int(np.argmax(self._logits(1)[0]))
        started = time.perf_counter()
        for step in range(n_new):
            one_sequence([next_id], len(prompt_ids) + step, np.ones(1, dtype=bool))
            next_id = int(np.argmax(self._logits(1)[0]))
        return n_new / (time.perf_counter() - started)

    def close(self) -> None:
        with llama_log_to(discard):
            if self._batch is not None:
                self._lib.llama_batch_free(self._batch)
                self._batch = None
            if self._ctx is not None:
                self._lib.llama_free(self._ctx)
                self._ctx = None
            self.llm.close()
