"""Memory as a runtime holds the variant: a fresh process loads it the way its ecosystem runs it, holds a context
of `ctx` tokens, generates a few tokens, and reports its own peak RSS.

GGUF: llama.cpp through llama-cpp-python, `Llama(n_ctx=ctx)` with its defaults otherwise and the K/V cache type
stated; llama.cpp allocates the whole cache at load, so a short prompt holds what `ctx` tokens would, and its own
account of the buffers (model, KV cache, compute, output), as it logs them, comes back too. HF folders:
transformers' `from_pretrained` in the dtype quantwb runs it in, and `generate` after a prompt of `ctx - gen_tokens`
token ids, since transformers' cache grows with the tokens it holds.

This module is what the spawned process imports: it keeps its own imports light, so the process's peak is the
runtime's, not quantwb's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

GGUF_PROMPT_TOKENS = 16
GEN_TOKENS = 16
# llama.cpp's log lines: "load_tensors:   CPU_Mapped model buffer size =   100.57 MiB",
# "llama_kv_cache:        CPU KV buffer size =    11.25 MiB", "llama_context:        CPU compute buffer size = ..."
_BUFFER_LINE = re.compile(r"(\S+) (model|KV|compute|output) buffer size\s*=\s*([0-9.]+) MiB")
_BUFFER_KIND = {"model": "model", "KV": "kv_cache", "compute": "compute", "output": "output"}
# torch dtype -> the KV element type name of kv_geometry.KV_TYPE_BYTES
TORCH_KV_TYPE = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


@dataclass(frozen=True)
class RuntimeJob:
    """One runtime measurement: `path` loaded by its ecosystem's runtime with a context of `ctx` tokens."""

    format: Literal["hf", "gguf"]
    path: Path
    ctx: int
    threads: int
    device: str = "cpu"  # a resolved device: cpu, cuda, cuda:N
    kv_type: str = "f16"  # GGUF: llama.cpp's --cache-type-k/-v; HF caches hold the model's dtype
    gen_tokens: int = GEN_TOKENS


@dataclass(frozen=True)
class RuntimeResult:
    """Peak RSS of the runtime's process, and (GGUF) llama.cpp's own buffer sizes, in bytes."""

    ctx: int
    rss_bytes: int
    prompt_tokens: int
    gen_tokens: int
    kv_type: str  # element type of the K/V cache as run: f16, q8_0, ... (GGUF); f32, bf16, f16 (HF)
    engine: str  # "llama.cpp" or "transformers"
    engine_version: str
    device: str
    dtype: str | None = None  # HF: the model's dtype
    buffers: dict[str, int] = field(default_factory=dict)  # GGUF: model, kv_cache, compute, output


def measure_runtime(job: RuntimeJob) -> RuntimeResult:
    """Run `job` in this process (call it through workers.run_isolated: the peak must be a fresh process's)."""
    from quantwb.evaluate.memory import process_peak_rss_bytes
    from quantwb.quiet import quiet_libraries

    with quiet_libraries():  # as every pass: the libraries' bars, advice and import noise go to the log
        result = _gguf(job) if job.format == "gguf" else _hf(job)
    return RuntimeResult(**{**result, "rss_bytes": process_peak_rss_bytes()})


def llama_buffers(log_text: str) -> dict[str, int]:
    """llama.cpp's buffer sizes from its load log, summed over devices, in bytes (logged to 0.01 MiB)."""
    sizes: dict[str, int] = {}
    for _device, kind, mib in _BUFFER_LINE.findall(log_text):
        name = _BUFFER_KIND[kind]
        sizes[name] = sizes.get(name, 0) + round(float(mib) * 2**20)
    return sizes


def _gguf(job: RuntimeJob) -> dict:
    import itertools

    import llama_cpp

    from quantwb.llama_log import llama_log_to

    kv = getattr(llama_cpp, f"GGML_TYPE_{job.kv_type.upper()}")
    lines: list[str] = []
    offload = job.device != "cpu" and llama_cpp.llama_supports_gpu_offload()
    with llama_log_to(lambda _level, text: lines.append(text)):
        llm = llama_cpp.Llama(str(job.path), n_ctx=job.ctx, n_threads=job.threads, n_threads_batch=job.threads,
                              n_gpu_layers=-1 if offload else 0, type_k=kv, type_v=kv, verbose=False)
    vocab = llm.n_vocab()
    prompt = [(7 * i + 1) % vocab for i in range(GGUF_PROMPT_TOKENS)]
    list(itertools.islice(llm.generate(prompt, top_k=1, reset=True), job.gen_tokens))
    llm.close()
    return {"ctx": job.ctx, "prompt_tokens": len(prompt), "gen_tokens": job.gen_tokens, "kv_type": job.kv_type,
            "engine": "llama.cpp", "engine_version": f"llama-cpp-python {llama_cpp.__version__}",
            "device": job.device if offload else "cpu", "buffers": llama_buffers("".join(lines))}


def _hf(job: RuntimeJob) -> dict:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from quantwb.evaluate.hf_variant_load import hf_dtype

    hf_logging.set_verbosity_error()
    torch.set_num_threads(job.threads)
    model = AutoModelForCausalLM.from_pretrained(job.path, dtype=hf_dtype(job.path, job.device), device_map=job.device)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    n_prompt = max(1, job.ctx - job.gen_tokens)
    ids = torch.tensor([[(7 * i + 1) % vocab for i in range(n_prompt)]], device=job.device)
    with torch.inference_mode():
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=job.gen_tokens,
                       min_new_tokens=job.gen_tokens, do_sample=False, pad_token_id=0)
    dtype = str(model.dtype).removeprefix("torch.")
    return {"ctx": job.ctx, "prompt_tokens": n_prompt, "gen_tokens": job.gen_tokens,
            "kv_type": TORCH_KV_TYPE.get(dtype, dtype), "engine": "transformers",
            "engine_version": f"transformers {transformers.__version__}", "device": job.device, "dtype": dtype}
