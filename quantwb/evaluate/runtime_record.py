"""The record's runtime block and KV shape: one fresh process per context (runtime.py), summed up for the record."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from quantwb.errors import InputError
from quantwb.evaluate.runtime import RuntimeJob, measure_runtime
from quantwb.formats.kv_geometry import kv_geometry
from quantwb.records import KVShape, Runtime, RuntimeMemory
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
                           device: str, kv_type: str = "f16") -> Runtime:
    """The variant's runtime at each context of `ctxs` (each once, in order), each in its own fresh process."""
    results = []
    for ctx in dict.fromkeys(ctxs):
        job = RuntimeJob(fmt, Path(path), ctx, threads, device, kv_type)
        results.append(run_isolated(measure_runtime, job, f"{label} runtime at ctx {ctx}"))
        log.info("%s: runtime RSS at ctx %d: %.1f MiB", label, ctx, results[-1].rss_bytes / 2**20)
    first = results[0]
    return Runtime(
        engine=first.engine, engine_version=first.engine_version, device=first.device, threads=threads,
        dtype=first.dtype, kv_type=first.kv_type,
        runtime_rss_bytes=[RuntimeMemory(ctx=res.ctx, rss_bytes=res.rss_bytes, prompt_tokens=res.prompt_tokens,
                                         gen_tokens=res.gen_tokens, buffers=res.buffers) for res in results],
    )
