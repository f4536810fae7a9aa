"""`quantwb gguf MODEL --type Q4_K_M [--type ...]`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from quantwb import defaults
from quantwb.calibration import CalibrationSpec
from quantwb.commands.options import calibration_options, default_model, model_argument
from quantwb.formats.gguf_source import resolve_model
from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf


@click.command()
@model_argument
@click.option("--type", "types", multiple=True, required=True, metavar="TYPE",
              help="llama.cpp file type (F16, Q8_0, Q4_K_M, IQ4_XS, ...); repeat for several.")
@click.option("--imatrix", default=defaults.IMATRIX, show_default=True, metavar="auto|compute|none|FILE",
              help="Importance matrix: auto (only types that need one), compute (all quantized types), "
                   "none, or a llama.cpp imatrix file (GGUF or legacy .dat).")
@calibration_options("Text the imatrix is computed on")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path(defaults.OUT_DIR),
              show_default=True, help="Folder for the .gguf files, manifests and Modelfiles.")
@click.option("--allow-requantize", is_flag=True,
              help="Accept an already quantized GGUF (e.g. Q8_0) as MODEL; the manifests record it (requantized_from).")
def gguf(model: str | None, types: tuple[str, ...], imatrix: str, calibration: str, samples: int, seq_len: int, seed: int,
         out_dir: Path, allow_requantize: bool) -> None:
    """Convert MODEL (HF folder, alias or hub id; without MODEL, the built-in default model) to GGUF once with
    llama.cpp's converter and quantize it to each --type with llama.cpp. MODEL may also be a GGUF file (F32, F16,
    BF16): it is quantized directly, as llama-quantize does."""

    choice = ImatrixChoice.parse(imatrix)
    spec = CalibrationSpec(text=calibration, samples=samples, seq_len=seq_len, seed=seed)
    model = default_model(model)
    artifacts = quantize_gguf(resolve_model(model), list(types), out_dir, choice, spec, allow_requantize)
    table = Table(title=f"quantwb gguf {model}")
    for column in ("file", "type", "MiB", "params", "bpw", "imatrix"):
        table.add_column(column)
    for artifact in artifacts:
        table.add_row(str(artifact.path), artifact.quant_type or "", f"{artifact.size_bytes / 2**20:.2f}",
                      f"{artifact.n_params:,}", f"{artifact.bits_per_weight:.2f}",
                      "yes" if artifact.manifest.get("imatrix") else "no")
    Console().print(table)


COMMANDS = [gguf]
