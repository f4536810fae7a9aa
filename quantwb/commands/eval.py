"""`quantwb eval`: PPL, KLD to base, top-1 agreement, memory and speed of each variant, one record each."""

from __future__ import annotations

from pathlib import Path

import click

from quantwb import defaults
from quantwb.builtin_models import BUILTINS
from quantwb.commands.options import device_option
from quantwb.evaluate.kld import TAIL_DRAWS
from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.evaluate.tasks import TaskConfig
from quantwb.models import resolve
from quantwb.records import read_record
from quantwb.reports.eval_table import eval_tables
from quantwb.reports.terminal import wide_console


def _variant_path(argument: str) -> Path:
    """A variant is a path; a built-in alias (e.g. the base itself, as a self-check) resolves to its folder."""
    path = Path(argument).expanduser()
    if path.exists():
        return path

    return resolve(argument).path if argument in BUILTINS else path


def _render(paths: list[Path]) -> None:
    console = wide_console()
    for table in eval_tables([read_record(path) for path in paths]):
        console.print(table)
    for path in paths:
        click.echo(f"record: {path}")


@click.command("eval")
@click.argument("variants", nargs=-1, required=True)
@click.option("--base", required=True, help="The model the variants were made from (HF folder, alias, hub id, or a GGUF file, "
              "then scored and tokenized by llama.cpp, as llama-perplexity scores its KLD base).")
@click.option("--text", default=defaults.EVAL_TEXT, show_default=True, help="Packaged text name (wiki, c4) or a .txt/.jsonl file.")
@click.option("--ctx", default=defaults.EVAL_CTX, show_default=True, type=click.IntRange(min=4), help="Window length in tokens.")
@click.option("--chunks", type=click.IntRange(min=1), help="Score only the first N windows (default: all).")
@click.option("--out", "out_dir", default=defaults.RESULTS_DIR, show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the records.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: all).")
@device_option("evaluation")
@click.option("--kld-topk", type=click.IntRange(min=1), metavar="K",
              help=f"Keep only the base's K most probable tokens per position and {TAIL_DRAWS} token ids drawn from the rest "
              "(KLD's tail estimated from them: unbiased, noisy per position): a base cache about vocab ÷ 2K times smaller; "
              "each record states the KLD error this costs. Default: the full distribution.")
@click.option("--batch-windows", type=click.IntRange(min=1), help="Windows per forward pass (default: HF 2 on the CPU, fewer "
              "where 256 MiB of logits would not hold them, 8 on an accelerator; GGUF 2048/ctx, as llama-perplexity).")
@click.option("--force", is_flag=True, help="Measure again even if an identical record exists.")
@click.option("--gen-tokens", default=defaults.GEN_TOKENS, show_default=True, type=click.IntRange(min=0),
              help="Greedy tokens timed for generation speed (0: skip the measurement).")
@click.option("--tasks", "task_names", help="lm-eval tasks, comma-separated (arc_easy,hellaswag,...; text_ppl scores --text "
              "with lm-eval's wikitext metrics); adds one evaluation=tasks record per variant.")
@click.option("--tasks-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of task data (<task>/validation.jsonl). Default: $QUANTWB_TASKS_DIR, else the packaged "
              "ARC-Easy and HellaSwag subset.")
@click.option("--limit", type=click.IntRange(min=1), help="Documents per task (default: all).")
@click.option("--num-fewshot", type=click.IntRange(min=0), help="Few-shot examples per prompt (default: the task's, 0).")
@click.option("--runtime-ctx", "runtime_ctxs", multiple=True, type=click.IntRange(min=1), metavar="N",
              help="Also measure the RAM to run at N tokens of context (repeatable); the evaluation's --ctx is always "
              "measured: a fresh llama.cpp or transformers process per context.")
@click.option("--allow-foreign-variant", is_flag=True,
              help="Measure a variant made from another model than BASE (refused otherwise); its record says so.")
def eval_cmd(variants: tuple[str, ...], base: str, text: str, ctx: int, chunks: int | None, out_dir: Path,
             threads: int | None, device: str, kld_topk: int | None, batch_windows: int | None, force: bool, gen_tokens: int,
             task_names: str | None, tasks_dir: Path | None, limit: int | None, num_fewshot: int | None,
             runtime_ctxs: tuple[int, ...], allow_foreign_variant: bool) -> None:
    """Measure VARIANT... (HF folders or .gguf files) against BASE on the same tokens, as llama.cpp's
    perplexity tool does in KL-divergence mode; write one record per variant into --out. With --tasks, also run
    lm-eval task suites on each variant (offline by default) and write a second record per variant."""

    tasks = None
    if task_names:
        tasks = TaskConfig(tasks=tuple(n.strip() for n in task_names.split(",") if n.strip()), tasks_dir=tasks_dir,
                           limit=limit, num_fewshot=num_fewshot, text=text)
    config = EvalConfig(base=base, text=text, ctx=ctx, chunks=chunks, out_dir=out_dir, threads=threads, device=device,
                        batch_windows=batch_windows, kld_topk=kld_topk, force=force, gen_tokens=gen_tokens, tasks=tasks,
                        allow_foreign_variant=allow_foreign_variant, runtime_ctxs=runtime_ctxs)
    paths = evaluate_variants([_variant_path(v) for v in variants], config)
    _render(paths)


COMMANDS = [eval_cmd]
