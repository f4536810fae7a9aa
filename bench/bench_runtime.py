"""Runtime memory and speed: `recommend --ctx N`'s prediction (the runtime's RSS measured at the evaluation's
context, its KV cache moved to N by the KV shape) against the same runtime measured in a fresh process at N; and
the runtime's own tokens/s (llama-bench's pp512 and tg128 for a GGUF, generate for an HF folder).

    python bench/bench_runtime.py VARIANT... [--eval-ctx 512] [--ctx 2048,8192,32768] [--hf-ctx 8192] [--no-memory]

GGUF files run through llama.cpp (llama-cpp-python, KV cache f16), HF folders through transformers; each context
and each speed measurement is one fresh process (quantwb.evaluate.runtime, runtime_speed), as `quantwb eval`
measures them for the record. Every row states the machine's load average (1, 5, 15 min) as it started.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from quantwb.evaluate.runtime_record import kv_shape, measure_runtime_memory, measure_runtime_speed
from quantwb.formats.kv_geometry import KVGeometry

MIB = 2**20


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def memory_table(variants: list[Path], args: argparse.Namespace) -> None:
    print("| variant | runtime | ctx | measured at eval ctx MiB | predicted MiB | measured MiB | predicted / measured "
          "| load |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for path in variants:
        fmt = "gguf" if path.suffix == ".gguf" else "hf"
        ctxs = [int(c) for c in (args.ctx if fmt == "gguf" else args.hf_ctx).split(",")]
        started = load()
        runtime = measure_runtime_memory(path.name, fmt, path, [args.eval_ctx, *ctxs], args.threads, "cpu")
        shape = kv_shape(path)
        assert shape is not None, path
        geometry = KVGeometry(shape.n_layers, shape.n_kv_heads, shape.key_dim, shape.value_dim)
        at_eval, *others = runtime.runtime_rss_bytes
        for measured in others:
            # the arithmetic of reports/recommend.ram_needed, on the same figures a record holds
            predicted = (at_eval.rss_bytes - geometry.cache_bytes(at_eval.ctx, runtime.kv_type)
                         + geometry.cache_bytes(measured.ctx, runtime.kv_type))
            print(f"| {path.name} | {runtime.engine} ({runtime.dtype or 'KV ' + runtime.kv_type}) | {measured.ctx} | "
                  f"{at_eval.rss_bytes / MIB:.1f} | {predicted / MIB:.1f} | {measured.rss_bytes / MIB:.1f} | "
                  f"{predicted / measured.rss_bytes:.3f} | {started} |", flush=True)


def speed_table(variants: list[Path], threads: int) -> None:
    print("| variant | runtime | threads | device | method | pp tok/s (mean ± sd) | tg tok/s (mean ± sd) | load |")
    print("|---|---|---:|---|---|---:|---:|---|")
    for path in variants:
        fmt = "gguf" if path.suffix == ".gguf" else "hf"
        started = load()
        speed = measure_runtime_speed(path.name, fmt, path, threads, "cpu")
        print(f"| {path.name} | {'llama.cpp' if fmt == 'gguf' else 'transformers'} | {threads} | cpu | "
              f"{speed.method}, {speed.reps} runs | pp{speed.pp_tokens} {_mean_sd(speed.pp_tokens_per_s, speed.pp_tokens_per_s_sd)} "
              f"| tg{speed.tg_tokens} {_mean_sd(speed.tg_tokens_per_s, speed.tg_tokens_per_s_sd)} | {started} |", flush=True)


def _mean_sd(mean: float, sd: float | None) -> str:
    return f"{mean:.1f}" if sd is None else f"{mean:.1f} ± {sd:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", type=Path)
    parser.add_argument("--eval-ctx", type=int, default=512)
    parser.add_argument("--ctx", default="2048,8192,32768", help="contexts for GGUF variants")
    parser.add_argument("--hf-ctx", default="8192", help="contexts for HF variants")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-memory", action="store_true", help="the speed table only")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average (1 / 5 / 15 min) before: {load()}")
    if not args.no_memory:
        memory_table(args.variants, args)
    speed_table(args.variants, args.threads)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
