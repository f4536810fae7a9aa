"""Is the mix worth it? The written mix against llama.cpp's stock type of the same size, made with the same
importance matrix, both measured by the ordinary evaluator on the judging text (records), compared by the paired
window bootstrap that `quantwb compare` uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.formats.ggml_sizes import padded, tensor_nbytes
from quantwb.formats.gguf_types import parse_gguf_type
from quantwb.formats.variant import Variant
from quantwb.mix.layout import MixLayout
from quantwb.models import ModelSource
from quantwb.quantize.gguf import ImatrixChoice, PreparedImatrix, quantize_gguf
from quantwb.quantize.llama_quantize import plan_quantization
from quantwb.records import read_record
from quantwb.reports.paired import Interval, paired_difference

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

    @property
    def better(self) -> bool:
        return self.difference.hi < 0

    def line(self) -> str:
        d = self.difference
        word = "better than" if self.better else "not better than"
        return (f"mix is {word} {self.stock.quant_type} (same imatrix, {self.stock.size_bytes / 2**20:.2f} MiB) on "
                f"{self.text}: mean KLD {self.kld[0]:.5f} vs {self.kld[1]:.5f}, difference {d.value:+.5f} "
                f"[{d.lo:+.5f}, {d.hi:+.5f}] (95% over {self.n_windows} windows); p99 {self.p99[0]:.4f} vs {self.p99[1]:.4f}")


def stock_type_for(layout: MixLayout, match: str | None, mix_bytes: int) -> str:
    """`match`, or the stock type whose file (planned by llama.cpp's dry run) is nearest the mix's size."""
    if match:
        return parse_gguf_type(match).name

    def size(name: str) -> int:
        plan = plan_quantization(layout.source, parse_gguf_type(name).ftype).tensors
        return layout.header_bytes + sum(padded(tensor_nbytes(t.shape, t.type_name)) for t in plan)

    return min(STOCK_TYPES, key=lambda name: abs(size(name) - mix_bytes))


def judge(mix: Path, source: ModelSource, stock_type: str, imatrix: PreparedImatrix | None, config: EvalConfig,
          out_dir: Path) -> Verdict:
    """Make the stock file (beside the mix), measure both on `config`'s text, compare them window by window."""
    choice = ImatrixChoice("file", imatrix.path) if imatrix else ImatrixChoice("none")
    stock = quantize_gguf(source, [stock_type], out_dir, choice)[0]
    paths = evaluate_variants([mix, stock.path], config)
    (mix_kld, windows), (stock_kld, _) = (kld_series(path) for path in paths)
    return Verdict(stock, config.text, windows, paired_difference(mix_kld, stock_kld, windows),
                   (float(mix_kld.mean()), float(stock_kld.mean())),
                   (float(np.quantile(mix_kld, 0.99)), float(np.quantile(stock_kld, 0.99))), tuple(paths))


def kld_series(record_path: Path) -> tuple[np.ndarray, int]:
    """A text record's per-position KLD (from its sidecar) and the number of windows it spans."""
    record = read_record(record_path)
    assert record.text is not None and record.positions is not None, "text records keep per-position data"
    with np.load(record_path.parent / record.positions.file) as data:
        return np.asarray(data["kld"], dtype=np.float64), record.text.n_chunks
