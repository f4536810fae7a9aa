"""The record's runtime block and KV shape: one fresh process per context (runtime.py) for the memory; the first
of them, once its peak RSS is read, also times the runtime's speed (runtime_speed.py), which saves a process
start (and the libraries' imports) per variant without touching the memory figure."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from quantwb.errors import InputError
from quantwb.evaluate.runtime import RuntimeJob, measure_runtime
from quantwb.evaluate.runtime_speed import SpeedJob, SpeedTest, measure_speed, memory_then_speed
from quantwb.formats.kv_geometry import kv_geometry
from quantwb.records import KVShape, Runtime, RuntimeMemory, RuntimeSpeed
from quantwb.workers import run_isolated

log = logging.getLogger(__name__)


def kv_shape(path: Path) -> KVShape | None:
    """The KV cache's shape from the variant's config.json or GGUF header; None (logged) where neither gives it."""
    try:
        geometry = kv_geometry(path)
    except (InputError, KeyError, ValueError, ZeroDivisionError) as err:
        log.info("%s: no KV cache shape recorded (%s)", path, err)
        return None
    return KVShape(n_layers=geometry.n_layers, n_kv_heads=geometry.n_kv_heads, key_dim=geometry.key_dim,
                   value_dim=geometry.value_dim)


def measure_runtime_memory(label: str, fmt: Literal["hf", "gguf"], path: Path, ctxs: Sequence[int], threads: int,
                           device: str, kv_type: str = "f16", speed: SpeedTest | None = None) -> Runtime:
    """The variant's runtime at each context of `ctxs` (each once, in order), each in its own fresh process; with
    `speed`, the first process then times it (after its peak RSS was read)."""
    results, timed = [], None
    for index, ctx in enumerate(dict.fromkeys(ctxs)):
        job = RuntimeJob(fmt, Path(path), ctx, threads, device, kv_type)
        if index == 0 and speed is not None:
            speed_job = SpeedJob(fmt, Path(path), threads, device, speed)
            result, timed = run_isolated(memory_then_speed, (job, speed_job), f"{label} runtime at ctx {ctx}")
            _log_speed(label, timed, threads, device)
        else:
            result = run_isolated(measure_runtime, job, f"{label} runtime at ctx {ctx}")
        results.append(result)
        log.info("%s: runtime RSS at ctx %d: %.1f MiB", label, ctx, result.rss_bytes / 2**20)
    first = results[0]
    return Runtime(
        engine=first.engine, engine_version=first.engine_version, device=first.device, threads=threads,
        dtype=first.dtype, kv_type=first.kv_type,
        runtime_rss_bytes=[RuntimeMemory(ctx=res.ctx, rss_bytes=res.rss_bytes, prompt_tokens=res.prompt_tokens,
                                         gen_tokens=res.gen_tokens, buffers=res.buffers) for res in results],
        speed=timed,
    )


def _log_speed(label: str, speed: RuntimeSpeed, threads: int, device: str) -> None:
    log.info("%s: runtime pp%d %.1f tokens/s, tg%d %.1f tokens/s (%d threads, %s)", label, speed.pp_tokens,
             speed.pp_tokens_per_s, speed.tg_tokens, speed.tg_tokens_per_s, threads, device)


def measure_runtime_speed(label: str, fmt: Literal["hf", "gguf"], path: Path, threads: int, device: str,
                          test: SpeedTest | None = None) -> RuntimeSpeed:
    """The runtime's prompt and generation tokens/s (runtime_speed.py; `test` default: pp512, tg128), in a fresh
    process of their own."""
    job = SpeedJob(fmt, Path(path), threads, device, test or SpeedTest())
    speed = run_isolated(measure_speed, job, f"{label} runtime speed")
    _log_speed(label, speed, threads, device)
    return speed
