"""`quantwb models` and `quantwb resolve`."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from quantwb import models as model_lib
from quantwb.reports.numbers import human_bytes


@click.command()
def models() -> None:
    """List built-in model aliases and the models cached under QUANTWB_HOME."""
    cached = {name: (path, size) for name, path, size in model_lib.cached_models()}
    table = Table(title="quantwb models")
    for column in ("alias", "cached", "size", "origin"):
        table.add_column(column)
    for alias, builtin in sorted(model_lib.BUILTINS.items()):
        path, size = cached.get(alias, (None, None))
        table.add_row(alias, str(path) if path else "no (made on first use)", human_bytes(size) if size else "-", builtin.origin)
    for name, (path, size) in cached.items():
        if name not in model_lib.BUILTINS:
            table.add_row(name, str(path), human_bytes(size), "")
    Console().print(table)


@click.command("resolve")
@click.argument("model")
def resolve_cmd(model: str) -> None:
    """Resolve MODEL (folder, alias or hub id) to a local HF folder and print its path and content hash."""
    source = model_lib.resolve(model)
    click.echo(f"{source.path}\t{source.architecture}\tsha256:{source.sha256}")
COMMANDS = [models, resolve_cmd]
