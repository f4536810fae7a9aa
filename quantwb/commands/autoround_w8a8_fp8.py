"""`quantwb autoround`, `quantwb w8a8`, `quantwb fp8`: AutoRound (HF folder or GGUF), INT8 and FP8 weights and activations."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from quantwb import defaults
from quantwb.calibration import CalibrationSpec
from quantwb.commands.options import DEVICE_META, calibration_options, default_model
from quantwb.commands.quantize_hf import _model_and_output, _run
from quantwb.devices import resolve_device
from quantwb.models import resolve
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.methods import get_quantizer
from quantwb.quantize.w8a8 import W8A8Options

GGUF_PREFIX = "gguf:"


def _run_gguf(model: str | None, out_dir: Path, calibration: CalibrationSpec, gguf_type: str, options: dict, **fields) -> None:
    """Resolve MODEL, make one GGUF with auto-round, print where it went and what it weighs."""
    device = resolve_device(click.get_current_context().meta[DEVICE_META])
    spec = QuantSpec(method="autoround", calibration=calibration, gguf_type=gguf_type,
                     options=tuple(sorted(options.items())), device=device, **fields)
    artifact = get_quantizer("autoround").run(resolve(default_model(model)), spec, out_dir)
    Console(stderr=True).print(
        f"[green]wrote[/] {artifact.path}  {artifact.quant_type}  {artifact.bits_per_weight:.2f} bpw  "
        f"{artifact.size_bytes / 2**20:.1f} MiB  {artifact.manifest['wall_time_s']:.1f} s"
    )
    click.echo(str(artifact.path))


@click.command()
@_model_and_output
@click.option("--bits", type=int, default=None,
              help=f"Weight bits: 2, 3, 4 or 8 (--format awq: 4). [default: {defaults.WEIGHT_BITS}; a GGUF type sets its own]")
@click.option("--group-size", type=int, default=None,
              help=f"Weights per scale group; -1 = per channel. [default: {defaults.GROUP_SIZE}; a GGUF type sets its own]")
@click.option("--symmetric/--zero-point", default=None, help="Symmetric groups, or groups with a zero point. [default: symmetric]")
@click.option("--iters", type=int, default=defaults.AUTOROUND_ITERS, show_default=True,
              help="Sign-gradient tuning steps per block; 0 = no tuning (auto-round's round-to-nearest).")
@calibration_options("Calibration text")
@click.option("--format", "checkpoint_format", default=defaults.AUTOROUND_FORMAT, show_default=True,
              metavar="auto_round|gptq|awq|gguf:TYPE",
              help="HF checkpoint format (auto_round, or GPTQ/AWQ for their kernels), or a GGUF type such as gguf:q4_k_m.")
def autoround(model: str | None, out_dir: Path, bits: int | None, group_size: int | None, symmetric: bool | None, iters: int,
              calibration: str, samples: int, seq_len: int, seed: int, checkpoint_format: str) -> None:
    """AutoRound (sign-gradient tuned rounding, auto-round) of MODEL: an HF folder or a GGUF file."""
    spec = CalibrationSpec(calibration, samples, seq_len, seed)
    if checkpoint_format.lower().startswith(GGUF_PREFIX):
        # bits, group size and symmetry go along only to be refused: the type fixes them
        _run_gguf(model, out_dir, spec, checkpoint_format[len(GGUF_PREFIX):], {"iters": iters},  # a GGUF carries no code
                  bits=bits, group_size=group_size, symmetric=symmetric)
    else:
        _run("autoround", model, out_dir, spec, bits=defaults.WEIGHT_BITS if bits is None else bits,
             group_size=group_size, symmetric=symmetric, options={"format": checkpoint_format, "iters": iters})


@click.command()
@_model_and_output
@click.option("--smoothing-strength", type=float, default=W8A8Options().smoothing_strength, show_default=True,
              help="SmoothQuant's alpha: how much activation range moves into the weights.")
@click.option("--damp", type=float, default=W8A8Options().damp, show_default=True, help="GPTQ Hessian dampening.")
@calibration_options("Calibration text")
def w8a8(model: str, out_dir: Path, smoothing_strength: float, damp: float, calibration: str, samples: int,
         seq_len: int, seed: int) -> None:
    """INT8 weights and activations of MODEL (SmoothQuant + GPTQ, llm-compressor): a compressed-tensors folder."""
    _run("w8a8", model, out_dir, CalibrationSpec(calibration, samples, seq_len, seed),
         options={"smoothing_strength": smoothing_strength, "damp": damp})


@click.command()
@_model_and_output
def fp8(model: str, out_dir: Path) -> None:
    """FP8 dynamic weights and activations of MODEL (llm-compressor, no calibration): a compressed-tensors folder."""
    _run("fp8", model, out_dir, None, options={})


COMMANDS = [autoround, w8a8, fp8]
