"""The published example report (reports/default/report.json) was made by the current measuring code: a change to
the code that makes or measures variants (sweep/steps.py MEASURING_CODE) makes this fail until `make report` is run,
so the committed numbers cannot go stale silently. Library versions are not compared (CI may install others)."""

from __future__ import annotations

import json
from pathlib import Path

from quantwb.sweep.steps import code_version

REPORT = Path(__file__).resolve().parents[1] / "reports" / "default" / "report.json"


def _measuring_code(version: str) -> str:
    """`<quantwb version>+<hash of the measuring code>` of a code version (the part before the libraries)."""
    return version.split("|", 1)[0]


def test_published_report_was_made_by_the_current_measuring_code() -> None:
    made_by = json.loads(REPORT.read_text()).get("code_version")
    current = _measuring_code(code_version())
    assert made_by, f"{REPORT} names no code version: regenerate it with `make report`"
    assert _measuring_code(made_by) == current, (
        f"{REPORT} was measured by code {_measuring_code(made_by)}, the code is now {current}: run `make report`"
    )
