"""Wall time and peak RSS of the whole default sweep (`quantwb sweep`) on 2 cores, cold and then warm.

Cold: a fresh QUANTWB_HOME and results folder, so the run includes materializing smollm2-135m, every
quantization, the base pass and every evaluation. Warm: the same command again, which must only
rewrite the report. Peak RSS is sampled over the whole process tree (the sweep spawns evaluation
processes) and also read from the kernel for the largest single process.

    python bench/bench_sweep.py [--plan PLAN.yaml] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

TARGET_S = 20 * 60
CORES = 2


def tree_rss_bytes(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def run_sweep(command: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak summed RSS of the process tree, exit code)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, preexec_fn=lambda: os.sched_setaffinity(0, set(range(CORES))))
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    return time.perf_counter() - started, peak, code


def step_times(results: Path) -> list[tuple[str, float]]:
    return sorted(((m["step"], m["wall_s"]) for m in (json.loads(p.read_text()) for p in results.glob("steps/*/*.json"))),
                  key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", help="plan file (default: the built-in default plan)")
    parser.add_argument("--keep", type=Path, help="keep the results and QUANTWB_HOME in this folder")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < CORES:
        sys.exit(f"needs {CORES} cores, this process may use {len(os.sched_getaffinity(0))}")

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    results = work / "results"
    env = {**os.environ, "QUANTWB_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "quantwb.cli", "sweep", *([args.plan] if args.plan else []), "--results", str(results)]

    cold_s, cold_peak, cold_code = run_sweep(command, env)
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux reports KiB
    warm_s, warm_peak, warm_code = run_sweep(command, env)

    print(f"\nquantwb sweep ({args.plan or 'default plan'}) on {CORES} cores, results in {results}")
    print(f"{'run':<6} {'wall':>10} {'peak RSS (tree)':>16} {'exit':>5}")
    print(f"{'cold':<6} {cold_s / 60:>8.1f} m {cold_peak / 2**30:>13.2f} GiB {cold_code:>5}")
    print(f"{'warm':<6} {warm_s:>8.1f} s {warm_peak / 2**30:>13.2f} GiB {warm_code:>5}")
    print(f"largest single process: {largest / 2**30:.2f} GiB")
    print(f"cold / target ({TARGET_S // 60} min): {cold_s / TARGET_S:.2f}   warm / cold: {warm_s / cold_s:.3f}")
    print("\nslowest steps (cold run):")
    for label, wall_s in step_times(results)[:12]:
        print(f"  {wall_s:>7.1f} s  {label}")


if __name__ == "__main__":
    main()
