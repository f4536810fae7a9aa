"""Checks shared by the GGUF tests on the tiny model (test_gguf.py) and on SmolLM2-135M (slow/): types, sizes, imatrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFReader

from quantwb.formats.gguf_facts import read_gguf_facts
from quantwb.quantize.llama_quantize import capture_llama_log, parse_load_report

LISTED_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S",
                "Q4_0", "Q4_1", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_XS", "IQ4_NL", "IQ3_M", "IQ3_XXS", "IQ2_XS"]
SIZE_ORDER = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"]


def tensor_bytes(path: Path, prefix: str = "blk.") -> dict[str, tuple[str, bytes]]:
    """Block tensors by name: (ggml type, raw bytes)."""
    return {t.name: (t.tensor_type.name, np.asarray(t.data).tobytes())
            for t in GGUFReader(path).tensors if t.name.startswith(prefix)}


def assert_every_type_loads_generates_and_matches_llama_cpp_bpw(made: dict, types: list[str]) -> None:
    """Exactly `types` were made; each loads in llama.cpp, generates, and has the bpw llama.cpp's loader reports."""
    import llama_cpp

    assert sorted(made) == sorted(types)
    for name, artifact in made.items():
        facts = read_gguf_facts(artifact.path)
        with capture_llama_log() as log:
            llm = llama_cpp.Llama(str(artifact.path), n_ctx=64, n_threads=2, verbose=False)
        report = parse_load_report(log.text)
        assert facts.file_type == name
        assert abs(facts.bits_per_weight - report.bits_per_weight) <= 0.05, (name, facts.bits_per_weight, report)
        text = llm("Once upon a time", max_tokens=8, temperature=0.0)["choices"][0]["text"]
        assert llm.n_tokens > 4 and text.strip(), (name, text)
        del llm


def assert_sizes_strictly_ordered(made: dict) -> None:
    """File sizes grow strictly along SIZE_ORDER (Q2_K smallest ... F16 largest)."""
    sizes = [made[name].size_bytes for name in SIZE_ORDER]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), dict(zip(SIZE_ORDER, sizes, strict=True))


def assert_imatrix_changes_values(plain: dict, weighted: list) -> None:
    """Most block tensors that keep their ggml type hold other values. (llama.cpp may also pick other types
    with an imatrix, e.g. IQ4_XS keeps early ffn_down in IQ4_XS instead of Q5_K, so sizes can differ.)"""
    for artifact in weighted:
        before = tensor_bytes(plain[artifact.quant_type].path)
        after = tensor_bytes(artifact.path)
        assert before.keys() == after.keys()
        same_type = [name for name in before if before[name][0] == after[name][0]]
        changed = [name for name in same_type if before[name][1] != after[name][1]]
        assert len(same_type) >= len(before) // 2 and len(changed) >= len(same_type) // 2, (artifact.quant_type, changed)
