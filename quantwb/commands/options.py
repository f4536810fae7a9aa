"""Click options shared by several commands; their defaults are the library's (quantwb.defaults)."""

from __future__ import annotations

from collections.abc import Callable

import click

from quantwb import defaults


def calibration_options(what: str) -> Callable[[Callable], Callable]:
    """--calibration, --samples, --seq-len and --seed; `what` opens the --calibration help text."""

    def decorate(command: Callable) -> Callable:
        for option in reversed((
            click.option("--calibration", default=defaults.CALIBRATION_TEXT, show_default=True, metavar="NAME|FILE",
                         help=f"{what}: wiki, c4 (shipped excerpts), wikitext2/c4-hub/pile-10k (hub), or a .txt/.jsonl file."),
            click.option("--samples", default=defaults.CALIBRATION_SAMPLES, show_default=True, help="Calibration windows."),
            click.option("--seq-len", default=defaults.CALIBRATION_SEQ_LEN, show_default=True, help="Tokens per calibration window."),
            click.option("--seed", default=defaults.CALIBRATION_SEED, show_default=True, help="Seed that picks the windows."),
        )):
            command = option(command)
        return command

    return decorate


def model_argument(command: Callable) -> Callable:
    """An optional MODEL argument; without it the command uses defaults.MODEL (see `default_model`)."""
    return click.argument("model", required=False)(command)


def default_model(model: str | None) -> str:
    """MODEL as given, else the embedded default, said in one line on stderr."""
    if model:
        return model
    click.echo(f"no MODEL given: using {defaults.MODEL}", err=True)
    return defaults.MODEL
