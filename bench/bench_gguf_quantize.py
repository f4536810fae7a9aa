"""Wall time of quantwb's Q4_K_M path against the bare `llama_model_quantize` call on the same F16 file.

Both run in this one process, alternating, after the F16 conversion is cached (quantwb converts once per
source hash), so the ratio is quantwb's own overhead: type check, imatrix check (a llama.cpp dry run,
memoized per converted file), facts, manifest, Modelfile.
    python bench/bench_gguf_quantize.py [--model smollm2-135m] [--type Q4_K_M] [--repeats 3]
Target: median quantwb time <= 1.05x the median bare call.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import tempfile
import time
from pathlib import Path


def bare_quantize(src: Path, dst: Path, ftype: int) -> None:
    """What a user writes from llama-cpp-python's bindings: default params, the type, all cores."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = os.cpu_count() or 1
    if llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params)) != 0:
        raise SystemExit("bare llama_model_quantize failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--type", default="Q4_K_M")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from quantwb.formats.gguf_types import parse_gguf_type
    from quantwb.models import resolve
    from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf
    from quantwb.quantize.gguf_convert import convert_to_gguf

    source = resolve(args.model)
    f16 = convert_to_gguf(source, "F16")  # warm the cache: both sides start from this file
    ftype = parse_gguf_type(args.type).ftype
    quantwb_s, bare_s = [], []
    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as tmp:
        out = Path(tmp)
        def run_bare() -> None:
            start = time.perf_counter()
            bare_quantize(f16, out / "bare.gguf", ftype)
            bare_s.append(time.perf_counter() - start)
            (out / "bare.gguf").unlink()

        def run_quantwb() -> None:
            start = time.perf_counter()
            quantize_gguf(resolve(args.model), [args.type], out / "quantwb", ImatrixChoice("auto"))  # CLI default
            quantwb_s.append(time.perf_counter() - start)
            for made in (out / "quantwb").iterdir():
                made.unlink()  # no rerun shortcut: each repeat does the whole job

        for repeat in range(args.repeats):  # ABBA order, so neither side always runs first
            for run in (run_bare, run_quantwb) if repeat % 2 == 0 else (run_quantwb, run_bare):
                run()
    ratio = statistics.median(quantwb_s) / statistics.median(bare_s)
    print(f"model {args.model}, type {args.type}, {os.cpu_count()} cores, {args.repeats} alternating repeats")
    print(f"bare llama_model_quantize  median {statistics.median(bare_s):7.2f} s  runs {[round(s, 2) for s in bare_s]}")
    print(f"quantwb quantize_gguf      median {statistics.median(quantwb_s):7.2f} s  runs {[round(s, 2) for s in quantwb_s]}")
    print(f"ratio quantwb/bare {ratio:.3f} (target <= 1.05): {'OK' if ratio <= 1.05 else 'OVER'}")


if __name__ == "__main__":
    main()
