"""`quantwb awq`, `quantwb gptq`, `quantwb rtn`: HF-folder variants that transformers and vLLM load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from quantwb import defaults
from quantwb.calibration import CalibrationSpec
from quantwb.commands.options import DEVICE_META, calibration_options, default_model, device_option, model_argument
from quantwb.devices import resolve_device
from quantwb.models import resolve
from quantwb.quantize import methods
from quantwb.quantize.base import ALLOW_REMOTE_CODE, QuantSpec
from quantwb.quantize.gptq import GPTQOptions
from quantwb.quantize.hf_methods import HF_METHODS


def _model_and_output(command: Callable) -> Callable:
    """MODEL, --out, --device and --allow-remote-code-files (the last two kept in the click context, so every
    method's command takes them alike)."""
    command = click.option("--allow-remote-code-files", is_flag=True, expose_value=False,
                           callback=lambda ctx, param, value: ctx.meta.__setitem__(ALLOW_REMOTE_CODE, value),
                           help="Make a variant of a model that ships its own code (*.py, auto_map in config.json): "
                                "transformers copies that code into the variant; the manifest lists it.")(command)
    command = device_option("calibration", expose_value=False)(command)
    command = click.option(
        "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path(defaults.OUT_DIR), show_default=True,
        help="Folder in which the variant folder (named like smollm2-135m-gptq-w4g128) is written.",
    )(command)
    return model_argument(command)


def _run(method: str, model: str | None, out_dir: Path, calibration: CalibrationSpec | None, **fields) -> None:
    """Resolve MODEL (default: the embedded one), run the registered quantizer, print where the variant went and
    what it weighs."""

    options = tuple(sorted(_allowances(fields.pop("options")).items()))
    device = resolve_device(click.get_current_context().meta[DEVICE_META])
    spec = QuantSpec(method=method, calibration=calibration, options=options, device=device, **fields)
    source = resolve(default_model(model))
    artifact = methods.get_quantizer(method).run(source, spec, out_dir)
    m = artifact.manifest
    Console(stderr=True).print(
        f"[green]wrote[/] {artifact.path}  {m['checkpoint_format']}  w{m['bits']} g{m['group_size']}  "
        f"{m['bits_per_weight']:.2f} bpw  {m['size_bytes'] / 2**20:.1f} MiB  {m['wall_time_s']:.1f} s",
        soft_wrap=True,  # one line, also in a pipe or log (rich would wrap at 80 columns there)
    )
    click.echo(str(artifact.path))


def _allowances(options: dict) -> dict:
    """The method's options plus --allow-remote-code-files when given (absent otherwise: variant ids do not change)."""
    allowed = click.get_current_context().meta.get(ALLOW_REMOTE_CODE, False)
    return {**options, ALLOW_REMOTE_CODE: True} if allowed else options


def _scheme_options(bits_help: str) -> Callable[[Callable], Callable]:
    """--bits and --group-size, shared by every weight-only method."""

    def decorate(command: Callable) -> Callable:
        command = click.option("--group-size", type=int, default=defaults.GROUP_SIZE, show_default=True,
                               help="Weights per scale group; -1 = per channel.")(command)
        return click.option("--bits", type=int, default=defaults.WEIGHT_BITS, show_default=True, help=bits_help)(command)

    return decorate


def _format_option(method: str, classic_help: str) -> Callable[[Callable], Callable]:
    classic = HF_METHODS[method].classic_format
    return click.option("--format", "checkpoint_format", type=click.Choice(["compressed-tensors", classic]),
                        default=methods.method(method).options().format, show_default=True,
                        help=f"compressed-tensors (llm-compressor) or {classic_help} (GPTQModel).")


@click.command()
@_model_and_output
@_scheme_options("Weight bits (AWQ supports 4).")
@click.option("--zero-point/--symmetric", default=not HF_METHODS["awq"].default_symmetric, show_default=True,
              help="Asymmetric groups with a zero point (AWQ's standard), or symmetric.")
@calibration_options("Calibration text")
@_format_option("awq", "the classic AWQ GEMM format")
def awq(model: str | None, out_dir: Path, bits: int, group_size: int, zero_point: bool, calibration: str, samples: int,
        seq_len: int, seed: int, checkpoint_format: str) -> None:
    """Activation-aware weight quantization of MODEL (folder, alias or hub id; without MODEL, the built-in default
    model)."""
    _run("awq", model, out_dir, CalibrationSpec(calibration, samples, seq_len, seed), bits=bits, group_size=group_size,
         symmetric=not zero_point, options={"format": checkpoint_format})


@click.command()
@_model_and_output
@_scheme_options("Weight bits: 2, 3, 4 or 8.")
@click.option("--act-order/--no-act-order", default=GPTQOptions().act_order, show_default=True,
              help="Quantize columns by decreasing activation importance (no change to the checkpoint layout).")
@click.option("--damp", type=float, default=GPTQOptions().damp, show_default=True, help="Hessian dampening, fraction of its mean diagonal.")
@click.option("--symmetric/--zero-point", default=HF_METHODS["gptq"].default_symmetric, show_default=True,
              help="Symmetric groups, or groups with a zero point.")
@calibration_options("Calibration text")
@_format_option("gptq", "the classic GPTQ format")
def gptq(model: str | None, out_dir: Path, bits: int, group_size: int, act_order: bool, damp: float, symmetric: bool,
         calibration: str, samples: int, seq_len: int, seed: int, checkpoint_format: str) -> None:
    """GPTQ (second-order, error-compensating) weight quantization of MODEL."""
    _run("gptq", model, out_dir, CalibrationSpec(calibration, samples, seq_len, seed), bits=bits, group_size=group_size,
         symmetric=symmetric, options={"act_order": act_order, "damp": damp, "format": checkpoint_format})


@click.command()
@_model_and_output
@_scheme_options("Weight bits: 2, 3, 4 or 8.")
@click.option("--symmetric/--zero-point", default=HF_METHODS["rtn"].default_symmetric, show_default=True,
              help="Symmetric groups, or groups with a zero point.")
def rtn(model: str | None, out_dir: Path, bits: int, group_size: int, symmetric: bool) -> None:
    """Round-to-nearest weight quantization of MODEL (no calibration): the baseline GPTQ and AWQ must beat."""
    _run("rtn", model, out_dir, None, bits=bits, group_size=group_size, symmetric=symmetric, options={})


COMMANDS = [awq, gptq, rtn]
