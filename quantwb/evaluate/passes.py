"""The two passes, each run in its own process: the base pass (writes the cache) and a variant pass.

One forward pass per window yields everything: NLL (PPL), KLD, Δp and top-1 against the cached base.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from quantwb.evaluate import kld
from quantwb.evaluate.base_cache import CacheReader, CacheWriter
from quantwb.evaluate.memory import process_peak_rss_bytes
from quantwb.evaluate.runners import Runner, RunnerOptions, open_runner
from quantwb.evaluate.tokens import TokenizerMismatchError
from quantwb.evaluate.windows import WindowPlan, batches, window_inputs, window_targets
from quantwb.fileio import atomic_path
from quantwb.quiet import quiet_libraries

log = logging.getLogger(__name__)

# Positions per block of vocab-wide math: at most 64, and at most 6 MiB of float32 per row block (32 rows of
# SmolLM2's 49k vocabulary, 12 of a 128k one), so each temporary stays a few MB whatever the vocabulary. Every
# statistic is computed row by row: the block size changes no number, only the memory.
MATH_ROWS = 64
MATH_BLOCK_BYTES = 6 * 2**20
TAIL_DRAW_SEED = 0  # top K: where each position's tail draws fall, fixed so that a base pass draws the same ids each time
# Each pass runs in a fresh (spawned) interpreter, kept quiet whatever the CLI's -v says: the libraries'
# bars and advice, and tokenizers' warning about parallelism.
_CHILD_ENV = {"TOKENIZERS_PARALLELISM": "false"}


@dataclass(frozen=True)
class BasePassJob:
    base_path: Path
    tokens: np.ndarray
    plan: WindowPlan
    options: RunnerOptions
    cache_dir: Path
    dtype: str
    meta: dict
    token_strings: tuple[str, ...]
    topk: int | None = None  # store only the base's top K per position (and the tail mass)
    format: Literal["hf", "gguf"] = "hf"  # a GGUF base is scored by llama.cpp, as llama-perplexity scores it


@dataclass(frozen=True)
class VariantPassJob:
    label: str
    format: Literal["hf", "gguf"]
    path: Path
    cache_dir: Path
    options: RunnerOptions
    gen_tokens: int


@dataclass(frozen=True)
class VariantPassResult:
    """Per-position series and measured costs of one variant."""

    stats: kld.PositionStats
    vocab_size: int
    peak_rss_load_bytes: int
    peak_rss_eval_bytes: int
    prompt_tokens_per_s: float | None
    gen_tokens_per_s: float | None
    topk_check: kld.TopKCheck | None  # top-K KLD against the full KLD on the cache's check positions
    device: str  # where the variant actually ran
    dtype: str | None  # its unquantized weights' dtype (HF), None for a GGUF
    batch_windows: int


def _progress(description: str, total: int):
    console = Console(stderr=True)  # a bar only on a terminal: in a pipe or log, a transient bar leaves a blank line
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, transient=True, disable=not console.is_terminal)
    return progress, progress.add_task(description, total=total)


def _scored_windows(runner: Runner, tokens: np.ndarray, plan: WindowPlan, label: str
                    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first position index, logits, targets) per forward call, in order, with a progress bar over windows.
    The logits may be the backend's buffer: consume them before asking for the next item."""
    progress, task = _progress(label, plan.n_chunks)
    with progress:
        for indices in batches(plan, runner.batch_windows):
            logits = runner.scored_logits(window_inputs(tokens, plan, indices), plan.first)
            targets = window_targets(tokens, plan, indices).reshape(-1)
            yield indices.start * plan.scored_per_window, logits, targets
            progress.advance(task, len(indices))


def _row_blocks(n_rows: int, vocab: int) -> list[slice]:
    size = max(1, min(MATH_ROWS, MATH_BLOCK_BYTES // (4 * vocab)))
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def _math_pool(threads: int) -> ThreadPoolExecutor:
    """numpy releases the GIL in its array loops: the vocab-wide math of separate row blocks runs in parallel
    between forward passes, when the backend's threads are idle."""
    return ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="quantwb-math")


def run_base_pass(job: BasePassJob) -> None:
    """Score the base on every window and write the cache folder atomically."""
    with quiet_libraries(_CHILD_ENV):
        runner = open_runner(job.format, job.base_path, job.options)
        plan = job.plan
        store = np.dtype(job.dtype).type
        with atomic_path(job.cache_dir) as tmp, _math_pool(job.options.threads) as pool:
            writer = CacheWriter(tmp, plan, job.tokens, runner.vocab_size, job.dtype, job.topk)
            offsets = np.random.default_rng(TAIL_DRAW_SEED).random(plan.n_scored)  # the same draws on every run
            try:
                for first, logits, targets in _scored_windows(runner, job.tokens, plan, "base pass"):
                    wanted = writer.wants_check()

                    def rows(block: slice, logits=logits, targets=targets, wanted=wanted, first=first):
                        parts = kld.logit_parts(logits[block], targets[block])
                        if job.topk is None:
                            return kld.base_rows(parts, store), None
                        n_check = max(0, min(block.stop - block.start, wanted - (block.start)))
                        check = kld.base_rows(parts.take(slice(0, n_check)), store) if n_check else None
                        return kld.base_rows_topk(parts, job.topk, offsets[first + block.start:first + block.stop], store), check

                    for block_rows, check_rows in pool.map(rows, _row_blocks(len(targets), runner.vocab_size)):
                        writer.append(block_rows)
                        if check_rows is not None:
                            writer.append_check(check_rows)
                writer.finish({**job.meta, "vocab": runner.vocab_size}, job.token_strings)
            finally:
                writer.close()
        runner.close()


def run_variant_pass(job: VariantPassJob) -> VariantPassResult:
    """Load the variant, score every cached window, then time greedy generation."""
    with quiet_libraries(_CHILD_ENV):
        cache = CacheReader(job.cache_dir)
        runner = open_runner(job.format, job.path, job.options)
        rss_load = process_peak_rss_bytes()
        if runner.vocab_size != cache.vocab:
            raise TokenizerMismatchError(f"{job.path}: vocabulary of {runner.vocab_size} tokens, the base has {cache.vocab}")
        plan = cache.plan
        parts_list: list[kld.PositionStats] = []
        checks: list[kld.PositionStats] = []
        with _math_pool(job.options.threads) as pool:
            for offset, logits, targets in _scored_windows(runner, cache.tokens, plan, job.label):
                n_check = max(0, min(len(targets), cache.n_check - offset))
                full = cache.check_rows(offset, n_check) if n_check else None

                def stats(block: slice, logits=logits, targets=targets, offset=offset, full=full, n_check=n_check):
                    parts = kld.logit_parts(logits[block], targets[block])
                    inside = slice(block.start, min(block.stop, n_check))
                    check = None
                    if full is not None and inside.stop > inside.start:
                        check = kld.position_stats(full.take(inside), parts.take(slice(0, inside.stop - inside.start)))
                    # the base's rows read block by block: a batch's worth of a 128k vocabulary is 128 MiB per window
                    base = cache.rows(offset + block.start, block.stop - block.start)
                    return kld.position_stats(base, parts), check

                for block_stats, check in pool.map(stats, _row_blocks(len(targets), runner.vocab_size)):
                    parts_list.append(block_stats)
                    if check is not None:
                        checks.append(check)
        n_new = min(job.gen_tokens, plan.ctx // 2)  # prompt + generated tokens must fit the context
        prompt_ids = [int(t) for t in cache.tokens[: min(32, plan.ctx - n_new - 1)]]
        gen_speed = runner.generation_tokens_per_s(prompt_ids, n_new) if n_new > 0 else None
        rss_eval = process_peak_rss_bytes()
        cache.close()
        runner.close()
        stats = kld.PositionStats.concat(parts_list)
        topk_check = kld.topk_check(cache.topk, stats, kld.PositionStats.concat(checks)) if checks else None
        return VariantPassResult(
            stats=stats, topk_check=topk_check, vocab_size=runner.vocab_size, peak_rss_load_bytes=rss_load,
            peak_rss_eval_bytes=rss_eval, prompt_tokens_per_s=runner.clock.tokens_per_s, gen_tokens_per_s=gen_speed,
            device=runner.device, dtype=runner.dtype, batch_windows=runner.batch_windows,
        )
