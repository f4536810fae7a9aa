"""Peak resident memory, as the kernel counts it."""

from __future__ import annotations

import resource
import sys


def peak_rss_bytes(children: bool = False) -> int:
    """Peak RSS of this process (or of its waited-for children), in bytes."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    peak = resource.getrusage(who).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB
