"""The `quantwb` command line: a thin shell over the library (parse, call one function, render)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
import sys

import click

import quantwb.commands
from quantwb import __version__
from quantwb.errors import QuantwbError
from quantwb.quiet import quiet_libraries


def _discover() -> dict[str, click.Command]:
    """Every module in quantwb/commands lists its commands in `COMMANDS`; modules import only click
    and rich at top level, so a heavy backend (torch, llama.cpp, lm-eval) loads only when its command runs."""
    found: dict[str, click.Command] = {}
    for info in pkgutil.iter_modules(quantwb.commands.__path__):
        module = importlib.import_module(f"quantwb.commands.{info.name}")
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
        """Run the command with the libraries quiet (unless -v/--debug), restoring the process's settings after."""
        debug = bool(ctx.params.get("debug"))
        quiet = contextlib.nullcontext() if debug or ctx.params.get("verbose") else quiet_libraries()
        try:
            with quiet:
                return super().invoke(ctx)
        except QuantwbError as err:
            if debug:
                raise
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)
        except OSError as err:  # one the library did not type: still one line, never a traceback
            if debug:
                raise
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"error: {where}{err.strerror or err}", err=True)
            ctx.exit(1)
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
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


if __name__ == "__main__":
    main()
