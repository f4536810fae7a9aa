"""The worker plumbing's promises that no sweep shows reliably: what the resource tracker says after we exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# A semaphore left registered is what a worker stopped at once leaves: the tracker removes it after we exit
# and warns about it on the stderr it was started with.
_LEAK = """
import sys
from multiprocessing import resource_tracker
from quantwb.workers import quiet_resource_tracker
if sys.argv[1] == "quiet":
    quiet_resource_tracker()
resource_tracker.register("/quantwb-test-leak", "semaphore")
print("done", file=sys.stderr)
"""


@pytest.mark.parametrize("quiet", ["1", "0"])
def test_the_trackers_cleanup_words_are_library_output(quiet: str) -> None:
    env = {**os.environ, "QUANTWB_QUIET": quiet}
    err = subprocess.run([sys.executable, "-c", _LEAK, "quiet"], env=env, capture_output=True, text=True, timeout=60).stderr
    lines = [line for line in err.splitlines() if line.strip()]
    if quiet == "1":
        assert lines == ["done"], err  # quantwb's own last line stays the last line
    else:
        assert "leaked semaphore" in err, err  # -v: the tracker speaks, as every library does then


# A measurement the child ends with an error: the child exits (one task per child) while the parent handles the
# error. Stopping the pool then raced its manager thread into a TypeError traceback on stderr, 6 times in 20 here.
_CHILD_ERRORS = """
import threading
from pathlib import Path
from quantwb.workers import run_isolated
from quantwb.fileio import sha256_file

seen = []
threading.excepthook = lambda args: seen.append(repr(args.exc_value))
if __name__ == "__main__":
    for _ in range(20):
        try:
            run_isolated(sha256_file, Path("/nonexistent-model-file"), "test")
        except FileNotFoundError:
            pass
    print(len(seen), seen[:1])
"""


def test_an_error_in_the_measuring_child_leaves_no_traceback_behind() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD_ERRORS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "0", out.stdout
