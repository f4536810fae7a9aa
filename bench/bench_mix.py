"""`quantwb mix` against llama.cpp's stock types at the same file sizes, with and without the importance matrix,
judged on text the mix never saw.

For each stock type (default Q3_K_M, Q4_K_M, Q5_K_M) a mix is made with `--match TYPE` (the stock file's exact size
as budget), chosen on the choosing text (wiki) with quantwb mix's defaults (Fisher scores, one layer per group, an
importance matrix computed on wiki), and a second mix with `--score proxy` (the importance-weighted quantization
error alone, same budget, same writer). The stock type is made with the mix's own importance matrix and without
one. Every file is measured by quantwb's evaluator on the judging text (c4). Printed per type: sizes, mean KLD, the
ratio mix / stock with imatrix (target ≤ 0.80) with the paired 95 % window-bootstrap interval of the difference
(target: excludes 0), p99 KLD (target: mix ≤ stock), the proxy's and the no-imatrix ratios; the first target's
score + search + quantize time (target ≤ 600 s) and the later targets' whole time on the same scores.

Then the rank correlation (Spearman, target ≥ 0.85) between the Fisher-predicted rises and the measured scan's
rises over every (group, option) of a grouping the measured scan can afford (`--check-layers-per-group`, default
10 layers per group: a measured per-layer scan is ~10x the files).
    python bench/bench_mix.py [--model smollm2-135m] [--types Q3_K_M,Q4_K_M,Q5_K_M] [--chunks N]
        [--judge-chunks 40] [--check-layers-per-group 10] [--check-chunks N] [--skip-check | --check-only] [--out DIR]
The measured scan of the rank check runs on `--check-chunks` windows of the choosing text (default: `--chunks`);
the Fisher scores are always the mix's own, from `--chunks` windows. One layer's measured rise at a 5- or 6-bit type
is of the order of the scan's own noise at 4 windows (a paired stderr of ~1.2e-4 nats), so more windows give the
check a steadier reference.
The embedded SmolLM2-135M's weights sit on a Q4_1 grid, which flatters asymmetric 4-bit types (Q4_1, Q5_0's
neighbours are not): the ratios are this model's. The machine's load (os.getloadavg) is printed with the times.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from quantwb import defaults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--types", default="Q3_K_M,Q4_K_M,Q5_K_M")
    parser.add_argument("--chunks", type=int, default=defaults.MIX_SCAN_CHUNKS, help="windows of the choosing text")
    parser.add_argument("--judge-chunks", type=int, default=40, help="windows of the judging text")
    parser.add_argument("--check-layers-per-group", type=int, default=10)
    parser.add_argument("--check-chunks", type=int, default=None,
                        help="windows of the choosing text the rank check's measured scan runs on (default: --chunks)")
    parser.add_argument("--skip-check", action="store_true", help="skip the rank correlation against the measured scan")
    parser.add_argument("--check-only", action="store_true", help="only the rank correlation against the measured scan")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
    from quantwb.mix.config import MixConfig, MixTarget
    from quantwb.mix.judge import kld_series
    from quantwb.mix.make import make_mix
    from quantwb.models import resolve
    from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf
    from quantwb.reports.paired import paired_difference
    from quantwb.reports.table import type_mix

    types = args.types.split(",")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-mix-"))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; files in {out}", flush=True)
    source = resolve(args.model)
    if args.check_only:
        _rank_check(args, source)
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        return
    made: dict[tuple[str, str], object] = {}
    times: dict[tuple[str, str], float] = {}
    for score in ("fisher", "proxy"):
        for gguf_type in types:
            start = time.perf_counter()
            result = make_mix(MixConfig(model=args.model, target=MixTarget(match=gguf_type), chunks=args.chunks,
                                        score=score, out_dir=out / f"mix-{score}", results_dir=None))
            times[(score, gguf_type)] = time.perf_counter() - start
            made[(score, gguf_type)] = result
            t = result.timings
            print(f"{score} {gguf_type}: made in {times[(score, gguf_type)]:.0f} s (scores {t['score_s']:.0f} s, search "
                  f"{t['search_s']:.2f} s, quantize {t['quantize_s']:.1f} s), load {os.getloadavg()[0]:.1f}", flush=True)
    imatrix = Path(made[("fisher", types[0])].variant.manifest["mix"]["imatrix"]["file"])
    with_imatrix = quantize_gguf(source, types, out / "stock-imat", ImatrixChoice("file", imatrix))
    stock = dict(zip(types, with_imatrix, strict=True))
    plain = dict(zip(types, quantize_gguf(source, types, out / "stock", ImatrixChoice("none")), strict=True))
    # each set in its own record folder: the fisher and proxy mixes of one target share a file name
    sets = {"stock-imat": list(stock.values()), "stock": list(plain.values()),
            **{score: [r.variant for (s, _), r in made.items() if s == score] for score in ("fisher", "proxy")}}
    series = {}
    for name, variants in sets.items():
        judge = EvalConfig(base=args.model, text="c4", chunks=args.judge_chunks, out_dir=out / "records" / name,
                           gen_tokens=0)
        for variant, path in zip(variants, evaluate_variants([v.path for v in variants], judge), strict=True):
            series[variant.sha256] = kld_series(path)

    def kld_of(variant):
        return series[variant.sha256]

    print(f"\nchosen on wiki ({args.chunks} windows of 512; {defaults.MIX_LAYERS_PER_GROUP} layer(s) per group; "
          f"imatrix: {imatrix.name}); judged on c4 ({args.judge_chunks} windows of 512); KLD in nats")
    print("| size of | stock+imat MiB | mix MiB | stock+imat KLD | mix KLD | mix / stock+imat | mix − stock+imat (95%) "
          "| p99 mix / stock+imat | proxy KLD | proxy / stock+imat | stock (no imat) KLD | mix / stock (no imat) "
          "| predicted / measured (wiki) | mix types |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for gguf_type in types:
        m, p = made[("fisher", gguf_type)], made[("proxy", gguf_type)]
        (ks, windows), (km, _), (kp, _), (kn, _) = (kld_of(v) for v in (stock[gguf_type], m.variant, p.variant, plain[gguf_type]))
        d = paired_difference(km, ks, windows)
        print(f"| {gguf_type} | {stock[gguf_type].size_bytes / 2**20:.2f} | {m.variant.size_bytes / 2**20:.2f} "
              f"| {ks.mean():.5f} | {km.mean():.5f} | {km.mean() / ks.mean():.3f} | {d.value:+.5f} [{d.lo:+.5f}, {d.hi:+.5f}] "
              f"| {np.quantile(km, 0.99):.4f} / {np.quantile(ks, 0.99):.4f} | {kp.mean():.5f} | {kp.mean() / ks.mean():.3f} "
              f"| {kn.mean():.5f} | {km.mean() / kn.mean():.3f} | {m.predicted_kld:.5f} / {m.measured_kld:.5f} "
              f"| {type_mix(m.variant.tensor_types)} |")
    first = made[("fisher", types[0])].timings
    print(f"\nfirst target (fisher): scores {first['score_s']:.0f} s + search {first['search_s']:.2f} s + quantize "
          f"{first['quantize_s']:.1f} s = {first['score_s'] + first['search_s'] + first['quantize_s']:.0f} s (target ≤ 600 s); "
          f"whole make_mix {times[('fisher', types[0])]:.0f} s (imatrix, conversion and the additivity check included)")
    for gguf_type in types[1:]:
        print(f"later target {gguf_type}: whole make_mix {times[('fisher', gguf_type)]:.0f} s on the same scores")
    if not args.skip_check:
        _rank_check(args, source)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def _rank_check(args, source) -> None:
    """Spearman between the Fisher prediction and the measured scan's rises, over every (group, non-reference option)."""
    from scipy.stats import spearmanr

    from quantwb.evaluate.pipeline import EvalConfig, prepare_text
    from quantwb.formats.gguf_types import INTERMEDIATE_TYPE
    from quantwb.mix.imatrix_choice import mix_imatrix
    from quantwb.mix.layout import mix_layout
    from quantwb.mix.scores import error_scores, fisher_scores, full_scores
    from quantwb.quantize.gguf_convert import convert_to_gguf, converted_sha256

    intermediate = convert_to_gguf(source, INTERMEDIATE_TYPE)
    imatrix = mix_imatrix(source, "auto", defaults.EVAL_TEXT, intermediate)
    layout = mix_layout(intermediate, list(defaults.MIX_CANDIDATES), defaults.MIX_REFERENCE_TYPE,
                        args.check_layers_per_group, has_imatrix=True)
    config = EvalConfig(base=args.model, text=defaults.EVAL_TEXT, chunks=args.chunks)
    setup = prepare_text([], source, None, config)
    check_chunks = args.check_chunks or args.chunks
    check_config = dataclasses.replace(config, chunks=check_chunks)
    check_setup = prepare_text([], source, None, check_config) if check_chunks != args.chunks else setup
    sha, means = converted_sha256(intermediate), imatrix.data.means()
    start = time.perf_counter()
    measured = full_scores(layout, sha, check_setup, check_config, means, imatrix.sha256)
    full_s = time.perf_counter() - start
    threads = config.runner_options().threads
    predicted = fisher_scores(layout, sha, source, setup, means, imatrix.sha256, threads)
    proxy = error_scores("proxy", layout, sha, None, lambda: None, means, imatrix.sha256, threads)
    pairs = [(g.name, o.label) for g in layout.groups for o in g.options if o.types != g.reference.types]
    truth = [measured.rises[p] for p in pairs]
    print(f"\nrank check on {len(pairs)} (group, option) pairs, {args.check_layers_per_group} layers per group "
          f"(measured scan on {check_setup.plan.n_chunks} windows {full_s:.0f} s, {measured.facts['measured']} files "
          f"measured, {measured.facts['reused']} reused; Fisher scores from {setup.plan.n_chunks} windows):")
    stderrs = [stderr for _, stderr in measured.facts["rises"].values()]
    print(f"  measured rises: median paired stderr {np.median(stderrs):.1e} nats; "
          f"{sum(t < 0 for t in truth)} of {len(truth)} below the reference")
    for name, scores in (("fisher", predicted), ("proxy", proxy)):
        rho = spearmanr([scores.rises[p] for p in pairs], truth).statistic
        print(f"  Spearman({name}, measured) = {rho:.3f} (target ≥ 0.85 for fisher)")
    # per option: which options the quadratic prediction ranks and scales worst across groups
    print("  per option: pairs, Spearman(fisher, measured) across groups, median fisher / measured rise")
    for label in sorted({option for _, option in pairs}):
        mine = [p for p in pairs if p[1] == label]
        fisher, truth_here = [predicted.rises[p] for p in mine], [measured.rises[p] for p in mine]
        rho = spearmanr(fisher, truth_here).statistic if len(mine) > 2 else float("nan")
        ratios = [f / t for f, t in zip(fisher, truth_here, strict=True) if t > 0]
        median = float(np.median(ratios)) if ratios else float("nan")
        print(f"    {label:24} {len(mine):4d}  {rho:6.3f}  {median:7.3f}")


if __name__ == "__main__":
    main()
