"""The worker processes quantwb starts (measurements, parallel sweep chains): they die with their parent, leave
Ctrl-C to it, are as quiet as it is, and are stopped at once when it gives up on them."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TypeVar

from quantwb.errors import EvaluationError
from quantwb.interrupts import interrupts_blocked_for_children
from quantwb.quiet import quiet_worker

T = TypeVar("T")
A = TypeVar("A")

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
    # The terminal sends Ctrl-C to the whole process group: the parent alone decides, and stops its workers. The
    # parent started us with SIGINT blocked (interrupts_blocked_for_children): ignored now, a pending one is dropped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
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


def run_isolated(function: Callable[[A], T], argument: A, what: str,
                 on_abort: Callable[[str], Exception] | None = None) -> T:
    """`function(argument)` in a spawned process (imports nothing of the parent's heap); errors come back typed.

    A plain process and a pipe, no pool: a pool's manager thread, replacing or stopping its worker while Ctrl-C
    unwinds the parent, printed thread tracebacks below quantwb's last line. On Ctrl-C (or any error here) the
    child is stopped at once and reaped.

    `on_abort`: the child's stderr goes to a file, and if the child dies (a native library's abort), the error
    raised is `on_abort(its last message)`."""
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as scope:
        stderr = scope.enter_context(tempfile.NamedTemporaryFile(prefix="quantwb-child-", suffix=".log")) if on_abort else None
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child_main, args=(send, function, argument, os.getpid(),
                                                          stderr.name if stderr else None))
        try:
            with interrupts_blocked_for_children():
                child.start()
            send.close()  # the child holds the only writing end: its death reads as end of file
            wait([receive, child.sentinel])
            try:
                ok, value = receive.recv()
            except EOFError:  # it died without an answer
                child.join()
                if on_abort is not None and stderr is not None:
                    raise on_abort(last_native_message(Path(stderr.name).read_text(errors="replace"))) from None
                raise EvaluationError(f"{what}: the worker process died (out of memory or a crash in a native library)") from None
            child.join()
        finally:
            receive.close()
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
        if not ok:
            raise value
        return value
    raise AssertionError("unreachable")  # for type checkers: the block returns or raises


def _child_main(send, function: Callable[[A], T], argument: A, parent_pid: int, stderr_path: str | None) -> None:
    """The spawned side of run_isolated: set up as every worker, run, send (True, result) or (False, exception)."""
    worker_init(parent_pid, stderr_path)
    try:
        answer = (True, function(argument))
    except Exception as err:  # typed errors travel back as themselves
        answer = (False, err)
    try:
        send.send(answer)
    except Exception as err:  # an exception or result that does not pickle: its text does
        send.send((False, EvaluationError(f"{type(err).__name__}: {err}")))
    send.close()


def last_native_message(text: str) -> str:
    """The line a native library died with (GGML_ASSERT, an error), its source path cut to the file name."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    telling = [line for line in lines if any(word in line for word in ("GGML_ASSERT", "error", "failed", "what()"))]
    if not (telling or lines):
        return "no message"
    line = (telling or lines)[-1]
    head, sep, rest = line.partition(": ")
    return f"{Path(head).name}{sep}{rest}" if sep and "/" in head else line
