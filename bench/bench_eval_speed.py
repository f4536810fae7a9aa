"""Speed of quantwb's PPL+KLD pass against llama.cpp's `llama-perplexity` (same GGUF), against lm-eval's
`loglikelihood_rolling` perplexity (same HF model) and against a bare torch forward over the same windows (the
HF pass's limit: same batches of windows, same logits_to_keep, no scoring), on the same text, context and
threads, in one run.

Every time is a fresh process end to end (start, imports, model load, scoring) and every rate is text tokens
(chunks × ctx) per second. Targets: quantwb ≥ 1.0× llama-perplexity, ≥ 0.95× the bare forward, ≥ 3× lm-eval.

    python bench/bench_eval_speed.py [--model smollm2-135m] [--type Q4_K_M] [--ctx 512] [--chunks 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.llama_tools import llama_perplexity  # noqa: E402
from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants  # noqa: E402
from quantwb.models import resolve  # noqa: E402


def process_seconds(argv: list[str]) -> float:
    """Wall seconds of one fresh process, from start to exit; raises if it fails."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - started


# lm-eval's HF backend scoring one text with loglikelihood_rolling, in a fresh interpreter like every other side.
LM_EVAL_ROLLING = r"""
import sys, torch
from pathlib import Path
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
model_dir, text_file, threads, max_length = sys.argv[1:5]
torch.set_num_threads(int(threads))
extra = {"max_length": int(max_length)} if int(max_length) else {}
lm = HFLM(pretrained=model_dir, device="cpu", batch_size=1, dtype="float32", **extra)
text = Path(text_file).read_text()
lm.loglikelihood_rolling([Instance(request_type="loglikelihood_rolling", doc={}, arguments=(text,), idx=0)], disable_tqdm=True)
"""


def lm_eval_rolling_seconds(model_dir: Path, text_file: Path, threads: int, max_length: int | None) -> float:
    """Seconds for a fresh process to load the model in lm-eval's HF backend and score the text."""
    return process_seconds([sys.executable, "-c", LM_EVAL_ROLLING, str(model_dir), str(text_file), str(threads),
                            str(max_length or 0)])


# The HF pass's limit: load the model as quantwb does (fp32 on the CPU) and run the same forward calls, nothing else.
BARE_FORWARD = r"""
import sys, numpy as np, torch
from transformers import AutoModelForCausalLM
model_dir, windows_file, threads, keep, batch = sys.argv[1:6]
torch.set_num_threads(int(threads))
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32", device_map="cpu").eval()
windows = torch.from_numpy(np.load(windows_file))
with torch.inference_mode():
    for start in range(0, len(windows), int(batch)):
        model(input_ids=windows[start:start + int(batch)], logits_to_keep=int(keep), use_cache=False)
"""


def quantwb_eval_seconds(variant: Path, config: EvalConfig) -> float:
    """Seconds for a fresh `quantwb eval` process (what a user runs), the base cache already present."""
    argv = [sys.executable, "-m", "quantwb.cli", "eval", str(variant), "--base", config.base, "--text", config.text,
            "--ctx", str(config.ctx), "--chunks", str(config.chunks), "--threads", str(config.threads),
            "--gen-tokens", "0", "--force", "--out", str(config.out_dir)]
    return process_seconds(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--type", default="Q4_K_M", help="GGUF type of the variant timed against llama-perplexity")
    parser.add_argument("--text", default="wiki")
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from quantwb.quantize.gguf import quantize_gguf
    from quantwb.quantize.gguf_convert import convert_to_gguf
    from quantwb.texts import load_text

    source = resolve(args.model)
    work = Path(tempfile.mkdtemp(prefix="quantwb-bench-eval-"))
    [variant] = quantize_gguf(source, [args.type], work / "variants")
    tokens_scored = args.chunks * args.ctx
    config = EvalConfig(base=args.model, text=args.text, ctx=args.ctx, chunks=args.chunks, threads=args.threads,
                        out_dir=work / "records", gen_tokens=0, force=True)
    evaluate_variants([variant.path], config)  # computes the base cache once; not timed (llama.cpp's is not either)

    # llama.cpp: base logits from the F32 conversion (not timed), then the timed KL-divergence pass
    binary = llama_perplexity()
    text_file = work / "text.txt"
    text_file.write_text(load_text(args.text).text)
    common = ["-c", str(args.ctx), "--chunks", str(args.chunks), "-t", str(args.threads)]
    base_logits = work / "base.kld"
    subprocess.run([str(binary), "-m", str(convert_to_gguf(source, "F32")), "-f", str(text_file), *common,
                    "--kl-divergence-base", str(base_logits)], check=True, capture_output=True)
    llama_s = process_seconds([str(binary), "-m", str(variant.path), *common, "--kl-divergence-base", str(base_logits),
                               "--kl-divergence"])
    ours_gguf_s = quantwb_eval_seconds(variant.path, config)

    # lm-eval on the same HF model and the same tokens (decoded back to text)
    from transformers import AutoTokenizer

    from quantwb.evaluate.base_cache import CacheKey, CacheReader, cache_dir

    key = CacheKey(source.sha256, load_text(args.text).sha256, args.ctx, args.chunks, config.cache_dtype)
    tokens = CacheReader(cache_dir(key)).tokens
    scored_text = work / "scored.txt"
    scored_text.write_text(AutoTokenizer.from_pretrained(source.path).decode(tokens.tolist()))
    ours_hf_s = quantwb_eval_seconds(source.path, config)
    from quantwb.evaluate.runners import HF_BATCH_WINDOWS
    from quantwb.evaluate.windows import window_inputs

    plan = CacheReader(cache_dir(key)).plan
    windows_file = work / "windows.npy"
    np.save(windows_file, window_inputs(tokens, plan, range(plan.n_chunks)))
    bare_s = process_seconds([sys.executable, "-c", BARE_FORWARD, str(source.path), str(windows_file), str(args.threads),
                              str(plan.ctx - plan.first), str(HF_BATCH_WINDOWS["cpu"])])
    lm_eval_s = lm_eval_rolling_seconds(source.path, scored_text, args.threads, None)
    lm_eval_ctx_s = lm_eval_rolling_seconds(source.path, scored_text, args.threads, args.ctx)

    rows = [
        (f"quantwb eval, GGUF {args.type} (PPL+KLD)", ours_gguf_s),
        (f"llama-perplexity --kl-divergence, GGUF {args.type}", llama_s),
        ("quantwb eval, HF fp32 (PPL+KLD)", ours_hf_s),
        ("bare torch forward, HF fp32, same windows (no scoring)", bare_s),
        ("lm-eval loglikelihood_rolling, HF fp32, default max_length", lm_eval_s),
        (f"lm-eval loglikelihood_rolling, HF fp32, max_length={args.ctx}", lm_eval_ctx_s),
    ]
    print(f"{args.model}, {args.text}: {args.chunks} chunks × {args.ctx} = {tokens_scored} tokens, {args.threads} threads, end to end")
    for label, seconds in rows:
        print(f"  {label:60s} {seconds:8.1f} s  {tokens_scored / seconds:8.1f} tokens/s")
    print(f"quantwb / llama-perplexity (GGUF):        {llama_s / ours_gguf_s:.2f}x  (target >= 1.0x)")
    print(f"quantwb / bare torch forward (HF):        {bare_s / ours_hf_s:.2f}x  (target >= 0.95x)")
    print(f"quantwb / lm-eval rolling (HF, default):  {lm_eval_s / ours_hf_s:.2f}x  (target >= 3x)")
    print(f"quantwb / lm-eval rolling (HF, max_length={args.ctx}): {lm_eval_ctx_s / ours_hf_s:.2f}x")


if __name__ == "__main__":
    main()
