"""Run one measurement in a fresh child process, so its peak RSS is its own and not the parent's."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from quantwb.errors import EvaluationError
from quantwb.resources_usage import peak_rss_bytes
from quantwb.workers import stop_workers, worker_init

T = TypeVar("T")
A = TypeVar("A")


def run_isolated(function: Callable[[A], T], argument: A, what: str) -> T:
    """`function(argument)` in a spawned process (imports nothing of the parent's heap); errors come back typed."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1, initializer=worker_init,
                             initargs=(os.getpid(),)) as pool:
        try:
            return pool.submit(function, argument).result()
        except BrokenProcessPool as err:
            raise EvaluationError(f"{what}: the evaluation process died (out of memory or a crash in a native library)") from err
        except BaseException:
            stop_workers(pool)  # Ctrl-C: the child must not run on to the end of its measurement
            raise


def process_peak_rss_bytes() -> int:
    """Peak RSS of this process's own address space, in bytes.

    Linux carries ru_maxrss across fork+exec, so a spawned child would report its parent's peak;
    VmHWM in /proc/self/status belongs to the current address space only. Elsewhere: ru_maxrss.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()
