"""Wall time of `quantwb sweep` on the tiny plan with the Ray executor against the local one, same 2 cores, one run.

The tiny plan: the tests' tiny Llama, fp + Q8_0 + Q4_K_M + RTN w4g64, PPL/KLD on 3 windows of 128 tokens, one
thread per chain. Local: `--jobs 2`. Ray: `--executor ray`, a local Ray instance of 2 CPUs that the command starts
and stops itself (its start-up counts). Every run is cold and alike: a fresh QUANTWB_HOME and results folder, so
each includes the F16 conversion, the base pass, every quantization and evaluation. Runs alternate local, Ray,
local, Ray...; the ratio is of the best run of each (the least disturbed by other load). Target: Ray ≤ 1.2× local.

    python bench/bench_sweep_ray.py [--model TINY_MODEL_DIR] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.2
CORES = 2
PLAN = """name: tiny-bench
models: ["{model}"]
threads: 1
variants: [fp, Q8_0, Q4_K_M, {{method: rtn, bits: 4, group_size: 64}}]
evaluations:
  text: {{name: wiki, ctx: 128, chunks: 3}}
"""


def tiny_model(given: Path | None) -> Path:
    """The model given, else the one the tests built in this checkout, else build it (minutes)."""
    if given:
        return given
    cached = Path(__file__).resolve().parents[1] / ".pytest_cache" / "d" / "quantwb-tiny-v2" / "model"
    if (cached / "config.json").is_file():
        return cached
    from tests.tiny_model import build_tiny_model

    out = Path(tempfile.mkdtemp(prefix="bench-tiny-")) / "model"
    build_tiny_model(out)
    return out


def timed_sweep(plan: Path, work: Path, extra: list[str]) -> float:
    env = {**os.environ, "QUANTWB_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1", "RAY_TMPDIR": str(work)}
    command = [sys.executable, "-m", "quantwb.cli", "sweep", str(plan), "--results", str(work / "results"), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, set(range(CORES))))
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="tiny model folder (default: the tests' cached one)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < CORES:
        sys.exit(f"needs {CORES} cores, this process may use {len(os.sched_getaffinity(0))}")
    root = Path(tempfile.mkdtemp(prefix="bsr-", dir="/tmp"))  # short: Ray's socket paths live under it
    plan = root / "plan.yaml"
    plan.write_text(PLAN.format(model=tiny_model(args.model)))
    modes = {"local": ["--jobs", "2"], "ray": ["--executor", "ray"]}
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    for repeat in range(args.repeats):
        for mode, extra in modes.items():
            runs[mode].append(timed_sweep(plan, root / f"{mode}-{repeat}", extra))
            print(f"{mode:<6} run {repeat + 1}: {runs[mode][-1]:6.1f} s", flush=True)
    best = {mode: min(times) for mode, times in runs.items()}
    print(f"\ntiny plan (4 variants, cold), {CORES} cores, load average at the end {os.getloadavg()[0]:.1f}")
    print(f"local --jobs 2:   best {best['local']:6.1f} s  runs {', '.join(f'{t:.1f}' for t in runs['local'])}")
    print(f"--executor ray:   best {best['ray']:6.1f} s  runs {', '.join(f'{t:.1f}' for t in runs['ray'])}")
    print(f"ray / local wall time: {best['ray'] / best['local']:.2f}x (target <= {TARGET}x); "
          f"per-pair ratios {', '.join(f'{r / lo:.2f}' for r, lo in zip(runs['ray'], runs['local'], strict=True))}")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
