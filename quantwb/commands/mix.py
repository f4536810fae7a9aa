"""`quantwb mix MODEL --target-size 100MiB | --target-bpw 5.0 | --match Q4_K_M`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from quantwb import defaults
from quantwb.commands.options import ByteSize
from quantwb.reports.table import type_mix


@click.command()
@click.argument("model")
@click.option("--target-size", type=ByteSize(), default=None, help="File size budget (100MiB, 95MB, bytes).")
@click.option("--target-bpw", type=float, default=None, help="Bits per weight budget (tensor bytes × 8 / parameters).")
@click.option("--match", default=None, metavar="TYPE", help="The size llama.cpp's stock TYPE (e.g. Q4_K_M) would have.")
@click.option("--candidates", default=",".join(defaults.MIX_CANDIDATES), show_default=True, metavar="TYPES",
              help="Comma-separated ggml types each tensor group may take (llama.cpp writes a fallback where a row "
                   "does not fit a type's blocks).")
@click.option("--text", default=defaults.EVAL_TEXT, show_default=True, metavar="NAME|FILE",
              help="Text the sensitivity scan measures KLD on (the text that chooses).")
@click.option("--judge-text", default=None, metavar="NAME|FILE",
              help="Text the written file is judged on (a record); default c4, or wiki when c4 chooses.")
@click.option("--ctx", default=defaults.EVAL_CTX, show_default=True, help="Tokens per window.")
@click.option("--chunks", default=defaults.MIX_SCAN_CHUNKS, show_default=True,
              help="Windows of the choosing text that score the options (the Fisher pass, or each scan measurement).")
@click.option("--score", type=click.Choice(["fisher", "full", "proxy"]), default=defaults.MIX_SCORE, show_default=True,
              help="fisher: Fisher-weighted quantization error (one backward pass per window); full: every option "
                   "written and measured; proxy: the importance-weighted quantization error alone.")
@click.option("--imatrix", default=defaults.MIX_IMATRIX, show_default=True, metavar="auto|none|FILE",
              help="Importance matrix the mix is scored, written and judged with: auto computes one on the choosing "
                   "text; none uses none.")
@click.option("--require-better", is_flag=True,
              help="Exit 5 unless the mix is better than the stock type of its size on the judging text.")
@click.option("--judge-chunks", type=int, default=None, help="Windows of the judging text (default: all).")
@click.option("--layers-per-group", default=defaults.MIX_LAYERS_PER_GROUP, show_default=True,
              help="Layers whose weights of one kind share a type (1: every layer chosen on its own).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path(defaults.OUT_DIR),
              show_default=True, help="Folder for the .gguf, its recipe, manifest and Modelfile.")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(defaults.RESULTS_DIR), show_default=True, help="Folder for the judging record.")
@click.option("--no-judge", is_flag=True, help="Skip the comparison with the stock type on the judging text.")
def mix(model: str, target_size: int | None, target_bpw: float | None, match: str | None, candidates: str, text: str,
        judge_text: str | None, ctx: int, chunks: int, score: str, imatrix: str, require_better: bool,
        judge_chunks: int | None, layers_per_group: int, out_dir: Path, results_dir: Path, no_judge: bool) -> None:
    """Score each tensor group's types by KLD and write the GGUF that loses least within the budget."""
    from quantwb.mix.config import MixConfig, MixTarget
    from quantwb.mix.imatrix_choice import parse_mix_imatrix
    from quantwb.mix.make import make_mix
    from quantwb.mix.make import require_better as enforce_better

    config = MixConfig(
        model=model, target=MixTarget(target_size, target_bpw, match),
        candidates=tuple(c for c in candidates.split(",") if c.strip()), text=text, judge_text=judge_text, ctx=ctx,
        chunks=chunks, judge_chunks=judge_chunks, layers_per_group=layers_per_group, score=score,  # type: ignore[arg-type]
        imatrix=parse_mix_imatrix(imatrix), require_better=require_better, out_dir=out_dir,
        results_dir=None if no_judge else results_dir,
    )
    result = make_mix(config)
    variant = result.variant
    table = Table(title=f"quantwb mix {model}")
    for column in ("file", "MiB", "budget MiB", "bpw", "KLD predicted", "KLD measured", "types"):
        table.add_column(column)
    predicted = "-" if result.predicted_kld is None else f"{result.predicted_kld:.5f}"
    table.add_row(str(variant.path), f"{variant.size_bytes / 2**20:.2f}", f"{result.budget_bytes / 2**20:.2f}",
                  f"{variant.bits_per_weight:.2f}", predicted, f"{result.measured_kld:.5f}", type_mix(variant.tensor_types))
    console = Console()
    console.print(table)
    scores = result.scores
    reuse = (f", {scores.facts['measured']} measured, {scores.facts['reused']} reused" if scores.kind == "full"
             else f", {scores.facts['types_quantized']} types quantized, the rest reused")
    console.print(f"recipe: {result.recipe}  (chosen on {text} by {scores.kind} scores{reuse}, {scores.wall_s:.0f} s)")
    for record in result.records:
        console.print(f"record on {config.judging_text}: {record}")
    if result.verdict is not None:
        console.print(result.verdict.line(), soft_wrap=True)
    if require_better:
        enforce_better(result)


COMMANDS = [mix]
