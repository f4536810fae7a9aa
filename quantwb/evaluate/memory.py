"""Run one measurement in a fresh child process, so its peak RSS is its own and not the parent's."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from quantwb.errors import EvaluationError
from quantwb.resources_usage import peak_rss_bytes
from quantwb.workers import stop_workers, worker_init

T = TypeVar("T")
A = TypeVar("A")


def run_isolated(function: Callable[[A], T], argument: A, what: str,
                 on_abort: Callable[[str], Exception] | None = None) -> T:
    """`function(argument)` in a spawned process (imports nothing of the parent's heap); errors come back typed.

    `on_abort`: the child's stderr goes to a file, and if the child dies (a native library's abort), the error
    raised is `on_abort(its last message)`."""
    context = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as scope:
        stderr = scope.enter_context(tempfile.NamedTemporaryFile(prefix="quantwb-child-", suffix=".log")) if on_abort else None
        initargs = (os.getpid(), stderr.name if stderr else None)
        pool = scope.enter_context(ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1,
                                                       initializer=worker_init, initargs=initargs))
        future = pool.submit(function, argument)
        try:
            return future.result()
        except BrokenProcessPool as err:
            if on_abort is not None and stderr is not None:
                raise on_abort(last_native_message(Path(stderr.name).read_text(errors="replace"))) from err
            raise EvaluationError(f"{what}: the evaluation process died (out of memory or a crash in a native library)") from err
        except BaseException:
            # Ctrl-C: the child must not run on to the end of its measurement. An error the child raised (future
            # done) needs no stopping, and must not get it: the child is exiting, and the pool's manager thread
            # replacing it races a shutdown(wait=False) into a TypeError traceback on stderr (CPython 3.11).
            if not future.done():
                stop_workers(pool)
            raise
    raise AssertionError("unreachable")  # for type checkers: the block returns or raises


def last_native_message(text: str) -> str:
    """The line a native library died with (GGML_ASSERT, an error), its source path cut to the file name."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    telling = [line for line in lines if any(word in line for word in ("GGML_ASSERT", "error", "failed", "what()"))]
    if not (telling or lines):
        return "no message"
    line = (telling or lines)[-1]
    head, sep, rest = line.partition(": ")
    return f"{Path(head).name}{sep}{rest}" if sep and "/" in head else line


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
