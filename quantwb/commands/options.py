"""Click options shared by several commands; their defaults are the library's (quantwb.defaults)."""

from __future__ import annotations

from collections.abc import Callable

import click

from quantwb import defaults
from quantwb.devices import DEVICE_CHOICES, check_device
from quantwb.errors import InputError


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


DEVICE_META = "quantwb.device"


def device_option(what: str, default: str | None = defaults.DEVICE, **click_options) -> Callable[[Callable], Callable]:
    """--device auto|cpu|cuda[:N]; `what` says what runs there. The spelling is checked here, the device itself
    (does torch see it?) where it is used."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        try:
            device = None if value is None else check_device(value)
        except InputError as err:
            raise click.BadParameter(str(err)) from err
        ctx.meta[DEVICE_META] = device  # for commands that take it with expose_value=False
        return device

    click_options.setdefault("show_default", default is not None)
    return click.option("--device", default=default, metavar=DEVICE_CHOICES, callback=parse, **click_options,
                        help=f"Where {what} runs: auto (an accelerator when torch sees one, else the CPU), cpu, cuda or cuda:N.")
