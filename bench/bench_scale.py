"""Time and memory of quantwb's stages on 1B-class models, built offline from two real configurations.

    python bench/bench_scale.py [--configs smollm2-135m,tinyllama-1.1b,llama3.2-1b] [--stages gguf,rtn,gptq,eval,mix]
                                [--windows 8,32] [--mix-chunks 4] [--device auto] [--work DIR]

No hub: each model is randomly initialised from its published configuration (saved in bf16, as both are published)
with SmolLM2's tokenizer, truncated to the first 32000 ids for TinyLlama's vocabulary and left as it is for the
128k one (ids past the tokenizer are never fed). Quality numbers on random weights mean nothing; time and memory
do, since they depend on the shapes. Llama-3.2's rope scaling is left out (it changes no shape or cost).

Each stage is one `quantwb` child process (peak RSS from wait4, the child and its waited children); evaluation
also reports the scoring process's own peak RSS and forward speed from its record. Per stage it prints wall time,
peak RSS and peak RSS / the fp32 model's bytes, and the targets of issue 16 where they apply.

The mix stage (`quantwb mix --match Q4_K_M --no-judge`, Fisher scores, one layer per group) prints its parts from
the manifest (imatrix and conversion, scoring, search, writing) and the scoring time projected to an 8B model of
the same family: the Fisher pass (forward and backward per window) and the one quantization and dequantization per
candidate type each grow with the parameter count, so the projection is the measured time × 8e9 / parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.children import ChildFailed, run_child  # noqa: E402

# The shapes of the published models (config.json of each); smollm2-135m is the reference row.
CONFIGS = {
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0,
                         max_position_embeddings=8192),
    "tinyllama-1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                           num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=False, rope_theta=10000.0,
                           max_position_embeddings=2048),
    # TinyLlama's shapes with SmolLM2's whole vocabulary: llama.cpp's converter refuses the truncated tokenizer
    # (it identifies a BPE pre-tokenizer by hashing its ids on a test text), so the GGUF stages run on this one.
    "tinyllama-1.1b-v49152": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                                  num_key_value_heads=4, vocab_size=49152, tie_word_embeddings=False, rope_theta=10000.0,
                                  max_position_embeddings=2048),
    "llama3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                        num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True, rope_theta=500000.0,
                        max_position_embeddings=131072),
}
CALIBRATION = ["--calibration", "c4", "--samples", "16", "--seq-len", "128"]  # small: the cost per layer is the point


def truncated_tokenizer(tokenizer_json: dict, vocab: int) -> dict:
    """A BPE tokenizer keeping ids < vocab: later merges (which make the higher ids) are dropped with them."""
    model = tokenizer_json["model"]
    kept = {token: i for token, i in model["vocab"].items() if i < vocab}

    def pair(merge) -> tuple[str, str]:
        return tuple(merge.split(" ", 1)) if isinstance(merge, str) else tuple(merge)

    merges = [m for m in model["merges"] if all(t in kept for t in (*pair(m), "".join(pair(m))))]
    added = [t for t in tokenizer_json.get("added_tokens", []) if t["id"] < vocab]
    return {**tokenizer_json, "added_tokens": added, "model": {**model, "vocab": kept, "merges": merges}}


def build_model(name: str, folder: Path, tokenizer_dir: Path) -> int:
    """Write a random model of configuration `name` into `folder` (once); returns its parameter count."""
    marker = folder / "n_params.txt"
    if marker.is_file():
        return int(marker.read_text())
    code = r'''
import json, sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
folder, shape = sys.argv[1], json.loads(sys.argv[2])
torch.manual_seed(0)
config = LlamaConfig(**shape, head_dim=shape["hidden_size"] // shape["num_attention_heads"], bos_token_id=0,
                     eos_token_id=0, torch_dtype="bfloat16")
model = LlamaForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(folder)
print(sum(p.numel() for p in model.parameters()))
'''
    folder.mkdir(parents=True, exist_ok=True)
    shape = CONFIGS[name]
    n_params = int(subprocess.run([sys.executable, "-c", code, str(folder), json.dumps(shape)], check=True,
                                  capture_output=True, text=True).stdout.split()[-1])
    tokenizer = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    if len(tokenizer["model"]["vocab"]) > shape["vocab_size"]:
        tokenizer = truncated_tokenizer(tokenizer, shape["vocab_size"])
        (folder / "truncated-tokenizer").touch()
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    shutil.copy(tokenizer_dir / "tokenizer_config.json", folder / "tokenizer_config.json")
    marker.write_text(str(n_params))
    return n_params


def quantwb(*args: str) -> list[str]:
    return [sys.executable, "-m", "quantwb.cli", *args]


def stages(model: Path, out: Path, device: str, windows: list[int], chosen: set[str],
           mix_chunks: int = 4) -> list[tuple[str, list[str]]]:
    planned = []
    if "gguf" in chosen and truncated(model):
        print(f"{model.parent.name:15} gguf: skipped, llama.cpp's converter refuses a truncated BPE tokenizer "
              "(unknown pre-tokenizer hash); the -v49152 configuration has these shapes with the whole vocabulary")
    elif "gguf" in chosen:
        planned += [(f"gguf {t}", quantwb("gguf", str(model), "--type", t, "--imatrix", "none", "--out", str(out)))
                    for t in ("F16", "Q4_K_M")]
    for method in ("rtn", "gptq"):
        if method in chosen:
            extra = CALIBRATION if method == "gptq" else []
            planned.append((method, quantwb(method, str(model), "--group-size", "128", *extra, "--device", device,
                                            "--out", str(out / method))))
    if "mix" in chosen and not truncated(model):
        planned.append(("mix Q4_K_M size", quantwb("mix", str(model), "--match", "Q4_K_M", "--chunks", str(mix_chunks),
                                                   "--no-judge", "--out", str(out / "mix"))))
    if "eval" in chosen:
        for n in windows:
            planned.append((f"eval {n} windows", quantwb("eval", str(model), "--base", str(model), "--chunks", str(n),
                                                         "--gen-tokens", "0", "--device", device, "--force",
                                                         "--out", str(out / f"records-{n}"))))
    return planned


def truncated(model: Path) -> bool:
    return (model / "truncated-tokenizer").exists()


def eval_record(out: Path, n: int) -> dict:
    (path,) = (out / f"records-{n}").glob("*.text.json")
    return json.loads(path.read_text())


def mix_notes(out: Path, n_params: int, seconds: float) -> str:
    """The mix's parts from its manifest, and the scoring time projected to 8B parameters (linear in parameters)."""
    (manifest,) = (out / "mix").glob("*.manifest.json")
    wall = json.loads(manifest.read_text())["wall_s"]
    score = wall["score_s"]
    return (f"plan+imatrix {wall['plan_s']:.0f} s, scores {score:.0f} s, search {wall['search_s']:.1f} s, write "
            f"{wall['quantize_s']:.0f} s; scores projected to 8B: {score * 8e9 / n_params / 60:.0f} min, whole mix "
            f"{seconds * 8e9 / n_params / 3600:.1f} h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--stages", default="gguf,rtn,gptq,eval")
    parser.add_argument("--windows", default="8,32")
    parser.add_argument("--mix-chunks", type=int, default=4, help="windows of the choosing text in the mix stage")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", type=Path, help="keep models and outputs here (default: a temporary folder)")
    parser.add_argument("--tokenizer", type=Path, help="folder with SmolLM2's tokenizer.json (default: the built-in model's)")
    args = parser.parse_args()
    windows = [int(n) for n in args.windows.split(",")]
    if args.tokenizer is None:
        from quantwb.models import resolve

        args.tokenizer = resolve("smollm2-135m").path
    work = args.work or Path(tempfile.mkdtemp(prefix="quantwb-scale-"))
    print(f"{os.cpu_count()} CPUs, device {args.device}, windows {windows} of 512 tokens; work folder {work}")
    print(f"{'model':15} {'stage':16} {'wall s':>8} {'peak RSS MiB':>13} {'RSS/fp32':>9}  notes")
    for name in args.configs.split(","):
        model = work / name / "model"
        n_params = build_model(name, model, args.tokenizer)
        fp32 = 4 * n_params
        out = work / name / "out"
        print(f"{name:15} {'(model)':16} {'':>8} {fp32 / 2**20:13.0f} {1.0:9.2f}  {n_params / 1e9:.3f} B parameters, fp32 bytes")
        per_token = {}
        for label, argv in stages(model, out, args.device, windows, set(args.stages.split(",")), args.mix_chunks):
            try:
                seconds, rss = run_child(argv)
            except ChildFailed as err:
                print(f"{name:15} {label:16} failed: {err}")
                continue
            notes = ""
            if label.startswith("eval"):
                n = int(label.split()[1])
                record = eval_record(out, n)
                resources = record["resources"]
                scored_rss = resources["peak_rss_eval_bytes"]
                speed = resources["prompt_tokens_per_s"]
                per_token[n] = 1.0 / speed
                notes = (f"scoring process {scored_rss / 2**20:.0f} MiB, {speed:.0f} tok/s forward on {resources['device']} "
                         f"({resources.get('dtype')}, batch {resources.get('batch_size')})")
            if label.startswith("mix"):
                notes = mix_notes(out, n_params, seconds)
            print(f"{name:15} {label:16} {seconds:8.1f} {rss / 2**20:13.0f} {rss / fp32:9.2f}  {notes}", flush=True)
        if len(per_token) >= 2:
            few, many = min(per_token), max(per_token)
            print(f"{name:15} eval time per token {many} / {few} windows: {per_token[many] / per_token[few]:.3f}x (target 0.90-1.10)")
            rss = {n: eval_record(out, n)["resources"]["peak_rss_eval_bytes"] for n in (few, many)}
            print(f"{name:15} eval peak RSS {many} / {few} windows: {rss[many] / rss[few]:.3f}x (target 0.95-1.05)")


if __name__ == "__main__":
    main()
