"""Ctrl-C held for a short block and raised when it ends: around C calls that call back into Python (where a raised
KeyboardInterrupt would be lost), and around the few steps that make an output complete (a file renamed into place
and its manifest), so an interruption never leaves one without the other."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_MARK = "_quantwb_holds_interrupts"


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """SIGINT during the block is held, not raised inside it, and raised as KeyboardInterrupt when the block ends;
    SIGINT's handler is restored after. A no-op outside the main thread, where SIGINT is ignored (quantwb's worker
    processes leave Ctrl-C to their parent), and inside an enclosing block that already holds it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None) or getattr(previous, _MARK, False):
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame) -> None:
        pending.append(signum)

    setattr(hold, _MARK, True)
    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_blocked_for_children() -> Iterator[None]:
    """SIGINT blocked in this thread while it starts worker processes: a child inherits the mask and keeps SIGINT
    blocked until its initializer ignores it (quantwb.workers.worker_init), so a Ctrl-C that reaches the whole
    process group while the child's interpreter starts cannot kill it mid-import with a traceback. A Ctrl-C that
    arrives meanwhile reaches this process when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
