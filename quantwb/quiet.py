"""Keeping the libraries underneath quiet, each setting scoped and restored: quantwb shows its own progress."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

# Libraries that log import-time noise at WARNING (missing optional CUDA .so files, deprecations);
# the CLI shows WARNING, so they are quietened while our backends import.
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree")


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
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
