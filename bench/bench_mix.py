"""`quantwb mix` against llama.cpp's stock types at the same file sizes, judged on text the mix never saw.

For each stock type (default Q3_K_M, Q4_K_M, Q5_K_M) a mix is made with `--match TYPE` (the stock file's
exact size as budget), chosen on the choosing text (wiki), then both files are measured by quantwb's
evaluator on the judging text (c4). Printed: sizes, mean KLD ± uncertainty, the ratio mix / stock (target
≤ 0.85 each), the scan's wall time, the search's, the quantize's (target: scan + search + quantize ≤ 10 min
on 2 cores) and the whole second and third targets on the same scan (target ≤ 1 min each).
    python bench/bench_mix.py [--model smollm2-135m] [--types Q3_K_M,Q4_K_M,Q5_K_M] [--layers-per-group N]
        [--chunks N] [--judge-chunks 40] [--out DIR]
(grouping and scan windows default to `quantwb mix`'s own defaults)
The machine's load (os.getloadavg) is printed with the times: they are wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from quantwb import defaults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--types", default="Q3_K_M,Q4_K_M,Q5_K_M")
    parser.add_argument("--layers-per-group", type=int, default=defaults.MIX_LAYERS_PER_GROUP)
    parser.add_argument("--chunks", type=int, default=defaults.MIX_SCAN_CHUNKS,
                        help="windows of the choosing text per scan measurement")
    parser.add_argument("--judge-chunks", type=int, default=40, help="windows of the judging text")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
    from quantwb.mix.make import MixConfig, MixTarget, make_mix
    from quantwb.models import resolve
    from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf
    from quantwb.records import read_record
    from quantwb.reports.table import type_mix

    types = args.types.split(",")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-mix-"))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; files in {out}")
    stock = {v.quant_type: v for v in quantize_gguf(resolve(args.model), types, out / "stock", ImatrixChoice("none"))}
    mixes, times = {}, {}
    for gguf_type in types:
        start = time.perf_counter()
        result = make_mix(MixConfig(model=args.model, target=MixTarget(match=gguf_type), chunks=args.chunks,
                                    layers_per_group=args.layers_per_group, out_dir=out / "mix", results_dir=None))
        times[gguf_type] = (time.perf_counter() - start, result)
        mixes[gguf_type] = result.variant
        print(f"{gguf_type}: mix made in {times[gguf_type][0]:.0f} s (scan {result.scan.wall_s:.0f} s, "
              f"{result.scan.n_measured} measured, {result.scan.n_reused} reused; search {result.timings['search_s']:.2f} s; "
              f"quantize {result.timings['quantize_s']:.1f} s), load {os.getloadavg()[0]:.1f}", flush=True)
    judge = EvalConfig(base=args.model, text="c4", chunks=args.judge_chunks, out_dir=out / "records", gen_tokens=0)
    paths = evaluate_variants([v.path for v in (*stock.values(), *mixes.values())], judge)
    kld = {}
    for path in paths:
        record = read_record(path)
        kld[record.variant.sha256] = (record.kld.kld.mean, record.kld.kld.mean_unc, record.text.n_scored)
    print(f"\nchosen on wiki ({args.chunks} windows of 512 per measurement, {args.layers_per_group} layers per group); "
          f"judged on c4 ({args.judge_chunks} windows of 512)")
    print("| stock type | stock MiB | mix MiB | size ratio | stock KLD | mix KLD | KLD ratio "
          "| mix predicted (wiki) | mix measured (wiki) | mix types |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for gguf_type in types:
        s, m = stock[gguf_type], mixes[gguf_type]
        (ks, us, _), (km, um, _) = kld[s.sha256], kld[m.sha256]
        result = times[gguf_type][1]
        print(f"| {gguf_type} | {s.size_bytes / 2**20:.2f} | {m.size_bytes / 2**20:.2f} | {m.size_bytes / s.size_bytes:.4f} "
              f"| {ks:.5f} ± {us:.5f} | {km:.5f} ± {um:.5f} | {km / ks:.3f} | {result.predicted_kld:.5f} "
              f"| {result.measured_kld:.5f} | {type_mix(m.tensor_types)} |")
    first = times[types[0]][1]
    print(f"\nfirst target: scan {first.scan.wall_s:.0f} s + search {first.timings['search_s']:.2f} s + quantize "
          f"{first.timings['quantize_s']:.1f} s = {first.scan.wall_s + first.timings['search_s'] + first.timings['quantize_s']:.0f} s "
          f"(target ≤ 600 s); whole first make_mix {times[types[0]][0]:.0f} s")
    for gguf_type in types[1:]:
        print(f"later target {gguf_type}: whole make_mix {times[gguf_type][0]:.0f} s on the same scan (target ≤ 60 s)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
