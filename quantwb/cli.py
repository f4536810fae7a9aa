"""The `quantwb` command line: a thin shell over the library (parse, call one function, render)."""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys

import click

from quantwb import __version__
from quantwb.errors import QuantwbError


def _discover() -> dict[str, click.Command]:
    """Every module in quantwb/commands lists its commands in `COMMANDS`; modules import only click
    and rich at top level, so a heavy backend (torch, llama.cpp, lm-eval) loads only when its command runs."""
    import quantwb.commands as package

    found: dict[str, click.Command] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            found[command.name] = command
    return found



class LazyGroup(click.Group):
    """A Click group that finds its commands in quantwb/commands and prints errors as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_discover())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return _discover().get(name)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except QuantwbError as err:
            if debug:
                raise
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("interrupted: nothing incomplete was left under a final name", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quantwb")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Show progress logs.")
def main(debug: bool, verbose: bool) -> None:
    """Make AWQ, GPTQ and GGUF variants of a causal LM and measure what each precision costs and loses."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    if not (debug or verbose):
        # The libraries underneath print their own progress bars and advice; quantwb shows its own progress.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


if __name__ == "__main__":
    main()
