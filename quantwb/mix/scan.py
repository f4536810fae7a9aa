"""The sensitivity scan of `quantwb mix`: for each tensor group and each way to store it, the rise in mean KLD
to the base when only that group is stored so and every other group stays at the reference type.

Measured on real files (llama.cpp quantizes, quantwb's evaluator scores them against the cached base), one
file at a time. Each measurement is kept on disk under a key of (converted model hash, base cache of text ×
ctx × chunks, reference type, importance matrix, llama.cpp version, the group's tensors and types), so an interrupted scan
resumes and a second target reuses the whole scan.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from quantwb.cache_keys import cache_key
from quantwb.evaluate.pipeline import EvalConfig, TextSetup, position_stats
from quantwb.fileio import atomic_path, write_json_atomic
from quantwb.formats.gguf_types import parse_gguf_type
from quantwb.home import quantwb_home
from quantwb.mix.layout import GroupOption, MixLayout, override_ids, overrides
from quantwb.quantize.base import Stopwatch
from quantwb.quantize.llama_quantize import quantize_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    """One group stored one way, everything else at the reference: its mean KLD and the rise over the reference."""

    group: str
    label: str
    kld_mean: float  # nats
    rise: float  # kld_mean − the reference's, nats (can be slightly negative: noise)
    rise_stderr: float  # of the per-position paired difference, nats


@dataclass(frozen=True)
class Scan:
    reference_kld: float  # mean KLD of the all-reference file, nats
    reference_kld_stderr: float
    n_positions: int
    measurements: dict[tuple[str, str], Measurement]  # (group, option label) -> measurement
    n_measured: int  # measured in this run
    n_reused: int  # read from the scan cache
    wall_s: float

    def rise(self, group: str, option: GroupOption, reference: GroupOption) -> float:
        return 0.0 if option.types == reference.types else self.measurements[(group, option.label)].rise


def scan_dir(layout_sha256: str, setup: TextSetup, reference_type: str, imatrix_sha256: str | None) -> Path:
    """The cache folder of one scan: converted model, base cache (text, ctx, chunks), reference type, importance
    matrix, llama.cpp."""
    import llama_cpp

    key = {"model": layout_sha256, "base_cache": setup.cache_dir.name, "reference": reference_type,
           "imatrix": imatrix_sha256, "llama_cpp": llama_cpp.__version__}
    return quantwb_home() / "mix-scan" / cache_key("mix-scan", **key)[:24]


def run_scan(layout: MixLayout, folder: Path, setup: TextSetup, config: EvalConfig,
             imatrix: dict[str, np.ndarray] | None = None) -> Scan:
    """Measure every (group, option) that is not already in `folder`; progress shows as one bar per file."""
    clock = Stopwatch()
    reference = {g.name: g.reference for g in layout.groups}
    base_kld = _reference_kld(layout, folder, reference, setup, config, imatrix)
    todo = [(g, o) for g in layout.groups for o in g.options if o.types != g.reference.types]
    found: dict[tuple[str, str], Measurement] = {}
    measured = 0
    for index, (group, option) in enumerate(todo, 1):
        path = folder / f"{cache_key('mix-measurement', tensors=group.tensors, types=option.types)[:20]}.json"
        if path.is_file():
            found[(group.name, option.label)] = Measurement(**json.loads(path.read_text()))
            continue
        label = f"mix scan {index}/{len(todo)}: {group.name} → {option.label}"
        kld = measure_choice(layout, {**reference, group.name: option}, setup, config, label, imatrix)
        difference = kld - base_kld
        result = Measurement(group.name, option.label, float(kld.mean()), float(difference.mean()),
                             float(difference.std(ddof=1) / math.sqrt(len(difference))))
        write_json_atomic(path, asdict(result))  # kept at once: an interruption loses one file's work at most
        log.info("%s: ΔKLD %.5f ± %.5f", label, result.rise, result.rise_stderr)
        found[(group.name, option.label)] = result
        measured += 1
    return Scan(float(base_kld.mean()), float(base_kld.std(ddof=1) / math.sqrt(len(base_kld))), len(base_kld), found,
                measured, len(todo) - measured, clock.seconds)


def _reference_kld(layout: MixLayout, folder: Path, reference: dict[str, GroupOption], setup: TextSetup,
                   config: EvalConfig, imatrix: dict[str, np.ndarray] | None) -> np.ndarray:
    path = folder / "reference-kld.npy"
    if path.is_file():
        return np.load(path)
    kld = measure_choice(layout, reference, setup, config, f"mix scan: reference (all {layout.reference_type})", imatrix)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, kld)
    return kld


def measure_choice(layout: MixLayout, choice: dict[str, GroupOption], setup: TextSetup, config: EvalConfig,
                   label: str, imatrix: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Per-position KLD of the file that stores each group as `choice` says (written to a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="quantwb-mix-") as tmp:
        probe = Path(tmp) / "probe.gguf"
        ftype = parse_gguf_type(layout.reference_type).ftype
        quantize_file(layout.source, probe, ftype, imatrix=imatrix, nthread=config.runner_options().threads,
                      overrides=override_ids(overrides(layout, choice)))
        return position_stats(probe, setup, config, label).kld
