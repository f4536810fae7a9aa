"""`quantwb gguf` on the tiny model: every listed type is made by llama.cpp, loads, generates, and is sized right."""

from __future__ import annotations

from pathlib import Path

import pytest
from gguf import GGUFReader

from quantwb.calibration import CalibrationSpec
from quantwb.formats.gguf_facts import read_gguf_facts
from quantwb.models import resolve
from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf
from quantwb.quantize.gguf_convert import convert_to_gguf
from quantwb.quantize.llama_quantize import llama_load_report
from tests.gguf_checks import (
    LISTED_TYPES,
    assert_every_type_loads_generates_and_matches_llama_cpp_bpw,
    assert_imatrix_changes_values,
    assert_sizes_strictly_ordered,
)

SMALL_CALIBRATION = CalibrationSpec(text="wiki", samples=4, seq_len=128)


@pytest.fixture(scope="module")
def source(tiny_model: Path):
    return resolve(str(tiny_model))


@pytest.fixture(scope="module")
def made(source, module_dir) -> dict:
    """Every listed type, made in one call (one conversion); the imatrix only where llama.cpp needs one."""
    out = module_dir("gguf")
    artifacts = quantize_gguf(source, LISTED_TYPES, out, ImatrixChoice("auto"), SMALL_CALIBRATION)
    return {artifact.quant_type: artifact for artifact in artifacts}


def test_every_listed_type_loads_generates_and_matches_llama_cpp_bpw(made: dict) -> None:
    assert_every_type_loads_generates_and_matches_llama_cpp_bpw(made, LISTED_TYPES)


def test_sizes_strictly_ordered_and_facts_add_up(made: dict) -> None:
    assert_sizes_strictly_ordered(made)
    facts = read_gguf_facts(made["Q4_K_M"].path)
    assert facts.size_bytes == made["Q4_K_M"].path.stat().st_size > facts.tensor_bytes
    assert facts.n_params == sum(t.n_params for t in facts.by_type.values()) == read_gguf_facts(made["F16"].path).n_params
    assert facts.by_type["Q4_K"].bits_per_weight == pytest.approx(144 * 8 / 256)  # gguf's block table: 144 B / 256 w
    assert read_gguf_facts(made["F32"].path).bits_per_weight == pytest.approx(32.0)
    assert llama_load_report(made["F32"].path).bits_per_weight == pytest.approx(32.0, abs=0.005)
    assert facts.n_params == sum(t.n_elements for t in GGUFReader(made["Q4_K_M"].path).tensors)


def test_imatrix_only_where_llama_cpp_needs_it_and_manifest_says_so(made: dict, source) -> None:
    with_imatrix = {name for name, artifact in made.items() if artifact.manifest["imatrix"]}
    assert {"IQ2_XS", "IQ3_XXS"} <= with_imatrix and "Q4_K_M" not in with_imatrix
    manifest = made["IQ2_XS"].manifest
    assert made["IQ2_XS"].path.name.endswith("-IQ2_XS-imat.gguf")
    assert Path(manifest["imatrix"]["path"]).is_file() and len(manifest["imatrix"]["sha256"]) == 64
    plain = made["Q4_K_M"]
    saved = plain.path.with_name(plain.path.name + ".manifest.json")
    assert saved.is_file() and plain.path.with_suffix(".Modelfile").read_text().count(f"FROM ./{plain.path.name}") == 1
    assert plain.manifest["source"]["sha256"] == plain.source_sha256 == source.sha256 and plain.manifest["wall_s"]["type_s"] > 0


def test_imatrix_changes_iq4_xs_and_q4_k_m(source, made: dict, tmp_path: Path) -> None:
    imatrix_file = Path(made["IQ2_XS"].manifest["imatrix"]["path"])
    weighted = quantize_gguf(source, ["IQ4_XS", "Q4_K_M"], tmp_path, ImatrixChoice.parse(imatrix_file), SMALL_CALIBRATION)
    assert all(artifact.path.name.endswith("-imat.gguf") for artifact in weighted)
    assert_imatrix_changes_values(made, weighted)


def test_f16_gguf_loads_back_in_transformers_with_the_same_logits(source) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    f16 = convert_to_gguf(source, "F16")
    ids = torch.tensor([[1, 504, 2143, 282, 253, 655, 30, 378, 314, 253]])
    with torch.no_grad():
        reference = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32)(ids).logits
        back = AutoModelForCausalLM.from_pretrained(f16.parent, gguf_file=f16.name, dtype=torch.float32)(ids).logits
    assert torch.allclose(back, reference, atol=2e-2, rtol=1e-2), (back - reference).abs().max()
    assert torch.equal(back.argmax(-1), reference.argmax(-1))


def test_conversion_is_cached_per_source_hash(source) -> None:
    first = convert_to_gguf(source, "F16")
    stamp = first.stat().st_mtime_ns
    assert convert_to_gguf(source, "F16") == first and first.stat().st_mtime_ns == stamp
    assert source.sha256[:16] in str(first)
