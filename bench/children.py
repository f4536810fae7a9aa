"""Timing a bench's child process: wall seconds and peak RSS (wait4's, the child and the children it waited for)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path


class ChildFailed(RuntimeError):
    """A child exited non-zero; the message ends with the tail of its stderr."""


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one child process (in `env`, else this one's); raises ChildFailed if it fails."""
    # stderr to a file, not a pipe: progress bars overflow a pipe nobody reads until the child exits (deadlock).
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise ChildFailed(f"child failed: {' '.join(argv[:5])}...\n{log.read().decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss * 1024  # Linux: KiB


def gguf_variants(folder: Path) -> list[Path]:
    """The GGUF variants `quantwb gguf|autoround --out folder` wrote, found on disk: quantwb prints a table, which
    wraps long paths in a pipe, so its output is no list of paths."""
    return sorted(f for f in folder.glob("*.gguf") if not f.name.endswith(".imatrix.gguf"))
