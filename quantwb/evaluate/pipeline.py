"""`evaluate_variants`: every variant measured on the same tokens against one cached base pass.

Order of work: resolve base and text, inspect every variant and check its tokenizer (all bad inputs
fail here, before anything is computed), compute the base cache once, then one isolated process per
variant. A record is written only after its evaluation completed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from quantwb import defaults
from quantwb.devices import resolve_device, unquantized_dtype
from quantwb.disk import ensure_folder
from quantwb.errors import DataError, InputError, RecordError
from quantwb.evaluate import base_cache, kld, positions
from quantwb.evaluate.artifact import inspect_artifact
from quantwb.evaluate.base_tokens import BaseTokens
from quantwb.evaluate.passes import BasePassJob, VariantPassJob, VariantPassResult, run_base_pass, run_variant_pass
from quantwb.evaluate.perplexity import perplexity
from quantwb.evaluate.runners import RunnerOptions
from quantwb.evaluate.runtime_record import kv_shape, measure_runtime_memory
from quantwb.evaluate.runtime_speed import SpeedTest
from quantwb.evaluate.task_records import check_tasks, write_task_records
from quantwb.evaluate.tokenizer_json import agreeing_tokenizer
from quantwb.evaluate.tokens import (
    cached_base_tokens,
    check_tokenizer,
    gguf_detokenizer,
    hf_tokenizer,
    tokenize_base,
    tokenize_gguf_base,
)
from quantwb.evaluate.windows import WindowPlan, plan_windows
from quantwb.fileio import sha256_file
from quantwb.formats.gguf_facts import read_gguf_facts
from quantwb.formats.gguf_source import resolve_model
from quantwb.formats.manifest import read_manifest
from quantwb.formats.variant import Variant, safetensors_param_count
from quantwb.models import ModelSource
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
from quantwb.workers import run_isolated

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
    device: str = defaults.DEVICE
    batch_windows: int | None = None  # windows per forward pass; None: each runner's default (runners.py)
    gen_tokens: int = defaults.GEN_TOKENS
    cache_dtype: Literal["float16", "float32"] = "float16"
    kld_topk: int | None = None  # store the base as its top K tokens + tail mass: a cache ~vocab/K times smaller
    max_cache_bytes: int = 16 * 2**30
    force: bool = False  # re-measure even when an identical record exists
    allow_foreign_variant: bool = False  # measure a variant made from another model (the record says so)
    tasks: Any | None = None
    runtime: bool = True  # also measure the variant as its runtime holds it (runtime.py), at ctx and runtime_ctxs
    runtime_ctxs: tuple[int, ...] = ()  # further contexts to measure the runtime's memory at
    runtime_kv_type: str = "f16"  # GGUF: llama.cpp's K/V cache type for the runtime measurement
    runtime_speed: SpeedTest | None = SpeedTest()  # the runtime's tokens/s (runtime_speed.py); None: not measured

    def runtime_contexts(self, eval_ctx: int) -> tuple[int, ...]:
        """The contexts the runtime is measured at: the evaluation's first, then the others asked for."""
        return tuple(dict.fromkeys((eval_ctx, *self.runtime_ctxs))) if self.runtime else ()

    def runner_options(self) -> RunnerOptions:
        return RunnerOptions(ctx=self.ctx, threads=self.threads or os.cpu_count() or 1, batch_windows=self.batch_windows,
                             device=resolve_device(self.device))


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
    ensure_folder(Path(config.out_dir))  # an unwritable --out fails now, not after every variant was measured
    base, base_n_params, facts = _checked_inputs(variants, config)
    paths = _text_records(facts, base, base_n_params, config)
    if config.tasks is not None:
        paths += _task_records(facts, base, config)
    return paths


def evaluate_tasks(variants: list[Path], config: EvalConfig) -> list[Path]:
    """lm-eval task suites (`config.tasks`, a TaskConfig) on each variant; one evaluation="tasks" record each."""
    base, _, facts = _checked_inputs(variants, config)
    return _task_records(facts, base, config)


def _checked_inputs(variants: list[Path], config: EvalConfig) -> tuple[ModelSource, int, list[Variant]]:
    """The base, its parameter count and each variant's facts, after every check that needs no measurement: a
    variant made from another model, an unknown task or missing task data fail before anything is computed."""
    base = resolve_model(config.base)
    base_n_params = _n_params(base)
    facts = [inspect_artifact(Path(v), base_n_params) for v in variants]
    check_sources(facts, base, config.allow_foreign_variant)
    if config.tasks is not None:
        check_tasks(config.tasks)
    return base, base_n_params, facts


def base_identities(base: ModelSource) -> set[str] | None:
    """The content hashes a variant of `base` may name as its source: the base's own, and for a GGUF base made by
    quantwb the model it was made from; None for a GGUF of unknown origin (nothing to compare with)."""
    if base.format != "gguf":
        return {base.sha256}
    source = (read_manifest(base.path).get("source") or {}).get("sha256")
    return {base.sha256, source} if source else None


def check_sources(facts: list[Variant], base: ModelSource, allow_foreign: bool) -> None:
    """Refuse a variant whose manifest says it was made from another model (tokenizers may still agree)."""
    known = base_identities(base)
    for fact in facts:
        if known is not None and fact.source_sha256 and fact.source_sha256 not in known and not allow_foreign:
            raise InputError(
                f"{fact.path}: made from another model (source sha256 {fact.source_sha256[:12]}, the base {base.name} is "
                f"{base.sha256[:12]}); evaluate it against its own base, or pass --allow-foreign-variant"
            )


def _task_records(facts: list[Variant], base: ModelSource, config: EvalConfig) -> list[Path]:
    baseline = BaselineInfo(name=base.name, sha256=base.sha256, origin=base.origin)
    tasks = dataclasses.replace(config.tasks, device=config.runner_options().device)
    return write_task_records([variant_info(fact, base_identities(base)) for fact in facts], baseline, tasks, Path(config.out_dir))


def prepare_text(facts: list[Variant], base: ModelSource, base_n_params: int | None, config: EvalConfig) -> TextSetup:
    """The text's windows and the base cache (computed if missing), after checking each variant's tokenizer."""
    text = load_text(config.text)
    folder = base_cache.cache_dir(base_cache_key(base, text, config))
    cached = base_cache.is_complete(folder)
    if cached:  # the cache holds the ids and the base's vocabulary: no tokenizer to load
        meta = base_cache.read_meta(folder)
        tokens = cached_base_tokens(meta, base_cache.read_token_strings(folder), text.text)
        n_tokens = int(meta["n_text_tokens"])
        plan = base_cache.plan_from_meta(meta)
    else:
        # a GGUF base is tokenized by llama.cpp, as llama-perplexity does, so the windows are its windows
        tokens = tokenize_gguf_base(base.path, text.text) if base.format == "gguf" else tokenize_base(base.path, text.text)
        n_tokens = len(tokens.ids)
        plan = plan_windows(n_tokens, config.ctx, config.chunks, tokens.bos_id)
    for fact in facts:
        check_tokenizer(fact.format, fact.path, tokens)
    setup = TextSetup(base, base_n_params, text, n_tokens, plan, folder)
    if not cached:
        _compute_base_cache(setup, tokens, config)
    return setup


def _text_records(facts: list[Variant], base: ModelSource, base_n_params: int | None, config: EvalConfig) -> list[Path]:
    setup = prepare_text(facts, base, base_n_params, config)
    paths = []
    decode = _decoder(setup)
    for fact in facts:
        out = Path(config.out_dir) / f"{fact.name}.text.json"
        if not config.force and _is_current(out, fact, setup, config):
            log.info("%s: an identical record exists, skipped", fact.name)
            paths.append(out)
            continue
        job = VariantPassJob(fact.name, fact.format, fact.path, setup.cache_dir, config.runner_options(), config.gen_tokens)
        result = run_isolated(run_variant_pass, job, fact.name)
        extras = _position_data(fact, setup, config, result, decode)
        if contexts := config.runtime_contexts(setup.plan.ctx):
            options = config.runner_options()
            extras["runtime"] = measure_runtime_memory(fact.name, fact.format, fact.path, contexts, options.threads,
                                                       options.device, config.runtime_kv_type, config.runtime_speed)
        paths.append(write_record(_record(fact, setup, config, result, extras), Path(config.out_dir)))
    return paths


def base_cache_key(base: ModelSource, text: Text, config: EvalConfig) -> base_cache.CacheKey:
    """The key of the base cache that `config` reads for `base` on `text`."""
    return base_cache.CacheKey(base.sha256, text.sha256, config.ctx, config.chunks, config.cache_dtype,
                               unquantized_dtype(config.runner_options().device), config.kld_topk)


def position_stats(path: Path, setup: TextSetup, config: EvalConfig, label: str) -> kld.PositionStats:
    """A GGUF's per-position series against the cached base, in this process and without timing generation:
    the mix scan measures many files, and a fresh process for each would cost more than the measurement."""
    job = VariantPassJob(label, "gguf", path, setup.cache_dir, config.runner_options(), gen_tokens=0)
    return run_variant_pass(job).stats


def _decoder(setup: TextSetup) -> Callable[[Sequence[int]], str]:
    """Token ids -> text with the base's tokenizer (llama.cpp's for a GGUF base), loaded on first use (once per
    evaluation, not per variant); the `tokenizers` library's where it agrees with the base's view in the cache."""
    loaded: list[Callable[[Sequence[int]], str]] = []

    def decode(ids: Sequence[int]) -> str:
        if not loaded:
            loaded.append(_load_decoder(setup))
        return loaded[0](ids)

    return decode


def _load_decoder(setup: TextSetup) -> Callable[[Sequence[int]], str]:
    base = setup.base
    if base.format == "gguf":
        return gguf_detokenizer(base.path)
    view = cached_base_tokens(base_cache.read_meta(setup.cache_dir), base_cache.read_token_strings(setup.cache_dir), setup.text.text)
    light = agreeing_tokenizer(base.path, view)
    if light is None:
        return hf_tokenizer(base.path).decode
    return lambda ids: light.decode([int(i) for i in ids], skip_special_tokens=False)


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
    vocab = len(tokens.vocab) if base.format == "gguf" else _vocab_size(base.path)
    if config.kld_topk is not None and not 1 <= config.kld_topk < vocab:
        raise InputError(f"--kld-topk must be between 1 and the vocabulary size - 1 ({vocab - 1}), got {config.kld_topk}")
    size = base_cache.cache_size_bytes(plan, vocab, config.cache_dtype, config.kld_topk)
    if size > config.max_cache_bytes:
        raise DataError(
            f"{plan.n_chunks} windows would need a {size / 2**30:.1f} GiB base cache (limit "
            f"{config.max_cache_bytes / 2**30:.0f} GiB); pass --chunks {max(1, plan.n_chunks * config.max_cache_bytes // size)} or fewer"
        )
    meta = {"base": base.name, "base_sha256": base.sha256, "text": text.name, "text_sha256": text.sha256,
            "ctx": plan.ctx, "n_chunks": plan.n_chunks, "bos_id": plan.bos_id, "n_text_tokens": len(tokens.ids),
            "sample_ids": list(tokens.sample_ids)}
    job = BasePassJob(base.path, tokens.ids, plan, config.runner_options(), setup.cache_dir, config.cache_dtype, meta,
                      tokens.vocab, config.kld_topk, base.format)
    run_isolated(run_base_pass, job, f"base pass of {base.name}")


def _n_params(base: ModelSource) -> int | None:
    """The base's logical parameter count (HF variants' bits per weight are counted against it)."""
    return read_gguf_facts(base.path).n_params if base.format == "gguf" else safetensors_param_count(base.path)


def _vocab_size(path: Path) -> int:
    config = json.loads((path / "config.json").read_text())
    return int(config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size"))


def _is_current(path: Path, fact: Variant, setup: TextSetup, config: EvalConfig) -> bool:
    if not path.is_file():
        return False
    try:
        record = read_record(path)
    except RecordError:
        return False
    text = record.text
    # a top-K record counts only if its tail was estimated as now (one made before the draws was a lower bound)
    topk = (record.kld.topk.k, record.kld.topk.tail_draws) if record.kld and record.kld.topk else None
    wanted_topk = None if config.kld_topk is None else (config.kld_topk, kld.TAIL_DRAWS)
    same_device = fact.format == "gguf" or record.resources is None or record.resources.device == config.runner_options().device
    measured = {m.ctx for m in record.runtime.runtime_rss_bytes} if record.runtime else set()
    if not set(config.runtime_contexts(setup.plan.ctx)) <= measured:
        return False  # a record without the runtime's memory (older, or at other contexts) is measured again
    if config.runtime and config.runtime_speed is not None and not _same_speed_test(record, config.runtime_speed):
        return False  # nor one without the runtime's speed as asked for
    sidecar = record.positions
    if sidecar is None or not (path.parent / sidecar.file).is_file() or sha256_file(path.parent / sidecar.file) != sidecar.sha256:
        return False  # a record without its per-position data is measured again
    return (record.variant.sha256 == fact.sha256 and record.baseline.sha256 == setup.base.sha256 and text is not None
            and text.sha256 == setup.text.sha256 and text.ctx == setup.plan.ctx and text.n_chunks == setup.plan.n_chunks
            and topk == wanted_topk and same_device)


def _same_speed_test(record: Record, test: SpeedTest) -> bool:
    speed = record.runtime.speed if record.runtime else None
    return speed is not None and (speed.pp_tokens, speed.tg_tokens, speed.reps) == (test.pp_tokens, test.tg_tokens,
                                                                                    test.reps)


def variant_info(fact: Variant, base_identities: set[str] | None = None) -> VariantInfo:
    """The record's description of `fact`; `base_identities` (see base_identities()) mark one made from another model."""
    foreign = bool(base_identities and fact.source_sha256 and fact.source_sha256 not in base_identities)
    return VariantInfo(
        name=fact.name, format=fact.format, method=fact.method, quant_type=fact.quant_type, path=str(fact.path),
        sha256=fact.sha256, source_sha256=fact.source_sha256, size_bytes=fact.size_bytes, n_params=fact.n_params,
        bits_per_weight=fact.bits_per_weight, parameters=fact.parameters, foreign_source=foreign,
        tensor_types=fact.tensor_types, kv_geometry=kv_shape(fact.path),
    )


def _record(fact: Variant, setup: TextSetup, config: EvalConfig, result: VariantPassResult, extras: dict[str, Any]) -> Record:
    plan = setup.plan
    return Record(
        evaluation="text",
        created_at=now_utc(),
        variant=variant_info(fact, base_identities(setup.base)),
        baseline=BaselineInfo(name=setup.base.name, sha256=setup.base.sha256, origin=setup.base.origin),
        text=TextData(name=setup.text.name, sha256=setup.text.sha256, n_tokens=setup.n_tokens, ctx=plan.ctx,
                      n_chunks=plan.n_chunks, n_scored=plan.n_scored),
        perplexity=perplexity(result.stats.nll),
        kld=kld.summarize(result.stats).model_copy(update={"topk": result.topk_check}),
        resources=Resources(
            peak_rss_load_bytes=result.peak_rss_load_bytes, peak_rss_eval_bytes=result.peak_rss_eval_bytes,
            prompt_tokens_per_s=result.prompt_tokens_per_s, gen_tokens_per_s=result.gen_tokens_per_s,
            device=result.device, threads=config.runner_options().threads, dtype=result.dtype,
            batch_size=result.batch_windows,
        ),
        library_versions=library_versions(),
        environment=environment(),
        **extras,
    )
