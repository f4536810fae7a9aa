"""llama.cpp's and ggml's log callbacks, replaced for a block and then put back exactly as they were.

Both loggers are process-global C state. llama.cpp and ggml have getters (`llama_log_get`, `ggml_log_get`),
so a scope restores the callback it found (llama-cpp-python's default, or an enclosing scope's), not a guess.

A Python exception raised inside a ctypes callback is printed and dropped by ctypes, and Python runs its SIGINT
handler at the first bytecode it executes, which during a long C call is the log callback: Ctrl-C would raise
KeyboardInterrupt there and be lost. So a scope holds Ctrl-C (quantwb.interrupts) and raises it when it closes:
keep scopes around single calls. Calls that run long (quantizing a whole model) belong in a child process
(quantwb.workers.run_isolated), which the parent stops at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator

from quantwb.interrupts import interrupts_deferred

LogSink = Callable[[int, str], None]  # (ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continued; text)

# The C logger is one per process: scopes nest within a thread and take turns across threads, so each
# restores what it found and no callback is freed while C still holds it.
_LOCK = threading.RLock()


def discard(level: int, text: str) -> None:
    """A sink that drops every line."""


@contextlib.contextmanager
def llama_log_to(sink: LogSink, ggml: ctypes.CDLL | None = None) -> Iterator[None]:
    """Send llama.cpp's log lines to `sink` for the block, then put the previous callback back.

    `ggml`: a loaded libggml-base whose own logger to route instead (llama-cpp-python's wheel ships
    copies of that library, not links, and each copy keeps its own callback).
    """
    import llama_cpp

    get, put = ((ggml.ggml_log_get, ggml.ggml_log_set) if ggml is not None
                else (llama_cpp.llama_log_get, llama_cpp.llama_log_set))
    # A local of this generator: C holds a pointer to it, so it must stay alive while installed.
    callback = llama_cpp.llama_log_callback(lambda level, text, _: sink(level, (text or b"").decode("utf-8", "replace")))
    previous, previous_data = llama_cpp.llama_log_callback(), ctypes.c_void_p()
    with interrupts_deferred(), _LOCK:
        get(ctypes.byref(previous), ctypes.byref(previous_data))
        put(callback, None)
        try:
            yield
        finally:
            put(previous, previous_data)
