"""The `quantwb` command line: a thin shell over the library (parse, call one function, render)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
import sys
import traceback

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
        """Run the command with the libraries quiet (unless -v/--debug), restoring the process's settings after.

        Every failure ends in one line and its exit code; --debug prints the traceback above that line and keeps
        the code."""
        debug = bool(ctx.params.get("debug"))
        quiet = contextlib.nullcontext() if debug or ctx.params.get("verbose") else quiet_libraries()
        try:
            with quiet:
                return super().invoke(ctx)
        except QuantwbError as err:
            _fail(ctx, debug, str(err), err.exit_code)
        except OSError as err:  # one the library did not type: still one line, never a traceback
            where = f"{err.filename}: " if err.filename else ""
            _fail(ctx, debug, f"{where}{err.strerror or err}", 1)
        except KeyboardInterrupt:
            _fail(ctx, debug, INTERRUPTED, 130, prefix="")

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        """Click's own usage errors (a bad option value, a missing file) as one `error:` line and exit 2, like
        quantwb's; the usage hint follows only with -v or --debug."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as err:
            if isinstance(err, click.UsageError) and err.ctx is not None and _verbose(argv):
                click.echo(f"{err.ctx.get_usage()}\nTry '{err.ctx.command_path} --help' for help.", err=True)
            click.echo(f"error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:  # Ctrl-C before a command ran (while its modules import)
            click.echo(INTERRUPTED, err=True)
            code = 130
        _exit(code if isinstance(code, int) else 0)


INTERRUPTED = "interrupted: nothing incomplete was left under a final name"


def _exit(code: int) -> None:
    """sys.exit(code), keeping 130 after a Ctrl-C that quantwb caught.

    CPython (3.11 to 3.13) marks a KeyboardInterrupt raised inside exec() or eval() of a string as unhandled even when
    code above catches it, and under `python -m` the interpreter then ends itself by SIGINT (returncode -2) instead of
    exiting with the code given. dataclasses, namedtuple and pydantic build methods that way while modules import, so a
    Ctrl-C in a command's first second often lands there. Running exec() once more clears the mark."""
    if code == 130:
        exec("")  # noqa: S102 - clears the interpreter's unhandled-interrupt mark (see above)
    sys.exit(code)


def _verbose(argv: list[str]) -> bool:
    return any(word in ("-v", "--verbose", "--debug") for word in argv)


def _fail(ctx: click.Context, debug: bool, line: str, exit_code: int, prefix: str = "error: ") -> None:
    """One line on stderr and the exit code; with --debug the traceback first."""
    if debug:
        traceback.print_exc()
    click.echo(f"{prefix}{line}", err=True)
    ctx.exit(exit_code)


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
