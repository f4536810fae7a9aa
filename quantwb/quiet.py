"""Keeping the libraries underneath quiet, each setting scoped and restored: quantwb shows its own progress."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

# What the libraries read to hide their own progress bars and advice (rich shows quantwb's progress).
QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "QUANTWB_QUIET": "1"}  # the last tells quantwb's own worker processes to be as quiet (quiet_worker)

# Libraries that log import-time noise at WARNING (missing optional CUDA .so files, deprecations);
# the CLI shows WARNING, so they are quietened while our backends import.
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree")


@contextlib.contextmanager
def env_defaults(values: Mapping[str, str]) -> Iterator[None]:
    """Set each variable the user has not set for the block; afterwards every one is as it was (or unset again)."""
    previous = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """Raise the level of known-noisy import loggers for the duration of a heavy import, then restore it."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# Modules that only carry text on its way to a stream: a write is judged by the first frame above them.
_CARRIERS = ("rich", "click", "io", "_io", "codecs", "encodings", "contextlib", "logging", "quantwb.quiet")
_library_log = logging.getLogger("quantwb.libraries")


def _written_by_quantwb() -> bool:
    """True when the code behind the current write is quantwb's (its own output, logs and progress), not a library's.

    Libraries write to sys.stdout/stderr in ways no setting reaches: tqdm bars with an explicit `disable=False`,
    loguru sinks bound to sys.stdout at import (llm-compressor), `warnings.warn` from inside transformers."""
    frame = sys._getframe(2)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith("quantwb.") or module in ("quantwb", "__main__", "__mp_main__"):
            return True
        if module.split(".")[0] not in _CARRIERS and module != "quantwb.quiet":
            return False
        frame = frame.f_back
    return True


class LibraryFilter(io.TextIOBase):
    """A stand-in for sys.stdout/stderr: quantwb's writes pass, a library's go to the `quantwb.libraries` log (-v).

    A library may keep a reference after the scope ends (a loguru sink): `close_scope` makes it pass everything."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream, self.name, self.filtering = stream, name, True

    def write(self, text: str) -> int:
        if self.filtering and not _written_by_quantwb():
            if text.strip():
                _library_log.debug("%s: %s", self.name, text.rstrip())
            return len(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def close_scope(self) -> None:
        self.filtering = False

    def __getattr__(self, name: str):  # fileno, isatty, encoding, buffer...: the real stream's
        return getattr(self.stream, name)

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")


@contextlib.contextmanager
def library_output_to_log() -> Iterator[None]:
    """Python-level writes of libraries to stdout/stderr go to the log for the block; quantwb's own pass."""
    previous = sys.stdout, sys.stderr
    filters = LibraryFilter(sys.stdout, "stdout"), LibraryFilter(sys.stderr, "stderr")
    sys.stdout, sys.stderr = filters
    try:
        yield
    finally:
        for stream in filters:
            stream.close_scope()
        sys.stdout, sys.stderr = previous


@contextlib.contextmanager
def quiet_libraries(extra_env: Mapping[str, str] | None = None) -> Iterator[None]:
    """The libraries' progress bars, advice, warnings and import noise hidden for the block (plus `extra_env`),
    then restored."""
    with env_defaults({**QUIET_ENV, **(extra_env or {})}), quiet_imports(), library_output_to_log():
        yield


def quiet_worker() -> None:
    """In a worker process quantwb started (a pool initializer): as quiet as its parent was, for the worker's life."""
    if os.environ.get("QUANTWB_QUIET") == "1":
        library_output_to_log().__enter__()  # the worker exits when its task is done: nothing to restore


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """When quiet: what native code and subprocesses write to file descriptor 2 (lm-eval's `git describe`, C
    libraries' prints) goes to the log for the block, while Python's sys.stderr (quantwb's own progress) keeps
    the terminal through a copy of the descriptor. Both are put back after."""
    if os.environ.get("QUANTWB_QUIET") != "1":
        yield
        return
    import tempfile

    previous = sys.stderr
    previous.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        terminal = None
        try:
            if _writes_to_fd2(previous) or _writes_to_fd2(getattr(previous, "stream", None)):
                terminal = open(os.dup(saved), "w", buffering=1, encoding=getattr(previous, "encoding", None) or "utf-8",
                                errors="replace")
                sys.stderr = LibraryFilter(terminal, "stderr")
            yield
        finally:
            sys.stderr = previous
            if terminal is not None:
                terminal.close()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace").strip()
            if text:
                _library_log.debug("native stderr: %s", text)
