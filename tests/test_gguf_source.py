"""A GGUF file as MODEL of `quantwb gguf`: quantized directly (as llama-quantize does), byte for byte the file the
HF folder gives; an already quantized source only with --allow-requantize, which the manifest records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.formats.gguf_source import gguf_source, resolve_model
from quantwb.models import resolve
from quantwb.quantize.gguf import quantize_gguf
from tests.cli_helpers import invoke, one_error_line


@pytest.fixture(scope="module")
def from_hf(tiny_model: Path, module_dir) -> dict[str, Path]:
    """F16, Q8_0 and Q4_K_M made from the HF folder (one conversion)."""
    out = module_dir("from-hf")
    made = quantize_gguf(resolve(str(tiny_model)), ["F16", "Q8_0", "Q4_K_M"], out)
    return {artifact.quant_type: artifact.path for artifact in made}


def test_gguf_source_q4_k_m_equals_the_file_made_from_the_hf_folder(from_hf: dict[str, Path], tmp_path: Path) -> None:
    source = resolve_model(str(from_hf["F16"]))
    assert (source.format, source.file_type, source.architecture) == ("gguf", "F16", "llama")
    assert source.name == from_hf["F16"].stem.removesuffix("-F16")  # variants are named as from the folder
    result = invoke("gguf", str(from_hf["F16"]), "--type", "Q4_K_M", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    made = tmp_path / from_hf["Q4_K_M"].name
    assert made.read_bytes() == from_hf["Q4_K_M"].read_bytes()
    manifest = json.loads(made.with_name(made.name + ".manifest.json").read_text())
    assert manifest["source"]["format"] == "gguf" and manifest["source"]["sha256"] == source.sha256
    assert manifest["requantized_from"] is None and manifest["intermediate"] is None
    assert not list(from_hf["F16"].parent.glob("*.needs-imatrix.json"))  # nothing written beside the user's file


def test_quantized_source_only_with_allow_requantize(from_hf: dict[str, Path], tmp_path: Path) -> None:
    q8 = str(from_hf["Q8_0"])
    refused = invoke("gguf", q8, "--type", "Q4_K_M", "--out", str(tmp_path))
    assert refused.exit_code == 2 and "--allow-requantize" in one_error_line(refused) and "Q8_0" in refused.stderr
    assert not list(tmp_path.glob("*.gguf"))
    allowed = invoke("gguf", q8, "--type", "Q4_K_M", "--allow-requantize", "--out", str(tmp_path))
    assert allowed.exit_code == 0, allowed.output
    (made,) = tmp_path.glob("*-Q4_K_M.gguf")
    manifest = json.loads(made.with_name(made.name + ".manifest.json").read_text())
    assert manifest["requantized_from"] == "Q8_0" and manifest["source"]["file_type"] == "Q8_0"
    assert made.read_bytes() != from_hf["Q4_K_M"].read_bytes()  # requantizing is not the same as quantizing


def test_gguf_source_cannot_compute_an_imatrix_and_says_what_to_pass(from_hf: dict[str, Path], tmp_path: Path) -> None:
    result = invoke("gguf", str(from_hf["F16"]), "--type", "IQ2_XS", "--out", str(tmp_path))
    assert result.exit_code == 2 and "--imatrix FILE" in one_error_line(result)
    assert not list(tmp_path.glob("*.gguf"))


def test_hf_only_commands_refuse_a_gguf_in_one_line(from_hf: dict[str, Path], tmp_path: Path) -> None:
    result = invoke("rtn", str(from_hf["F16"]), "--out", str(tmp_path))
    assert result.exit_code == 2 and "GGUF" in one_error_line(result)
    assert gguf_source(from_hf["F16"]).sha256 == gguf_source(from_hf["F16"]).sha256 != resolve_model(str(from_hf["Q8_0"])).sha256


def test_a_gguf_file_as_a_plan_model(from_hf: dict[str, Path], tmp_path: Path) -> None:
    from quantwb.records import read_record
    from quantwb.sweep import SweepOptions, run_sweep
    from quantwb.sweep.plan import parse_plan

    plan = parse_plan(f"""
name: gguf-model
models: ["{from_hf['F16']}"]
variants: [fp, Q4_K_M]
evaluations:
  text: {{name: wiki, ctx: 128, chunks: 2}}
""")
    run_sweep(plan, SweepOptions(results_dir=tmp_path / "results"))
    records = {r.variant.quant_type: r for r in map(read_record, (tmp_path / "results" / "records").rglob("*.json"))}
    assert set(records) == {"F16", "Q4_K_M"}
    base_sha = gguf_source(from_hf["F16"]).sha256
    assert {r.baseline.sha256 for r in records.values()} == {base_sha}
    assert records["F16"].kld.kld.mean == 0.0 and records["Q4_K_M"].kld.kld.mean > 0
    assert Path(records["Q4_K_M"].variant.path).read_bytes() == from_hf["Q4_K_M"].read_bytes()
