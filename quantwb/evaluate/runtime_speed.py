"""Speed as a runtime runs the variant, in a fresh process: the one runtime.py measured the peak RSS of, after
that peak was read (runtime_record.py), so the memory figure stays that of its short prompt.

GGUF: llama.cpp through llama-cpp-python, llama-bench's method on its low-level API. pp: `llama_decode` of one
batch of `pp_tokens` random token ids (the first the BOS where the model adds one) into an empty KV cache. tg:
`tg_tokens` single-token decodes from an empty cache, each synchronized. One untimed warm-up of each (the whole
prompt; one token), then `reps` timed runs, the cache cleared before each, as llama-bench does.

HF folders: transformers' greedy `generate` on the model as quantwb loads it, after a prompt of `pp_tokens`
random ids (min_new_tokens = max_new_tokens, so it never stops early). pp: `generate` of one token (the prefill);
tg: `generate` of `tg_tokens + 1` tokens, less the prefill's time of the same run, leaving `tg_tokens` decodes
at a depth of `pp_tokens` (llama-bench's tg starts from an empty cache). One untimed warm-up, then `reps` runs.

Tokens/s of each run; the mean and sample standard deviation over the runs, as llama-bench reports. Beside them, the
cores other processes kept busy meanwhile (cpu_contention.py): a loaded machine shows in the record.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from quantwb import defaults
from quantwb.evaluate.cpu_contention import other_cores_busy
from quantwb.evaluate.runtime import RuntimeJob, RuntimeResult, measure_runtime

if TYPE_CHECKING:
    from quantwb.records import RuntimeSpeed

TOKEN_SEED = 0  # the prompt's random token ids: the same on every run and every variant


@dataclass(frozen=True)
class SpeedTest:
    """What is timed: llama-bench's -p, -n and -r."""

    pp_tokens: int = defaults.RUNTIME_PP_TOKENS
    tg_tokens: int = defaults.RUNTIME_TG_TOKENS
    reps: int = defaults.RUNTIME_SPEED_REPS


@dataclass(frozen=True)
class SpeedJob:
    format: Literal["hf", "gguf"]
    path: Path
    threads: int
    device: str = "cpu"  # a resolved device: cpu, cuda, cuda:N
    test: SpeedTest = SpeedTest()


def memory_then_speed(jobs: tuple[RuntimeJob, SpeedJob]) -> tuple[RuntimeResult, RuntimeSpeed]:
    """In one fresh process: the memory job (its peak RSS read as it ends), then the speed test. This module is what
    that process imports before its peak is read, so it imports quantwb's records (pydantic) only after."""
    memory = measure_runtime(jobs[0])
    return memory, measure_speed(jobs[1])


def measure_speed(job: SpeedJob) -> RuntimeSpeed:
    """Run `job` here, in a process no other work shares the threads of (runtime_record runs it in the runtime's)."""
    from quantwb.quiet import quiet_libraries
    from quantwb.records import RuntimeSpeed

    time_runs = _gguf if job.format == "gguf" else _hf
    with quiet_libraries():
        (pp_times, tg_times), others = other_cores_busy(lambda: time_runs(job.path, job.threads, job.device, job.test))
    test = job.test
    pp, tg = [test.pp_tokens / t for t in pp_times], [test.tg_tokens / t for t in tg_times]
    return RuntimeSpeed(method="llama-bench" if job.format == "gguf" else "generate", pp_tokens=test.pp_tokens,
                        tg_tokens=test.tg_tokens, reps=test.reps, pp_tokens_per_s=statistics.fmean(pp),
                        pp_tokens_per_s_sd=_sd(pp), tg_tokens_per_s=statistics.fmean(tg), tg_tokens_per_s_sd=_sd(tg),
                        other_cores_busy=others, cpus=os.cpu_count())


def _sd(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _gguf(path: Path, threads: int, device: str, test: SpeedTest) -> tuple[list[float], list[float]]:
    import llama_cpp

    from quantwb.llama_log import discard, llama_log_to

    offload = device != "cpu" and llama_cpp.llama_supports_gpu_offload()
    with llama_log_to(discard):
        # one batch holds the whole prompt, as llama-bench's n_batch (2048) does; its n_ubatch 512 is the default
        llm = llama_cpp.Llama(str(path), n_ctx=test.pp_tokens + test.tg_tokens, n_batch=test.pp_tokens,
                              n_threads=threads, n_threads_batch=threads, n_gpu_layers=-1 if offload else 0,
                              verbose=False)
    ctx, vocab = llm.ctx, llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    bos = llama_cpp.llama_vocab_bos(vocab) if llama_cpp.llama_vocab_get_add_bos(vocab) else None
    rng = random.Random(TOKEN_SEED)

    def decode(tokens: list[int]) -> None:
        batch = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(batch, len(tokens))) != 0:
            raise RuntimeError(f"{path}: llama_decode failed")
        llama_cpp.llama_synchronize(ctx)

    def first() -> int:
        return bos if bos is not None else rng.randrange(n_vocab)

    def prompt() -> None:
        decode([first(), *(rng.randrange(n_vocab) for _ in range(test.pp_tokens - 1))])

    def generation(n: int) -> Callable[[], None]:
        def run() -> None:
            token = first()
            for _ in range(n):
                decode([token])
                token = rng.randrange(n_vocab)
        return run

    def clear() -> None:
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), False)

    def runs(warm_up: Callable[[], None], timed: Callable[[], None]) -> list[float]:
        clear()
        warm_up()
        times = []
        for _ in range(test.reps):
            clear()
            times.append(_timed(timed))
        return times

    try:  # llama-bench's warm-ups: the whole prompt; one generated token
        return runs(prompt, prompt), runs(generation(1), generation(test.tg_tokens))
    finally:
        llm.close()


def _hf(path: Path, threads: int, device: str, test: SpeedTest) -> tuple[list[float], list[float]]:
    import torch

    from quantwb.devices import is_accelerator
    from quantwb.evaluate.hf_variant_load import load_causal_lm

    torch_threads = torch.get_num_threads()  # process-wide: put back below
    torch.set_num_threads(threads)
    try:
        model = load_causal_lm(path, device)
        n_vocab = int(model.get_output_embeddings().weight.shape[0])
        rng = random.Random(TOKEN_SEED)
        ids = torch.tensor([[rng.randrange(n_vocab) for _ in range(test.pp_tokens)]], device=device)

        def generate(n: int) -> float:
            def run() -> None:
                model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                               do_sample=False, pad_token_id=0)
                if is_accelerator(device):
                    torch.cuda.synchronize(device)  # a timer reads work done, not work launched
            return _timed(run)

        pp_times, tg_times = [], []
        with torch.inference_mode():
            generate(2)  # warm-up: a prefill and a decode
            for _ in range(test.reps):
                prefill = generate(1)
                pp_times.append(prefill)
                tg_times.append(generate(test.tg_tokens + 1) - prefill)
    finally:
        torch.set_num_threads(torch_threads)
    return pp_times, tg_times
