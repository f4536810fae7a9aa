"""Wall time and peak RSS of `quantwb gptq|awq|w8a8|fp8|autoround` against the bare library call (llm-compressor,
auto-round) with the same settings.

Each run is a separate child process (peak RSS from wait4's rusage), run side by side in one invocation:
    python bench/bench_hf_quantize.py [--model smollm2-135m] [--samples 32] [--seq-len 256] [--repeats 1]
        [--methods gptq,awq,w8a8,fp8,autoround] [--iters 200]
Prints per-method ratios; targets: time <= 1.05x the bare call, peak RSS <= 1.5x the fp32 model's size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.children import run_child  # noqa: E402

GROUP_SIZE = 64  # SmolLM2's 576-wide layers take 64, not 128; both sides get the same explicit size
CALIBRATION_TEXT = "c4"

# The bare library call: what a user writes from llm-compressor's README, same recipe and windows as quantwb.
BARE = r'''
import sys, torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from llmcompressor import oneshot
from llmcompressor.modifiers.gptq import GPTQModifier
from llmcompressor.modifiers.quantization import QuantizationModifier
from llmcompressor.modifiers.smoothquant import SmoothQuantModifier
from llmcompressor.modifiers.transform.awq import AWQModifier
from llmcompressor.pipelines.cache import IntermediatesCache
from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
from quantwb.calibration import CalibrationSpec, build_calibration
from quantwb.models import resolve

method, model_name, samples, seq_len, group, out, iters = sys.argv[1:8]
path = resolve(model_name).path
tokenizer = AutoTokenizer.from_pretrained(path)
windows = build_calibration(tokenizer, CalibrationSpec("c4", int(samples), int(seq_len), 0)).windows
data = Dataset.from_dict({"input_ids": windows, "attention_mask": [[1] * len(w) for w in windows]})
model = AutoModelForCausalLM.from_pretrained(path, dtype="auto")
if method == "autoround":  # auto-round's README call, on the same windows
    from auto_round import AutoRound
    from auto_round.schemes import QuantizationScheme as ARScheme
    rounder = AutoRound(model, tokenizer, scheme=ARScheme(bits=4, group_size=int(group), sym=True, data_type="int", act_bits=16),
                        dataset=[torch.tensor([w]) for w in windows], nsamples=len(windows), seqlen=int(seq_len),
                        batch_size=min(8, len(windows)), iters=int(iters), seed=0, device_map="cpu", enable_torch_compile=False)
    rounder.quantize_and_save(out, format="auto_round")
    sys.exit(0)
symmetric = method == "gptq"
scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(
    num_bits=4, type="int", symmetric=symmetric, strategy="group", group_size=int(group)))
calibration = {"dataset": data, "num_calibration_samples": len(windows), "max_seq_length": int(seq_len),
               "shuffle_calibration_samples": False}
if method == "w8a8":
    recipe = [SmoothQuantModifier(smoothing_strength=0.8),
              GPTQModifier(targets="Linear", scheme="W8A8", ignore=["lm_head"], dampening_frac=0.01)]
elif method == "fp8":
    recipe, calibration = [QuantizationModifier(targets="Linear", scheme="FP8_DYNAMIC", ignore=["lm_head"])], {}
elif method == "gptq":
    recipe = [GPTQModifier(config_groups={"group_0": scheme}, ignore=["lm_head"], dampening_frac=0.01, actorder="weight")]
else:
    IntermediatesCache.pin_memory = lambda self, *a, **k: None  # no accelerator here
    recipe = [AWQModifier(duo_scaling=True), QuantizationModifier(config_groups={"group_0": scheme}, ignore=["lm_head"])]
oneshot(model=model, recipe=recipe, **calibration)
model.save_pretrained(out, save_compressed=True)
tokenizer.save_pretrained(out)
'''


def fp32_size_bytes(model: str) -> int:
    """4 bytes per parameter of the base (counted in a child, so this process stays small)."""
    code = ("import sys; from transformers import AutoConfig, AutoModelForCausalLM; import torch;"
            "from quantwb.models import resolve;"
            "m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(resolve(sys.argv[1]).path));"
            "print(sum(p.numel() for p in m.parameters()))")
    n_params = int(subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True, check=True).stdout)
    return 4 * n_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs per side; the best time is kept")
    parser.add_argument("--methods", default="gptq,awq", help="any of gptq,awq,w8a8,fp8,autoround")
    parser.add_argument("--iters", type=int, default=200, help="autoround: tuning steps per block, both sides")
    args = parser.parse_args()
    fp32_bytes = fp32_size_bytes(args.model)
    common = [args.model, str(args.samples), str(args.seq_len), str(GROUP_SIZE)]
    calibration = ["--calibration", CALIBRATION_TEXT, "--samples", str(args.samples), "--seq-len", str(args.seq_len)]
    scheme = ["--bits", "4", "--group-size", str(GROUP_SIZE)]
    quantwb_args = {"gptq": scheme + calibration, "awq": scheme + calibration, "w8a8": calibration, "fp8": [],
                    "autoround": scheme + calibration + ["--iters", str(args.iters)]}
    print(f"model {args.model}: fp32 size {fp32_bytes / 2**20:.0f} MiB; {args.samples} x {args.seq_len} tokens, "
          f"w4 g{GROUP_SIZE}, {os.cpu_count()} CPUs")
    print(f"{'method':6} {'side':8} {'wall s':>8} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            best: dict[str, tuple[float, int]] = {}
            for repeat in range(args.repeats):
                out = Path(tmp) / f"{method}-{repeat}"
                sides = {
                    "bare": [sys.executable, "-c", BARE, method, *common, str(out / "bare"), str(args.iters)],
                    "quantwb": [sys.executable, "-m", "quantwb.cli", method, args.model, *quantwb_args[method],
                                "--out", str(out / "qwb")],
                }
                for side, argv in sides.items():
                    seconds, rss = run_child(argv)
                    print(f"{method:6} {side:8} {seconds:8.1f} {rss / 2**20:13.0f}")
                    old = best.get(side)
                    best[side] = (min(seconds, old[0]) if old else seconds, max(rss, old[1]) if old else rss)
            (t_bare, rss_bare), (t_qwb, rss_qwb) = best["bare"], best["quantwb"]
            print(f"{method:6} ratio    time quantwb/bare {t_qwb / t_bare:.3f}x (target <= 1.05x)   "
                  f"peak RSS quantwb/fp32 {rss_qwb / fp32_bytes:.2f}x (target <= 1.5x), "
                  f"bare/fp32 {rss_bare / fp32_bytes:.2f}x, quantwb/bare {rss_qwb / rss_bare:.2f}x")


if __name__ == "__main__":
    main()
