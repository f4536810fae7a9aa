"""The peak RSS of a measurement's own process (a child's, not carried over from its parent)."""

from __future__ import annotations

from quantwb.resources_usage import peak_rss_bytes


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
