"""Runtime memory: `recommend --ctx N`'s prediction (the runtime's RSS measured at the evaluation's context, its KV
cache moved to N by the KV shape) against the same runtime measured in a fresh process at N.

    python bench/bench_runtime.py VARIANT... [--eval-ctx 512] [--ctx 2048,8192,32768] [--hf-ctx 8192]

GGUF files run through llama.cpp (llama-cpp-python, KV cache f16), HF folders through transformers; each context
is one fresh process (quantwb.evaluate.runtime), as `quantwb eval` measures it for the record.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from quantwb.evaluate.runtime_record import kv_shape, measure_runtime_memory
from quantwb.formats.kv_geometry import KVGeometry

MIB = 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", type=Path)
    parser.add_argument("--eval-ctx", type=int, default=512)
    parser.add_argument("--ctx", default="2048,8192,32768", help="contexts for GGUF variants")
    parser.add_argument("--hf-ctx", default="8192", help="contexts for HF variants")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("| variant | runtime | ctx | measured at eval ctx MiB | predicted MiB | measured MiB | predicted / measured |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for path in args.variants:
        fmt = "gguf" if path.suffix == ".gguf" else "hf"
        ctxs = [int(c) for c in (args.ctx if fmt == "gguf" else args.hf_ctx).split(",")]
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
                  f"{predicted / measured.rss_bytes:.3f} |", flush=True)
    print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
