"""`--kld-topk K` against the full base cache, side by side in one run: mean KLD of each variant and the cache's bytes.

The same variants are evaluated twice on the same windows, once against the whole stored distribution (the default)
and once against the base's top K tokens plus token ids drawn from the tail; each run computes its own base cache.
    python bench/bench_kld_topk.py [--model smollm2-135m] [--types Q8_0,Q4_K_M,Q2_K] [--topk 256] [--text wiki]
        [--chunks N (default: every window of the text)] [--out DIR]
Targets (issue 16): mean KLD within 1 % of the full computation, cache at least 50x smaller.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.children import ChildFailed, gguf_variants, run_child  # noqa: E402

CACHE_FILES = ("p.npy", "idx.npy", "draws.npy", "check_p.npy", "rows.npz", "tokens.npy")


def quantwb(argv: list[str], env: dict[str, str]) -> None:
    """Run one `quantwb` child; exits if it fails."""
    try:
        run_child([sys.executable, "-m", "quantwb.cli", *argv], env)
    except ChildFailed as err:
        raise SystemExit(str(err)) from err


def cache_bytes(home: Path, topk: int | None) -> int:
    """Bytes on disk of the one base cache with this K under this home."""
    from quantwb.evaluate import base_cache

    folders = [f for f in (home / "base-logprobs").glob("*") if base_cache.is_complete(f)
               and base_cache.read_meta(f).get("topk") == topk]
    if len(folders) != 1:
        raise SystemExit(f"expected one base cache with topk={topk} under {home}, found {len(folders)}")
    return sum((folders[0] / name).stat().st_size for name in CACHE_FILES if (folders[0] / name).exists())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--types", default="Q8_0,Q4_K_M,Q2_K")
    parser.add_argument("--topk", type=int, default=256)
    parser.add_argument("--text", default="wiki")
    parser.add_argument("--chunks", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-kld-topk-") as tmp:
        out = args.out or Path(tmp)
        types = [name for t in args.types.split(",") for name in ("--type", t)]
        quantwb(["gguf", args.model, *types, "--out", str(out / "gguf")], dict(os.environ))
        files = [str(f) for f in gguf_variants(out / "gguf")]
        window = ["--text", args.text, "--gen-tokens", "0", *(["--chunks", str(args.chunks)] if args.chunks else [])]
        records, sizes = {}, {}
        for topk in (None, args.topk):
            label = "full" if topk is None else f"top {topk}"
            # a base cache of each run's own, so both are computed here and measured on disk
            env = {**os.environ, "QUANTWB_HOME": str(out / f"home-{label.replace(' ', '')}")}
            records[label] = out / f"records-{label.replace(' ', '')}"
            quantwb(["eval", *files, "--base", args.model, *window, *(["--kld-topk", str(topk)] if topk else []),
                     "--out", str(records[label])], env)
            sizes[label] = cache_bytes(Path(env["QUANTWB_HOME"]), topk)
        report(args, records, sizes)


def report(args: argparse.Namespace, records: dict[str, Path], sizes: dict[str, int]) -> None:
    from quantwb.records import find_records, read_record

    full_label, top_label = records
    read = {label: {Path(r.variant.path).name: r for r in map(read_record, find_records([folder]))
                    if r.evaluation == "text"} for label, folder in records.items()}
    some = next(iter(read[full_label].values()))
    some_top = next(iter(read[top_label].values()))
    print(f"{args.model} on {args.text}: {some.text.n_chunks} windows of {some.text.ctx}, {some.text.n_scored} scored positions")
    print(f"{top_label}: the tail's share estimated from {some_top.kld.topk.tail_draws} drawn token ids per position")
    print(f"base cache: full {sizes[full_label]:,} bytes, {top_label} {sizes[top_label]:,} bytes: "
          f"{sizes[full_label] / sizes[top_label]:.1f}x smaller (target >= 50x)")
    print(f"{'variant':<28} {'KLD full':>10} {'KLD ' + top_label:>12} {'error':>8} {'stated error':>13} {'same top-1':>10}")
    for name, full in sorted(read[full_label].items(), key=lambda item: item[1].kld.kld.mean):
        top = read[top_label][name]
        error = (top.kld.kld.mean - full.kld.kld.mean) / full.kld.kld.mean
        same = "yes" if top.kld.same_top_p == full.kld.same_top_p and top.perplexity.ppl == full.perplexity.ppl else "NO"
        print(f"{name:<28} {full.kld.kld.mean:>10.6f} {top.kld.kld.mean:>12.6f} {error:>+8.3%} "
              f"{top.kld.topk.relative_error:>+13.3%} {same:>10}")
    print("error: (top-K mean KLD - full mean KLD) / full over every scored position (target within 1 %); stated: what the"
          " record says, measured on its first check positions; same top-1: argmax agreement and PPL identical")


if __name__ == "__main__":
    main()
