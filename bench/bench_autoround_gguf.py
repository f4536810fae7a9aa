"""AutoRound's Q4_K_M GGUF against llama.cpp's own Q4_K_M, without and with an importance matrix, side by side.

All three are made from the same model with the same calibration windows (AutoRound tunes on them, the imatrix is
collected on them) and measured by one `quantwb eval` on text not used for calibration:
    python bench/bench_autoround_gguf.py [--model smollm2-135m] [--type Q4_K_M] [--calibration c4] [--samples 32]
        [--seq-len 256] [--iters 200] [--text wiki] [--chunks 32] [--out DIR]
Prints file size, mean KLD, PPL and the wall time each took to make (each a separate child process).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.children import ChildFailed, gguf_variants, run_child  # noqa: E402


def timed(argv: list[str], out: Path | None = None) -> tuple[float, Path | None]:
    """(wall seconds, the one GGUF variant it wrote into `out`) of one `quantwb` child process; exits if it fails."""
    try:
        seconds, _ = run_child([sys.executable, "-m", "quantwb.cli", *argv])
    except ChildFailed as err:
        raise SystemExit(str(err)) from err
    print(f"  quantwb {' '.join(argv[:2])} ...: {seconds:.1f} s", file=sys.stderr, flush=True)
    if out is None:
        return seconds, None
    (variant,) = gguf_variants(out)
    return seconds, variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--type", default="Q4_K_M")
    parser.add_argument("--calibration", default="c4")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--text", default="wiki", help="evaluation text (not the calibration text)")
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    if args.text == args.calibration:
        raise SystemExit("--text must differ from --calibration: the comparison is on text not used for calibration")
    with tempfile.TemporaryDirectory(prefix="bench-autoround-gguf-") as tmp:
        out = args.out or Path(tmp)
        calibration = ["--calibration", args.calibration, "--samples", str(args.samples), "--seq-len", str(args.seq_len)]

        def make(folder: str, *argv: str) -> tuple[float, Path | None]:
            return timed([*argv, "--out", str(out / folder)], out / folder)

        made: dict[str, tuple[float, Path]] = {
            "llama.cpp": make("plain", "gguf", args.model, "--type", args.type, "--imatrix", "none"),
            "llama.cpp + imatrix": make("imatrix", "gguf", args.model, "--type", args.type, "--imatrix", "compute",
                                        *calibration),
            f"AutoRound ({args.iters} iters)": make("autoround", "autoround", args.model, "--format",
                                                    f"gguf:{args.type.lower()}", "--iters", str(args.iters), *calibration),
        }
        records = out / "records"
        eval_s, _ = timed(["eval", *(str(path) for _, path in made.values()), "--base", args.model, "--text", args.text,
                           "--chunks", str(args.chunks), "--gen-tokens", "0", "--out", str(records)])
        report(args, made, records, eval_s)


def report(args: argparse.Namespace, made: dict[str, tuple[float, Path]], records: Path, eval_s: float) -> None:
    from quantwb.records import find_records, read_record

    by_path = {Path(r.variant.path).resolve(): r for r in map(read_record, find_records([records])) if r.evaluation == "text"}
    print(f"{args.model} {args.type}: calibration {args.calibration} {args.samples} x {args.seq_len} tokens; "
          f"evaluated on {args.text}, {args.chunks} chunks (eval of all three {eval_s:.0f} s)")
    print(f"{'variant':<28} {'bytes':>12} {'mean KLD':>10} {'PPL':>9} {'PPL ratio':>9} {'made in':>8}")
    for label, (seconds, path) in made.items():
        record = by_path[path.resolve()]
        print(f"{label:<28} {record.variant.size_bytes:>12,} {record.kld.kld.mean:>10.5f} {record.perplexity.ppl:>9.3f} "
              f"{record.kld.ppl_ratio:>9.4f} {seconds:>7.1f}s")


if __name__ == "__main__":
    main()
