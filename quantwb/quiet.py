"""Keeping the libraries underneath quiet, each setting scoped and restored: quantwb shows its own progress."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping

# What the libraries read to hide their own progress bars and advice (rich shows quantwb's progress).
QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}

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


@contextlib.contextmanager
def quiet_libraries(extra_env: Mapping[str, str] | None = None) -> Iterator[None]:
    """The libraries' progress bars, advice and import noise hidden for the block (plus `extra_env`), then restored."""
    with env_defaults({**QUIET_ENV, **(extra_env or {})}), quiet_imports():
        yield
