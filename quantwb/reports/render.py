"""Report formats by name and file suffix, and the atomic write of a rendered report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from quantwb.errors import InputError
from quantwb.fileio import atomic_path
from quantwb.reports.compare import Report
from quantwb.reports.html import render_html
from quantwb.reports.machine import render_csv, render_json
from quantwb.reports.markdown import render_markdown


def _markdown(report: Report) -> str:
    return render_markdown(report)


def _html(report: Report) -> str:
    return render_html(report)


def _json(report: Report) -> str:
    return render_json(report)


def _csv(report: Report) -> str:
    return render_csv(report)


# format name -> (file suffixes that imply it, renderer)
FORMATS: dict[str, tuple[tuple[str, ...], Callable[[Report], str]]] = {
    "md": ((".md", ".markdown"), _markdown),
    "html": ((".html", ".htm"), _html),
    "json": ((".json",), _json),
    "csv": ((".csv",), _csv),
}


def format_for(out: Path | None, fmt: str | None) -> str | None:
    """The explicit format, else the one the output suffix names, else None (terminal table)."""
    if fmt is not None:
        return fmt
    if out is None:
        return None
    for name, (suffixes, _) in FORMATS.items():
        if out.suffix.lower() in suffixes:
            return name
    raise InputError(f"--out {out}: cannot tell the format from the suffix; pass --format {'|'.join(FORMATS)}")


def render(report: Report, fmt: str) -> str:
    return FORMATS[fmt][1](report)


def write_report(report: Report, fmt: str, out: Path) -> Path:
    """Render and write atomically (a half-written report never carries the final name)."""
    text = render(report, fmt)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
