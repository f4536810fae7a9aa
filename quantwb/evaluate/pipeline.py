"""`evaluate_variants`: every variant measured on the same tokens against one cached base pass.

Order of work: resolve base and text, inspect every variant and check its tokenizer (all bad inputs
fail here, before anything is computed), compute the base cache once, then one isolated process per
variant. A record is written only after its evaluation completed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from quantwb import defaults
from quantwb.errors import DataError, RecordError
from quantwb.evaluate import base_cache, kld, positions
from quantwb.evaluate.artifact import inspect_artifact
from quantwb.evaluate.memory import run_isolated
from quantwb.evaluate.passes import BasePassJob, VariantPassJob, VariantPassResult, run_base_pass, run_variant_pass
from quantwb.evaluate.perplexity import perplexity
from quantwb.evaluate.runners import RunnerOptions
from quantwb.evaluate.task_records import check_tasks, write_task_records
from quantwb.evaluate.tokens import BaseTokens, cached_base_tokens, check_tokenizer, hf_tokenizer, tokenize_base
from quantwb.evaluate.windows import WindowPlan, plan_windows
from quantwb.fileio import sha256_file
from quantwb.formats.variant import Variant, safetensors_param_count
from quantwb.models import ModelSource, resolve
from quantwb.records import (
    BaselineInfo,
    Record,
    Resources,
    TextData,
    VariantInfo,
    environment,
    now_utc,
    read_record,
    write_record,
)
from quantwb.texts import Text, load_text
from quantwb.versions import library_versions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    """What to measure and how. `tasks` (a TaskConfig) adds lm-eval task suites (records with evaluation="tasks")."""

    base: str
    text: str = defaults.EVAL_TEXT
    ctx: int = defaults.EVAL_CTX
    chunks: int | None = None  # None: every whole window of the text
    out_dir: Path = Path(defaults.RESULTS_DIR)
    threads: int | None = None  # None: all CPUs
    batch_windows: int = 2  # windows per HF forward pass (more: little faster on CPU, more memory)
    gen_tokens: int = defaults.GEN_TOKENS
    cache_dtype: Literal["float16", "float32"] = "float16"
    max_cache_bytes: int = 16 * 2**30
    force: bool = False  # re-measure even when an identical record exists
    tasks: Any | None = None

    def runner_options(self) -> RunnerOptions:
        return RunnerOptions(ctx=self.ctx, threads=self.threads or os.cpu_count() or 1, batch_windows=self.batch_windows)


@dataclass(frozen=True)
class TextSetup:
    """The base, the text, its windows and the cache every variant reads."""

    base: ModelSource
    base_n_params: int | None
    text: Text
    n_tokens: int
    plan: WindowPlan
    cache_dir: Path


def evaluate_variants(variants: list[Path], config: EvalConfig) -> list[Path]:
    """Measure each variant; returns the record paths (one per variant and evaluation)."""
    base = resolve(config.base)
    base_n_params = safetensors_param_count(base.path)
    facts = [inspect_artifact(Path(v), base_n_params) for v in variants]
    if config.tasks is not None:
        check_tasks(config.tasks)  # an unknown task or missing task data fails before anything is computed
    paths = _text_records(facts, base, base_n_params, config)
    if config.tasks is not None:
        paths += _task_records(facts, base, config)
    return paths


def evaluate_tasks(variants: list[Path], config: EvalConfig) -> list[Path]:
    """lm-eval task suites (`config.tasks`, a TaskConfig) on each variant; one evaluation="tasks" record each."""
    base = resolve(config.base)
    base_n_params = safetensors_param_count(base.path)
    facts = [inspect_artifact(Path(v), base_n_params) for v in variants]
    check_tasks(config.tasks)
    return _task_records(facts, base, config)


def _task_records(facts: list[Variant], base: ModelSource, config: EvalConfig) -> list[Path]:
    baseline = BaselineInfo(name=base.name, sha256=base.sha256, origin=base.origin)
    return write_task_records([variant_info(fact) for fact in facts], baseline, config.tasks, Path(config.out_dir))


def _text_records(facts: list[Variant], base: ModelSource, base_n_params: int | None, config: EvalConfig) -> list[Path]:
    text = load_text(config.text)
    key = base_cache.CacheKey(base.sha256, text.sha256, config.ctx, config.chunks, config.cache_dtype)
    folder = base_cache.cache_dir(key)
    cached = base_cache.is_complete(folder)
    if cached:  # the cache holds the ids and the base's vocabulary: no tokenizer to load
        meta = base_cache.read_meta(folder)
        tokens = cached_base_tokens(meta, base_cache.read_token_strings(folder), text.text)
        n_tokens = int(meta["n_text_tokens"])
        plan = base_cache.plan_from_meta(meta)
    else:
        tokens = tokenize_base(base.path, text.text)
        n_tokens = len(tokens.ids)
        plan = plan_windows(n_tokens, config.ctx, config.chunks, tokens.bos_id)
    for fact in facts:
        check_tokenizer(fact.format, fact.path, tokens)
    setup = TextSetup(base, base_n_params, text, n_tokens, plan, folder)
    if not cached:
        _compute_base_cache(setup, tokens, config)
    paths = []
    decode = _decoder(base.path)
    for fact in facts:
        out = Path(config.out_dir) / f"{fact.name}.text.json"
        if not config.force and _is_current(out, fact, setup):
            log.info("%s: an identical record exists, skipped", fact.name)
            paths.append(out)
            continue
        job = VariantPassJob(fact.name, fact.format, fact.path, setup.cache_dir, config.runner_options(), config.gen_tokens)
        result = run_isolated(run_variant_pass, job, fact.name)
        extras = _position_data(fact, setup, config, result, decode)
        paths.append(write_record(_record(fact, setup, config, result, extras), Path(config.out_dir)))
    return paths


def _decoder(base_path: Path) -> Callable[[Sequence[int]], str]:
    """Token ids -> text with the base's tokenizer, loaded on first use (once per evaluation, not per variant)."""
    loaded: list[Any] = []

    def decode(ids: Sequence[int]) -> str:
        if not loaded:
            loaded.append(hf_tokenizer(base_path))
        return loaded[0].decode(ids)

    return decode


def _position_data(fact: Variant, setup: TextSetup, config: EvalConfig, result: VariantPassResult,
                   decode: Callable[[Sequence[int]], str]) -> dict[str, Any]:
    """The record's per-position fields: the .npz beside it, KLD by the base's confidence, the worst positions."""
    sidecar = positions.write_sidecar(positions.position_arrays(result.stats), Path(config.out_dir) / f"{fact.name}.text.npz")
    tokens = np.load(setup.cache_dir / "tokens.npy")  # the ids every runner was fed
    worst = positions.worst_positions(result.stats, tokens, setup.plan, decode)
    return {"positions": sidecar, "kld_by_confidence": positions.confidence_buckets(result.stats), "worst_positions": worst}


def _compute_base_cache(setup: TextSetup, tokens: BaseTokens, config: EvalConfig) -> None:
    """The base pass, in its own process, after checking the cache's size against the limit."""
    base, text, plan = setup.base, setup.text, setup.plan
    size = base_cache.cache_size_bytes(plan, _vocab_size(base.path), config.cache_dtype)
    if size > config.max_cache_bytes:
        raise DataError(
            f"{plan.n_chunks} windows would need a {size / 2**30:.1f} GiB base cache (limit "
            f"{config.max_cache_bytes / 2**30:.0f} GiB); pass --chunks {max(1, plan.n_chunks * config.max_cache_bytes // size)} or fewer"
        )
    meta = {"base": base.name, "base_sha256": base.sha256, "text": text.name, "text_sha256": text.sha256,
            "ctx": plan.ctx, "n_chunks": plan.n_chunks, "bos_id": plan.bos_id, "n_text_tokens": len(tokens.ids),
            "sample_ids": list(tokens.sample_ids)}
    job = BasePassJob(base.path, tokens.ids, plan, config.runner_options(), setup.cache_dir, config.cache_dtype, meta,
                      tokens.vocab)
    run_isolated(run_base_pass, job, f"base pass of {base.name}")


def _vocab_size(path: Path) -> int:
    config = json.loads((path / "config.json").read_text())
    return int(config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size"))


def _is_current(path: Path, fact: Variant, setup: TextSetup) -> bool:
    if not path.is_file():
        return False
    try:
        record = read_record(path)
    except RecordError:
        return False
    text = record.text
    sidecar = record.positions
    if sidecar is None or not (path.parent / sidecar.file).is_file() or sha256_file(path.parent / sidecar.file) != sidecar.sha256:
        return False  # a record without its per-position data is measured again
    return (record.variant.sha256 == fact.sha256 and record.baseline.sha256 == setup.base.sha256 and text is not None
            and text.sha256 == setup.text.sha256 and text.ctx == setup.plan.ctx and text.n_chunks == setup.plan.n_chunks)


def variant_info(fact: Variant) -> VariantInfo:
    return VariantInfo(
        name=fact.name, format=fact.format, method=fact.method, quant_type=fact.quant_type, path=str(fact.path),
        sha256=fact.sha256, source_sha256=fact.source_sha256, size_bytes=fact.size_bytes, n_params=fact.n_params,
        bits_per_weight=fact.bits_per_weight, parameters=fact.parameters,
    )


def _record(fact: Variant, setup: TextSetup, config: EvalConfig, result: VariantPassResult, extras: dict[str, Any]) -> Record:
    plan = setup.plan
    return Record(
        evaluation="text",
        created_at=now_utc(),
        variant=variant_info(fact),
        baseline=BaselineInfo(name=setup.base.name, sha256=setup.base.sha256, origin=setup.base.origin),
        text=TextData(name=setup.text.name, sha256=setup.text.sha256, n_tokens=setup.n_tokens, ctx=plan.ctx,
                      n_chunks=plan.n_chunks, n_scored=plan.n_scored),
        perplexity=perplexity(result.stats.nll),
        kld=kld.summarize(result.stats),
        resources=Resources(
            peak_rss_load_bytes=result.peak_rss_load_bytes, peak_rss_eval_bytes=result.peak_rss_eval_bytes,
            prompt_tokens_per_s=result.prompt_tokens_per_s, gen_tokens_per_s=result.gen_tokens_per_s,
            device="cpu", threads=config.runner_options().threads,
        ),
        library_versions=library_versions(),
        environment=environment(),
        **extras,
    )
