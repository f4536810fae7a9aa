"""`quantwb mix`: a GGUF whose tensor groups take the types that lose the least KLD within a byte budget.

Convert once, plan every candidate with llama.cpp's dry run (the types it really writes, exact bytes), take the
importance matrix (imatrix_choice.py), score every group's options (scores.py: a Fisher-weighted quantization
error by default, the measured scan or the imatrix-weighted error on request), allocate under the budget
(allocate.py), quantize once with per-tensor overrides and the imatrix, read the types back, write the recipe
(recipe.py: llama-quantize's `--tensor-type-file` syntax), measure predicted against measured KLD on the choosing
text, then judge the file against the stock type of its size on other text (judge.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from quantwb import defaults
from quantwb.disk import ensure_folder
from quantwb.errors import GateError, InputError, QuantizationError
from quantwb.evaluate.pipeline import EvalConfig, TextSetup, position_stats, prepare_text
from quantwb.fileio import atomic_path, sha256_file
from quantwb.formats.gguf_facts import read_tensor_types
from quantwb.formats.gguf_types import INTERMEDIATE_TYPE, parse_gguf_type
from quantwb.formats.variant import Variant, read_variant
from quantwb.mix.allocate import Item, allocate
from quantwb.mix.config import MixConfig, MixTarget
from quantwb.mix.imatrix_choice import mix_imatrix
from quantwb.mix.judge import Verdict, judge, stock_type_for
from quantwb.mix.layout import GroupOption, MixLayout, check_candidates, mix_layout, override_ids, overrides
from quantwb.mix.recipe import recipe_path, recipe_text, reproduce_command
from quantwb.mix.scores import SCORES, Scores, error_scores, fisher_scores, full_scores
from quantwb.models import ModelSource, resolve
from quantwb.quantize.base import Stopwatch
from quantwb.quantize.gguf import PreparedImatrix, write_gguf_manifest
from quantwb.quantize.gguf_convert import convert_to_gguf, converted_sha256, safe_model_name
from quantwb.quantize.llama_quantize import quantize_file
from quantwb.texts import load_text

log = logging.getLogger(__name__)


class NotBetterError(GateError):
    """`--require-better`: the mix is not better than the stock type of its size (exit code of the CI gates)."""


@dataclass(frozen=True)
class MixResult:
    variant: Variant
    recipe: Path
    budget_bytes: int
    predicted_kld: float | None  # on the choosing text, nats (None: proxy scores are not nats)
    measured_kld: float  # the written file on the same windows of the choosing text
    scores: Scores
    verdict: Verdict | None = None  # None: not judged (--no-judge, or in a sweep)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def records(self) -> list[Path]:
        return list(self.verdict.records) if self.verdict else []


def make_mix(config: MixConfig, source: ModelSource | None = None) -> MixResult:
    """Score (or reuse the scores), allocate, write the GGUF + recipe + manifest, and judge it on other text.

    `source`: `config.model` already resolved (a sweep's chain has)."""
    clock = Stopwatch()
    candidates = check_candidates(list(config.candidates))
    _check_config(config)
    source = source or resolve(config.model)
    intermediate = convert_to_gguf(source, INTERMEDIATE_TYPE)
    layout = mix_layout(intermediate, candidates, defaults.MIX_REFERENCE_TYPE, config.layers_per_group,
                        has_imatrix=config.imatrix != "none")
    by_tensors = config.target.bpw is not None
    budget = _budget(layout, config.target)
    low, high = _reachable(layout, by_tensors)
    if not low <= budget <= high:
        unit = "tensor bytes" if by_tensors else "bytes"
        raise InputError(f"target {budget:,} {unit} is outside the reachable range {low:,} … {high:,} {unit} "
                         f"for candidates {', '.join(candidates)}")
    imatrix = mix_imatrix(source, config.imatrix, config.text, intermediate)
    eval_config = EvalConfig(base=config.model, text=config.text, ctx=config.ctx, chunks=config.chunks,
                             threads=config.threads)
    setup = prepare_text([], source, None, eval_config)
    plan_s = clock.seconds
    scores = _scores(config, layout, source, intermediate, setup, eval_config, imatrix)
    search = Stopwatch()
    choice = choose(layout, scores, budget, by_tensors)
    search_s = search.seconds
    predicted = scores.predicted(layout, choice)
    final = Path(config.out_dir) / f"{safe_model_name(source)}-mix-{config.target.label}.gguf"
    pairs = overrides(layout, choice)
    write = Stopwatch()
    with atomic_path(final) as tmp_gguf, atomic_path(recipe_path(final)) as tmp_recipe:
        quantize_file(intermediate, tmp_gguf, parse_gguf_type(layout.reference_type).ftype,
                      imatrix=imatrix.data.means() if imatrix else None, overrides=override_ids(pairs),
                      nthread=eval_config.runner_options().threads)
        _check_types(tmp_gguf, layout, choice)
        tmp_recipe.write_text(recipe_text(pairs))
        quantize_s = write.seconds
        # additivity check: the file itself on the windows that scored
        measured = position_stats(tmp_gguf, setup, eval_config, "mix: the chosen file on the choosing text").kld.mean()
    facts = {"budget_bytes": budget, "predicted_kld": predicted, "measured_kld": float(measured)}
    timings = {"plan_s": plan_s, "score_s": scores.wall_s, "search_s": search_s, "quantize_s": quantize_s}
    _write_manifest(final, source, intermediate, layout, config, candidates, choice, setup, scores, imatrix,
                    facts, timings)
    verdict = _judge(final, source, layout, imatrix, config) if config.results_dir is not None else None
    return MixResult(read_variant(final), recipe_path(final), budget, predicted, float(measured), scores, verdict,
                     {**timings, "total_s": clock.seconds})


def require_better(result: MixResult) -> None:
    """`--require-better`: NotBetterError (exit 5) unless the judge found the mix better than the stock type."""
    if result.verdict is not None and not result.verdict.better:
        raise NotBetterError(f"--require-better: the mix is not better than {result.verdict.stock.quant_type} "
                             f"of the same size on {result.verdict.text}")


def _check_config(config: MixConfig) -> None:
    """What can be refused before any work: the score, the texts, the folders."""
    if config.score not in SCORES:
        raise InputError(f"--score {config.score}: not one of {', '.join(SCORES)}")
    if config.score == "proxy" and config.imatrix == "none":
        raise InputError("--score proxy weighs errors by the importance matrix: leave out --imatrix none")
    if config.judging_text == config.text:
        raise InputError(f"the judging text must differ from the choosing text ({config.text})")
    ensure_folder(Path(config.out_dir))  # an unwritable --out fails now, not after the scan
    if config.results_dir is not None:
        ensure_folder(Path(config.results_dir))
        load_text(config.judging_text)  # a missing judging text fails before the scan, not after it
    elif config.require_better:
        raise InputError("--require-better needs the judging run: leave out --no-judge")


def _scores(config: MixConfig, layout: MixLayout, source: ModelSource, intermediate: Path, setup: TextSetup,
            eval_config: EvalConfig, imatrix: PreparedImatrix | None) -> Scores:
    means = imatrix.data.means() if imatrix else None
    sha = imatrix.sha256 if imatrix else None
    model_sha = converted_sha256(intermediate)
    if config.score == "full":
        return full_scores(layout, model_sha, setup, eval_config, means, sha)
    threads = eval_config.runner_options().threads
    if config.score == "fisher":
        return fisher_scores(layout, model_sha, source, setup, means, sha, threads)
    return error_scores("proxy", layout, model_sha, None, lambda: None, means, sha, threads)


def choose(layout: MixLayout, scores: Scores, budget: int, by_tensors: bool) -> dict[str, GroupOption]:
    """The allocation: the option per group with the least predicted KLD whose total fits `budget`."""
    fixed = layout.fixed_tensor_bytes if by_tensors else layout.header_bytes + layout.fixed_file_bytes
    items = [[Item(o.tensor_bytes if by_tensors else o.file_bytes, scores.rise(g, o)) for o in g.options]
             for g in layout.groups]
    picked = allocate(items, budget - fixed)
    if picked is None:
        raise InputError(f"no choice of candidates fits {budget:,} bytes")
    return {g.name: g.options[index] for g, index in zip(layout.groups, picked, strict=True)}


def predicted_kld(layout: MixLayout, scores: Scores, budget: int, by_tensors: bool = False) -> float | None:
    """Predicted mean KLD (nats) of the best mix within `budget` (for a size-against-KLD curve)."""
    return scores.predicted(layout, choose(layout, scores, budget, by_tensors))


def _budget(layout: MixLayout, target: MixTarget) -> int:
    """The target in bytes: file bytes for a size or a stock type, tensor bytes for bits per weight."""
    if target.bpw is not None:
        return int(target.bpw * layout.n_params / 8)
    if target.size_bytes is not None:
        return target.size_bytes
    assert target.match is not None
    return layout.stock_file_bytes(target.match)


def _reachable(layout: MixLayout, by_tensors: bool) -> tuple[int, int]:
    ends = []
    for pick in (min, max):
        choice = {g.name: pick(g.options, key=lambda o: o.file_bytes) for g in layout.groups}
        file_bytes, tensor_bytes = layout.size(choice)
        ends.append(tensor_bytes if by_tensors else file_bytes)
    return ends[0], ends[1]


def _check_types(path: Path, layout: MixLayout, choice: dict[str, GroupOption]) -> None:
    """The types read back from the written file must be the recipe's, tensor by tensor."""
    written = read_tensor_types(path)
    for group in layout.groups:
        for name, wanted in zip(group.tensors, choice[group.name].types, strict=True):
            if written.get(name) != wanted:
                raise QuantizationError(f"llama.cpp wrote {name} as {written.get(name)}, the recipe says {wanted}")


def _write_manifest(final: Path, source, intermediate: Path, layout: MixLayout, config: MixConfig,
                    candidates: list[str], choice: dict[str, GroupOption], setup, scores: Scores,
                    imatrix: PreparedImatrix | None, facts: dict, timings: dict) -> None:
    recipe = recipe_path(final)
    mix = {  # compact: records copy it into the variant's parameters
        "label": f"mix-{config.target.label}",
        "target": {"size_bytes": config.target.size_bytes, "bpw": config.target.bpw, "match": config.target.match},
        **facts,
        "reference_type": layout.reference_type,
        "candidates": candidates,
        "layers_per_group": config.layers_per_group,
        "chosen_on": {"text": setup.text.name, "sha256": setup.text.sha256, "ctx": setup.plan.ctx,
                      "n_chunks": setup.plan.n_chunks},
        "judged_on": config.judging_text,
        "recipe_sha256": sha256_file(recipe),
        "score": scores.kind,
        "imatrix": None if imatrix is None else {"file": str(imatrix.path), "sha256": imatrix.sha256},
    }
    details = {
        "mix": mix,
        "recipe": {"file": recipe.name, "sha256": mix["recipe_sha256"], "lines": recipe.read_text().split(),
                   "reproduce": reproduce_command(recipe, intermediate.name, final.name, layout.reference_type,
                                                imatrix.path if imatrix else None)},
        "mix_groups": {g.name: choice[g.name].label for g in layout.groups},
        "mix_scores": {"kind": scores.kind, "reference_kld": scores.reference_kld, **scores.facts},
    }
    write_gguf_manifest(final, source, parse_gguf_type(layout.reference_type), imatrix, intermediate, timings, details)


def _judge(final: Path, source: ModelSource, layout: MixLayout, imatrix: PreparedImatrix | None,
           config: MixConfig) -> Verdict:
    judging = EvalConfig(base=config.model, text=config.judging_text, ctx=config.ctx, chunks=config.judge_chunks,
                         out_dir=Path(config.results_dir or defaults.RESULTS_DIR), threads=config.threads)
    stock = stock_type_for(layout, config.target.match, final.stat().st_size)
    return judge(final, source, stock, imatrix, judging, Path(config.out_dir))
