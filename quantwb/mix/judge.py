"""Is the mix worth it? The written mix against llama.cpp's stock type of the same size, made with the same
importance matrix, both measured by the ordinary evaluator on the judging text (records), compared by the paired
window bootstrap that `quantwb compare` uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantwb.errors import EvaluationError
from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.formats.gguf_types import parse_gguf_type
from quantwb.formats.variant import Variant
from quantwb.mix.layout import MixLayout
from quantwb.models import ModelSource
from quantwb.quantize.gguf import ImatrixChoice, PreparedImatrix, quantize_gguf
from quantwb.records import read_record
from quantwb.reports.paired import Bootstrap, Interval, paired_difference
from quantwb.reports.sidecars import record_positions

# The stock file types a mix is held against when its target is a size or bits per weight (what people ship).
STOCK_TYPES = ("Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0")


@dataclass(frozen=True)
class Verdict:
    stock: Variant
    text: str
    n_windows: int
    difference: Interval  # mean KLD of the mix − the stock file's, nats, per-window paired bootstrap
    kld: tuple[float, float]  # mean KLD (mix, stock), nats
    p99: tuple[float, float]  # 99th percentile of per-position KLD (mix, stock), nats
    records: tuple[Path, ...]
    bootstrap: Bootstrap  # how `difference` was computed

    @property
    def better(self) -> bool:
        return self.difference.hi < 0

    def line(self) -> str:
        d = self.difference
        word = "better than" if self.better else "not better than"
        return (f"mix is {word} {self.stock.quant_type} (same imatrix, {self.stock.size_bytes / 2**20:.2f} MiB) on "
                f"{self.text}: mean KLD {self.kld[0]:.5f} vs {self.kld[1]:.5f}, difference {d.value:+.5f} "
                f"[{d.lo:+.5f}, {d.hi:+.5f}] ({self.bootstrap.level:.0%} over {self.n_windows} windows); p99 {self.p99[0]:.4f} vs {self.p99[1]:.4f}")


def stock_type_for(layout: MixLayout, match: str | None, mix_bytes: int) -> str:
    """`match`, or the stock type whose file (planned by llama.cpp's dry run) is nearest the mix's size."""
    if match:
        return parse_gguf_type(match).name
    return min(STOCK_TYPES, key=lambda name: abs(layout.stock_file_bytes(name) - mix_bytes))


def judge(mix: Path, source: ModelSource, stock_type: str, imatrix: PreparedImatrix | None, config: EvalConfig,
          out_dir: Path) -> Verdict:
    """Make the stock file (beside the mix), measure both on `config`'s text, compare them window by window."""
    choice = ImatrixChoice("file", imatrix.path) if imatrix else ImatrixChoice("none")
    stock = quantize_gguf(source, [stock_type], out_dir, choice)[0]
    paths = evaluate_variants([mix, stock.path], config)
    (mix_kld, windows), (stock_kld, _) = (kld_series(path) for path in paths)
    bootstrap = Bootstrap()
    return Verdict(stock, config.text, windows, paired_difference(mix_kld, stock_kld, windows, bootstrap),
                   (float(mix_kld.mean()), float(stock_kld.mean())),
                   (float(np.quantile(mix_kld, 0.99)), float(np.quantile(stock_kld, 0.99))), tuple(paths), bootstrap)


def kld_series(record_path: Path) -> tuple[np.ndarray, int]:
    """A text record's per-position KLD (from its sidecar) and the number of windows it spans."""
    record = read_record(record_path)
    arrays = record_positions(record_path, record)
    if not arrays or record.text is None:
        raise EvaluationError(f"{record_path}: {arrays.reason or 'not a text record'}")
    return np.asarray(arrays.data["kld"], dtype=np.float64), record.text.n_chunks
