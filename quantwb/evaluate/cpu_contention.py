"""CPU time that other processes took while a measurement ran: a speed figure is only as good as the cores it had.

Linux only (/proc/stat); elsewhere the figure is None. The machine's busy time over the interval, less this process's
own CPU time (every thread of it: llama.cpp's and torch's workers included), divided by the wall time: the mean
number of cores other processes kept busy. /proc/stat counts in clock ticks (10 ms), so over a run of a few seconds
the figure is good to about 0.01 cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot: user, nice, system, irq, softirq and steal (not idle or iowait)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def other_cores_busy(run: Callable[[], T]) -> tuple[T, float | None]:
    """`run()`'s result and the mean number of cores other processes kept busy while it ran (None: not measurable)."""
    busy, own, started = _machine_busy_seconds(), _own_cpu_seconds(), time.monotonic()
    result = run()
    wall, busy_after = time.monotonic() - started, _machine_busy_seconds()
    if busy is None or busy_after is None or wall <= 0:
        return result, None
    others = (busy_after - busy) - (_own_cpu_seconds() - own)
    return result, round(max(0.0, others / wall), 2)
