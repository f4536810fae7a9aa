"""The worker processes quantwb starts (measurements, parallel sweep chains): they die with their parent, leave
Ctrl-C to it, are as quiet as it is, and are stopped at once when it gives up on them."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import Executor

from quantwb.quiet import quiet_worker

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_init(parent_pid: int, stderr_path: str | None = None) -> None:
    """Pool initializer: die with the parent (even a SIGKILLed one), ignore Ctrl-C (the parent stops us), be quiet.

    `stderr_path`: send this worker's stderr (file descriptor 2, so native libraries' too) to that file, which
    the parent reads when the worker dies: the last words of a native abort."""
    if stderr_path is not None:
        target = os.open(stderr_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(target, 2)
        os.close(target)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before the line above: nothing would ever stop us
            os._exit(1)
    # The terminal sends Ctrl-C to the whole process group: the parent alone decides, and stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_worker()


def quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, its stderr the log's (hidden) when quantwb is quiet.

    Workers stopped at once (Ctrl-C) leave the semaphores of their own pools behind; the tracker, which outlives
    quantwb by a moment, removes them and says so on stderr, below quantwb's last line. Removing is its job;
    the saying is library output. Already running (started by an earlier pool), it keeps the stderr it had."""
    if os.environ.get("QUANTWB_QUIET") != "1":
        return
    from multiprocessing import resource_tracker

    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def stop_workers(pool: Executor) -> None:
    """Cancel what is queued and end the running workers now (on Ctrl-C or an error): nothing waits for them."""
    pool.shutdown(wait=False, cancel_futures=True)
    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(timeout=5)
