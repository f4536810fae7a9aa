"""Click options shared by several commands; their defaults are the library's (quantwb.defaults)."""

from __future__ import annotations

import functools
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


class ByteSize(click.ParamType):
    """A size with an optional unit: 100MiB, 95MB, 1.5GiB, 123456 (bytes)."""

    name = "SIZE"
    _UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
              "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().replace(" ", "")
        number = text.rstrip("KMGTIB")
        unit = text[len(number):]
        try:
            size = float(number) * self._UNITS[unit]
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size (e.g. 100MiB, 95MB, 1.5GiB, 123456)", param, ctx)
        if size <= 0:
            self.fail(f"{value!r}: a size must be positive", param, ctx)
        return int(size)


def budget_options(command: Callable) -> Callable:
    """--max-size, --max-ram, --ctx, --kv-type and --min-gen-tps: the budgets `recommend` (and `compare`) apply,
    handed to the command as one `budgets` argument (reports.recommend.Budgets), built here once."""

    @functools.wraps(command)
    def with_budgets(*args, max_size: int | None, max_ram: int | None, budget_ctx: int | None, kv_type: str,
                     min_gen_tps: float | None, **kwargs):
        from quantwb.reports.recommend import Budgets

        return command(*args, budgets=Budgets(max_size, max_ram, min_gen_tps, budget_ctx, kv_type.lower()), **kwargs)

    for option in reversed((
        click.option("--max-size", type=ByteSize(), default=None, help="Largest weight files allowed (100MiB, 1.5GB, bytes)."),
        click.option("--max-ram", type=ByteSize(), default=None,
                     help="Largest RAM to run allowed: the peak RSS the variant's runtime (llama.cpp, transformers) "
                          "measured at the evaluation's context; see --ctx."),
        click.option("--ctx", "budget_ctx", type=click.IntRange(min=1), default=None,
                     help="Predict --max-ram's RAM at this many tokens of context: the runtime's measured RSS with "
                          "its KV cache moved from the evaluation's context to this one (shape from the record)."),
        click.option("--kv-type", default="f16", show_default=True,
                     help="A GGUF runtime's KV cache type at --ctx (f16, q8_0, q4_0, f32); HF caches keep the "
                          "model's dtype."),
        click.option("--min-gen-tps", type=float, default=None, help="Slowest generation allowed, tokens/s."),
    )):
        with_budgets = option(with_budgets)
    return with_budgets


def model_argument(command: Callable) -> Callable:
    """An optional MODEL argument; without it the command uses defaults.MODEL (see `default_model`)."""
    return click.argument("model", required=False)(command)


def default_model(model: str | None) -> str:
    """MODEL as given, else the embedded default, said in one line on stderr."""
    if model:
        return model
    click.echo(f"no MODEL given: using {defaults.MODEL}", err=True)
    return defaults.MODEL
