"""The report as rich tables for the terminal; columns that do not fit the width go into a second table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from rich.console import Console
from rich.table import Table

from quantwb.reports.compare import Report
from quantwb.reports.table import Column, columns, preamble

_CELL_PADDING = 3  # one space each side plus the border rich draws
PIPE_WIDTH = 160  # characters a table may use when stdout is no terminal

Row = TypeVar("Row")


def wide_console() -> Console:
    """The terminal's console; pipes and logs get PIPE_WIDTH columns so numbers are not wrapped."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPE_WIDTH)


def rich_table(title: str, cols: Sequence[Column[Row]], rows: Iterable[Row], no_wrap: bool = True,
               style: Callable[[Row], str | None] = lambda row: None) -> Table:
    """`rows` as a rich table: one column per Column, numbers right-aligned."""
    table = Table(title=title)
    for col in cols:
        table.add_column(col.header, justify="right" if col.numeric else "left", no_wrap=no_wrap)
    for row in rows:
        table.add_row(*(col.cell(row) for col in cols), style=style(row))
    return table


def _width(col: Column, report: Report) -> int:
    return max(len(col.header), *(len(col.cell(row)) for row in report.rows)) + _CELL_PADDING


def _column_groups(cols: list[Column], report: Report, width: int) -> list[list[Column]]:
    """Greedy packing of columns into tables no wider than `width`, each led by the variant column."""
    lead, rest = cols[0], cols[1:]
    groups: list[list[Column]] = [[lead]]
    used = _width(lead, report)
    for col in rest:
        needed = _width(col, report)
        if used + needed > width and len(groups[-1]) > 1:
            groups.append([lead])
            used = _width(lead, report)
        groups[-1].append(col)
        used += needed
    return groups


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    for line in preamble(report):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    groups = _column_groups(columns(report), report, console.width)
    for number, group in enumerate(groups, 1):
        title = "quantwb report" + (f" ({number}/{len(groups)})" if len(groups) > 1 else "")
        console.print(rich_table(title, group, report.rows, style=lambda row: "bold" if row.pareto else None))
    for breach in report.breaches:
        console.print(f"breach: {breach}", style="red", markup=False, highlight=False)
    for regression in report.regressions:
        console.print(f"regression: {regression}", style="red", markup=False, highlight=False)
