"""The cheap sensitivity of `quantwb mix` on the tiny model with real torch and llama.cpp: the Fisher diagonal lands
on the GGUF's tensors in their row order, the weighted errors order the types, and the judge's verdict gates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import invoke, one_error_line

CANDIDATES = "Q2_K,Q4_K,Q8_0"
SMALL = ["--ctx", "128", "--chunks", "2", "--judge-chunks", "2", "--layers-per-group", "1"]


def test_hf_arrays_map_onto_the_converted_gguf(tiny_model: Path) -> None:
    """The mapping the Fisher diagonal takes (names and Llama's Q/K row permutation) puts every HF weight exactly
    where llama.cpp's converter wrote it: mapped weights equal the converted F16 file's tensors."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM

    from quantwb.formats.gguf_types import INTERMEDIATE_TYPE
    from quantwb.models import resolve
    from quantwb.quantize.gguf_convert import convert_to_gguf, gguf_layout

    source = resolve(str(tiny_model))
    converted = {t.name: np.asarray(t.data, dtype=np.float32) for t in gguf.GGUFReader(convert_to_gguf(source, INTERMEDIATE_TYPE)).tensors}
    model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32)
    checked = 0
    with torch.no_grad(), gguf_layout(source) as mapped:
        for name, weight in model.named_parameters():
            if weight.dim() != 2:
                continue
            for gguf_name, array in mapped(name, weight.detach().clone()):
                np.testing.assert_allclose(array, converted[gguf_name], atol=2e-3, rtol=2e-3)
                checked += 1
    assert checked == 15  # 2 layers × 7 matrices + the tied embedding


@pytest.fixture(scope="module")
def fisher_mix(tiny_model: Path, module_home: Path, module_dir):
    out = module_dir("mix-fisher")
    result = invoke("mix", str(tiny_model), "--match", "Q4_K_M", "--candidates", CANDIDATES, *SMALL, "--out", str(out),
                    "--results", str(out / "records"))
    return result, out


def test_fisher_scores_predict_and_order_the_types(fisher_mix) -> None:
    from quantwb.formats.variant import read_variant

    result, out = fisher_mix
    assert result.exit_code == 0, result.output
    manifest = read_variant(out / "model-mix-as-Q4_K_M.gguf").manifest
    mix = manifest["mix"]
    assert mix["score"] == "fisher" and mix["imatrix"]["sha256"]
    assert manifest["mix_scores"]["types_quantized"] == 3  # Q2_K, Q4_K, Q8_0 (the reference)
    assert 0 < mix["predicted_kld"] and 0 < mix["measured_kld"]
    line = " ".join(result.stdout.split())
    assert "better than Q4_K_M (same imatrix" in line and "(95% over 2 windows)" in line


def test_fewer_bits_never_score_lower(tiny_model: Path, fisher_mix) -> None:
    """For every tensor, both weighted errors fall as the written type gets larger (Q2_K's fallback ≥ Q4_K's ≥ Q8_0)."""
    import json

    from quantwb.home import quantwb_home

    folders = list((quantwb_home() / "mix-errors").glob("*/"))
    assert folders
    for folder in folders:
        per_type = {c: json.loads((folder / f"{c}.json").read_text()) for c in ("Q2_K", "Q4_K", "Q8_0")}
        for tensor in per_type["Q8_0"]:
            for index in (0, 1):  # fisher, proxy
                values = [per_type[c][tensor][1][index] for c in ("Q2_K", "Q4_K", "Q8_0")]
                assert values[0] >= values[1] >= values[2] >= 0, (tensor, index, values)


def test_require_better_exits_5_when_the_mix_is_the_stock_file(tiny_model: Path, tmp_path: Path) -> None:
    """A mix that may only take Q8_0 is the stock Q8_0 file: the difference is exactly 0, so not better."""
    result = invoke("mix", str(tiny_model), "--match", "Q8_0", "--candidates", "Q8_0", *SMALL, "--require-better",
                    "--out", str(tmp_path), "--results", str(tmp_path / "records"))
    assert result.exit_code == 5, result.output
    assert "not better than Q8_0" in " ".join(result.stdout.split())
    assert "--require-better" in one_error_line(result)
