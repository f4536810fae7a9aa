"""Do interval gates trust the noise? Q4_K_M of smollm2-135m on 7 disjoint slices of 16 windows of the packaged wiki text.

1. Q4_K_M and Q5_K_M are measured once on all 7 x 16 = 112 windows (512 tokens) against the HF base.
2. Slices: the per-position data of windows 16k .. 16k+15 is what a 16-window run on them gives (each window
   is a separate forward pass from a BOS; nothing crosses windows), so each slice becomes a record of its own.
   A gate `kld_mean.lo>V`, with V the mean KLD on all 112 windows, must trip on at most 1 of the 7 slices
   (each slice's 95% interval holds V unless the slice is unusual). For contrast the bench also counts the
   plain gate `kld_mean>V` and the bound built from the record's position-wise uncertainty (mean - 1.96 unc),
   which treats correlated positions as independent.
3. `--previous`: the Q4_K_M record as last run, the Q5_K_M record under the same name as this run (and the
   reverse); the regression gate must flag the worse one and not the better one.

    python bench/bench_gate.py [--work DIR] [--slices 7] [--windows 16]
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from quantwb.evaluate.perplexity import mean_and_uncertainty
from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.evaluate.positions import write_sidecar
from quantwb.models import resolve
from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf
from quantwb.records import Record, read_record, write_record
from quantwb.reports.compare import CompareOptions, compare
from quantwb.reports.gate import parse_threshold
from quantwb.reports.intervals import estimate

MODEL = "smollm2-135m"


def slice_record(record: Record, arrays: dict[str, np.ndarray], first: int, count: int, out: Path) -> Path:
    """The record of windows first .. first+count-1 alone: its positions, text facts and KLD mean ± unc."""
    per_window = record.text.n_scored // record.text.n_chunks
    rows = slice(first * per_window, (first + count) * per_window)
    part = {name: values[rows] for name, values in arrays.items()}
    sidecar = write_sidecar(part, out / f"{record.variant.name}.text.npz")
    mean, unc = mean_and_uncertainty(part["kld"].astype(np.float64))
    kld = record.kld.model_copy(update={"kld": record.kld.kld.model_copy(update={"mean": mean, "mean_unc": unc})})
    text = record.text.model_copy(update={"n_chunks": count, "n_scored": count * per_window})
    return write_record(record.model_copy(update={"positions": sidecar, "kld": kld, "text": text}), out)


def renamed(record_path: Path, name: str, out: Path) -> Path:
    """The record (and its positions) under another variant name, as if a later run of `name` had measured it."""
    record = read_record(record_path)
    with np.load(record_path.parent / record.positions.file) as data:
        sidecar = write_sidecar({key: data[key] for key in data.files}, out / f"{name}.text.npz")
    variant = record.variant.model_copy(update={"name": name})
    return write_record(record.model_copy(update={"variant": variant, "positions": sidecar}), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="keep artifacts and records here (default: a temporary folder)")
    parser.add_argument("--slices", type=int, default=7)
    parser.add_argument("--windows", type=int, default=16, help="windows per slice")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-gate-"))
    started = time.perf_counter()
    source = resolve(MODEL)
    ggufs = {v.quant_type: Path(v.path) for v in quantize_gguf(source, ["Q4_K_M", "Q5_K_M"], work / "gguf", imatrix=ImatrixChoice("none"))}
    total = args.slices * args.windows
    config = EvalConfig(base=MODEL, text="wiki", ctx=512, chunks=total, out_dir=work / "full", gen_tokens=0)
    q4_path, q5_path = evaluate_variants([ggufs["Q4_K_M"], ggufs["Q5_K_M"]], config)
    q4 = read_record(q4_path)
    if q4.text.n_chunks < total:
        raise SystemExit(f"the wiki text holds {q4.text.n_chunks} windows of 512 tokens, fewer than {total}")
    print(f"measured Q4_K_M and Q5_K_M on {q4.text.n_chunks} windows in {time.perf_counter() - started:.0f} s "
          f"(per-position file {q4.positions.size_bytes} bytes = {q4.positions.size_bytes / q4.text.n_scored:.1f} B/position)")

    full = next(row for row in compare([q4_path]).rows)
    full_estimate = estimate(full, "kld_mean")
    value = q4.kld.kld.mean
    print(f"Q4_K_M on all {total} windows: mean KLD {value:.5f}, window-bootstrap 95% [{full_estimate.interval.lo:.5f}, "
          f"{full_estimate.interval.hi:.5f}], position-wise ± {1.96 * q4.kld.kld.mean_unc:.5f}")
    with np.load(q4_path.parent / q4.positions.file) as data:
        arrays = {key: data[key] for key in data.files}
    trips = {"kld_mean.lo": 0, "kld_mean": 0, "position-wise lo": 0}
    for k in range(args.slices):
        folder = work / "slices" / str(k)
        shutil.rmtree(folder, ignore_errors=True)
        path = slice_record(q4, arrays, k * args.windows, args.windows, folder)
        gate = parse_threshold(f"kld_mean.lo>{value!r}")
        report = compare([path], CompareOptions(thresholds=(gate,)))
        row = report.rows[0]
        interval = estimate(row, "kld_mean").interval
        naive_lo = row.value("kld_mean") - 1.96 * row.value("kld_mean_unc")
        tripped = {"kld_mean.lo": bool(report.breaches), "kld_mean": row.value("kld_mean") > value, "position-wise lo": naive_lo > value}
        for key, hit in tripped.items():
            trips[key] += hit
        print(f"slice {k} (windows {k * args.windows}-{(k + 1) * args.windows - 1}): mean KLD {interval.value:.5f}, "
              f"window-bootstrap 95% [{interval.lo:.5f}, {interval.hi:.5f}], position-wise lo {naive_lo:.5f}; "
              f"trips: .lo {'YES' if tripped['kld_mean.lo'] else 'no'}, plain {'YES' if tripped['kld_mean'] else 'no'}, "
              f"position-wise lo {'YES' if tripped['position-wise lo'] else 'no'}")
    print(f"trip counts over {args.slices} slices with V = {value:.5f}: kld_mean.lo>V {trips['kld_mean.lo']} (target <= 1), "
          f"kld_mean>V {trips['kld_mean']}, position-wise lower bound > V {trips['position-wise lo']}")

    q5 = read_record(q5_path)
    print(f"Q5_K_M on all {total} windows: mean KLD {q5.kld.kld.mean:.5f} (Q4_K_M {value:.5f})")
    name = q4.variant.name
    for label, old, new in (("Q4_K_M before, Q5_K_M now", q4_path, q5_path), ("Q5_K_M before, Q4_K_M now", q5_path, q4_path)):
        before, now = work / "previous" / label.split()[0], work / "now" / label.split()[0]
        for folder in (before, now):
            shutil.rmtree(folder, ignore_errors=True)
        renamed(old, name, before)
        renamed(new, name, now)
        report = compare([now], CompareOptions(previous=before, regression_metrics=("kld_mean", "ppl", "same_top_pct")))
        print(f"--previous ({label}): {len(report.regressions)} regression(s)")
        for regression in report.regressions:
            print(f"  {regression}")
    print(f"bench wall time {time.perf_counter() - started:.0f} s (2 shared cores; numbers, not times, are the result)")
    if not math.isfinite(value):
        raise SystemExit("non-finite KLD")


if __name__ == "__main__":
    main()
