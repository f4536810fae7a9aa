"""What the allocator minimizes: each (group, option)'s rise over the group's reference option, by one of three scores.

- fisher (default): ½ Σ F·δw² from one Fisher pass and one quantization per candidate type (qerror.py); in nats,
  so it predicts the mix's KLD. Cost: a backward pass per window plus one quantization per type, whatever the
  grouping, so every layer is chosen on its own.
- full: every (group, option) written as a real file and measured (scan.py); the reference the others are checked
  against, and the slowest (a file per group and option).
- proxy: the importance-weighted squared quantization error alone (no evaluation, no gradient): llama.cpp's own
  objective summed over tensors. Not in nats, so it predicts no KLD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from quantwb import defaults
from quantwb.evaluate.pipeline import EvalConfig, TextSetup
from quantwb.mix.fisher import FisherDiagonal, fisher_diagonal
from quantwb.mix.layout import GroupOption, MixLayout, TensorGroup
from quantwb.mix.qerror import TensorError, errors_dir, tensor_errors
from quantwb.mix.scan import run_scan, scan_dir
from quantwb.models import ModelSource
from quantwb.quantize.base import Stopwatch

Score = Literal["fisher", "full", "proxy"]
SCORES: tuple[Score, ...] = ("fisher", "full", "proxy")


@dataclass(frozen=True)
class Scores:
    kind: Score
    rises: dict[tuple[str, str], float]  # (group, option label) -> rise over the group's reference option
    reference_kld: float | None  # predicted or measured KLD of the all-reference file, nats; None: not nats (proxy)
    wall_s: float
    facts: dict = field(default_factory=dict)  # for the manifest: how the scores were made

    def rise(self, group: TensorGroup, option: GroupOption) -> float:
        return self.rises[(group.name, option.label)]

    def predicted(self, layout: MixLayout, choice: dict[str, GroupOption]) -> float | None:
        """The additive prediction of the mix's mean KLD on the choosing text (nats), or None for the proxy."""
        if self.reference_kld is None:
            return None
        return self.reference_kld + sum(self.rise(g, choice[g.name]) for g in layout.groups)


def full_scores(layout: MixLayout, intermediate_sha256: str, setup: TextSetup, config: EvalConfig,
                imatrix: dict[str, np.ndarray] | None, imatrix_sha256: str | None) -> Scores:
    folder = scan_dir(intermediate_sha256, setup, layout.reference_type, imatrix_sha256)
    scan = run_scan(layout, folder, setup, config, imatrix)
    rises = {(g.name, o.label): scan.rise(g.name, o, g.reference) for g in layout.groups for o in g.options}
    facts = {"measured": scan.n_measured, "reused": scan.n_reused, "positions": scan.n_positions,
             "reference_kld": scan.reference_kld, "reference_kld_stderr": scan.reference_kld_stderr,
             "rises": {f"{g}→{label}": [m.rise, m.rise_stderr] for (g, label), m in scan.measurements.items()}}
    return Scores("full", rises, scan.reference_kld, scan.wall_s, facts)


def fisher_scores(layout: MixLayout, intermediate_sha256: str, source: ModelSource, setup: TextSetup,
                  imatrix: dict[str, np.ndarray] | None, imatrix_sha256: str | None, threads: int) -> Scores:
    """The default scores: each option's errors weighted by the Fisher diagonal, taken on `setup`'s windows (kept
    by the model, its base distributions, the windows and the seed)."""
    key = {"model": source.sha256, "base_cache": setup.cache_dir.name, "windows": setup.plan.n_chunks,
           "seed": defaults.MIX_FISHER_SEED}

    def fisher() -> FisherDiagonal:
        return fisher_diagonal(source, setup, setup.plan.n_chunks, defaults.MIX_FISHER_SEED, threads)

    return error_scores("fisher", layout, intermediate_sha256, key, fisher, imatrix, imatrix_sha256, threads)


def error_scores(kind: Score, layout: MixLayout, intermediate_sha256: str, fisher_key: dict | None,
                 fisher: Callable[[], FisherDiagonal | None], imatrix: dict[str, np.ndarray] | None,
                 imatrix_sha256: str | None, threads: int) -> Scores:
    """The fisher or proxy scores of every option from the tensors' quantization errors."""
    clock = Stopwatch()
    folder = errors_dir(intermediate_sha256, fisher_key, imatrix_sha256)
    errors, computed = tensor_errors(layout, folder, imatrix, fisher, threads)

    def total(group: TensorGroup, option: GroupOption) -> float:
        parts = [errors[(name, type_name)] for name, type_name in zip(group.tensors, option.types, strict=True)]
        return sum(_value(kind, part) for part in parts)

    references = {g.name: total(g, g.reference) for g in layout.groups}
    rises = {(g.name, o.label): total(g, o) - references[g.name] for g in layout.groups for o in g.options}
    reference_kld = sum(references.values()) if kind == "fisher" else None
    facts = {"errors": folder.name, "fisher": fisher_key, "types_quantized": computed}
    return Scores(kind, rises, reference_kld, clock.seconds, facts)


def _value(kind: Score, error: TensorError) -> float:
    if kind == "proxy":
        return error.proxy
    assert error.fisher is not None, "fisher scores need a Fisher diagonal"
    return error.fisher
