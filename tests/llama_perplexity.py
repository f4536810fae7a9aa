"""llama.cpp's own `llama-perplexity` (built by bench/llama_tools.py) run in KL-divergence mode, its statistics parsed,
and compared with a quantwb record measured on the same windows."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from quantwb.records import Record

# llama-perplexity's printed KLD label -> the record's name of that statistic
_KLD_LINES = {"Mean    KLD": "mean", "Maximum KLD": "max", "99.9%   KLD": "99.9", "99.0%   KLD": "99", "95.0%   KLD": "95",
              "90.0%   KLD": "90", "Median  KLD": "50", "10.0%   KLD": "10", " 5.0%   KLD": "5", " 1.0%   KLD": "1",
              " 0.1%   KLD": "0.1", "Minimum KLD": "min"}


def run(binary: Path, ctx: int, chunks: int, threads: int, *args: str) -> str:
    """llama-perplexity with its default batching (2048 tokens, 2048 / ctx windows a decode, 512-token micro-batches),
    as quantwb's GGUF runner decodes: another batching changes the float rounding (PPL by ~1e-4 relative)."""
    result = subprocess.run([str(binary), "-c", str(ctx), "--chunks", str(chunks), "-t", str(threads), *args],
                            capture_output=True, text=True, check=True)
    return result.stdout + result.stderr


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in llama-perplexity output"
    return float(match.group(1))


def statistics(out: str) -> dict[str, float]:
    """The numbers of llama-perplexity's final KLD report (KLD in nats, Δp and same-top as fractions)."""
    stats = {"ppl": number(r"Mean PPL\(Q\)\s*:\s*([\d.]+)", out), "base_ppl": number(r"Mean PPL\(base\)\s*:\s*([\d.]+)", out),
             "ln_ppl_ratio": number(r"Mean ln\(PPL\(Q\)/PPL\(base\)\)\s*:\s*([-\d.]+)", out),
             "dp_rms": number(r"RMS Δp\s*:\s*([-\d.]+)", out) / 100, "dp_mean": number(r"Mean\s+Δp:\s*([-\d.]+)", out) / 100,
             "same_top": number(r"Same top p:\s*([\d.]+)", out) / 100}
    for label, key in _KLD_LINES.items():
        stats[f"kld_{key}"] = number(re.escape(label) + r":\s*([-\d.]+)", out)
    return stats


def ours(record: Record) -> dict[str, float]:
    kld = record.kld
    assert kld is not None and record.perplexity is not None
    stats = {"ppl": record.perplexity.ppl, "base_ppl": kld.base_ppl, "ln_ppl_ratio": kld.ln_ppl_ratio,
             "dp_rms": kld.delta_p.rms, "dp_mean": kld.delta_p.mean, "same_top": kld.same_top_p,
             "kld_mean": kld.kld.mean, "kld_max": kld.kld.max, "kld_min": kld.kld.min}
    stats.update({f"kld_{key}": value for key, value in kld.kld.percentiles.items()})
    return stats


def assert_same_statistics(record: Record, out: str, kld_abs: float) -> dict[str, float]:
    """quantwb's record equals llama-perplexity's report: the variant's PPL and same-top to its printed digits; the
    base's PPL (llama.cpp reads it back from its 16-bit packing of the base's log-probs: off by at most half a
    step, (max - min logit) / 65535 / 2 <= 3e-4 nats per position) to that bound; KLD and Δp to `kld_abs` + 0.1 %
    (the same packing against quantwb's float16-or-better probabilities). Returns every difference seen."""
    theirs, mine = statistics(out), ours(record)
    differences = {key: abs(mine[key] - theirs[key]) for key in theirs}
    shown = {key: (mine[key], theirs[key]) for key in theirs}
    assert mine["ppl"] == pytest.approx(theirs["ppl"], rel=2e-6, abs=1e-6), shown
    # one position may flip: a top-2 tie within llama.cpp's packing step of the base (SmolLM2 Q8_0: 1 of 4080)
    assert mine["same_top"] == pytest.approx(theirs["same_top"], abs=1 / record.text.n_scored + 6e-6), shown
    assert mine["base_ppl"] == pytest.approx(theirs["base_ppl"], rel=3e-4), shown
    assert mine["ln_ppl_ratio"] == pytest.approx(theirs["ln_ppl_ratio"], abs=3e-4 + 2e-6), shown
    for key in theirs:
        if key.startswith(("kld_", "dp_")):
            assert differences[key] <= kld_abs + 1e-3 * abs(theirs[key]), (key, shown)
    return differences
