"""Running the `quantwb` command in tests: as a user does (a separate process) or in this process (Click's CliRunner).

Use `quantwb` where the separate process is the point: its real exit code, stdout and stderr apart as a user
sees them (C libraries write to the real stderr, which CliRunner cannot capture), crash safety, import side
effects. Everywhere else `invoke` is faster: no fresh interpreter re-importing torch for every call.
"""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner, Result

from quantwb.cli import main


def quantwb(*args: str) -> subprocess.CompletedProcess:
    """`python -m quantwb.cli ARGS` in a separate process; text stdout and stderr captured apart."""
    return subprocess.run([sys.executable, "-m", "quantwb.cli", *args], capture_output=True, text=True)


def invoke(*args: str) -> Result:
    """`quantwb ARGS` in this process through Click's CliRunner (stdout and stderr apart, as `Result.stdout/.stderr`)."""
    return CliRunner().invoke(main, list(args))


def one_error_line(result: subprocess.CompletedProcess | Result) -> str:
    """The only non-blank line on stderr, which must start with `error: ` (a traceback or a library's noise fails)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
