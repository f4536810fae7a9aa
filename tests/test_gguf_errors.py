"""Bad input to `quantwb gguf`: one line, a non-zero exit, and no *.gguf that looks complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result

from quantwb.errors import UnsupportedError
from quantwb.formats.gguf_types import gguf_types, parse_gguf_type
from tests.cli_helpers import invoke


def run_cli(*args: str) -> Result:
    return invoke("gguf", *args)


def assert_one_line_error(result, exit_code: int, *needles: str) -> None:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == exit_code, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0]


def no_gguf_left(folder: Path) -> bool:
    return not folder.exists() or not [p for p in folder.rglob("*") if ".gguf" in p.name]


def test_types_come_from_llama_cpp() -> None:
    import llama_cpp

    types = gguf_types()
    assert types["Q4_K_M"].ftype == llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    assert types["F32"].ftype == llama_cpp.LLAMA_FTYPE_ALL_F32 and "GUESSED" not in types
    assert parse_gguf_type("iq2_xs").name == "IQ2_XS"
    with pytest.raises(UnsupportedError, match="Q4_K_M"):
        parse_gguf_type("Q4_K_Z")


def test_unknown_type_lists_the_valid_ones(tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--type", "Q4_K_Z", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "Q4_K_Z", "Q4_K_M", "IQ2_XS", "F16")
    assert no_gguf_left(tmp_path / "out")


def test_unreadable_model_and_imatrix_file(tiny_model: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli(str(tmp_path / "missing"), "--type", "Q8_0", "--out", str(tmp_path)), 2, "missing")
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(b"\x05\x00\x00\x00not an imatrix")
    result = run_cli(str(tiny_model), "--type", "Q4_K_M", "--imatrix", str(garbage), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "garbage.dat", "imatrix")
    assert no_gguf_left(tmp_path / "out")


def test_unsupported_architecture(tmp_path: Path) -> None:
    model = tmp_path / "strange"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["StrangeForCausalLM"], "model_type": "strange"}))
    (model / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (model / "tokenizer.json").write_text("{}")  # a folder without one is refused for that first (test_bad_inputs)
    result = run_cli(str(model), "--type", "Q4_K_M", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "StrangeForCausalLM", "not support")
    assert no_gguf_left(tmp_path / "out")


def test_type_that_needs_an_imatrix_with_imatrix_none(tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--type", "IQ2_XS", "--imatrix", "none", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "IQ2_XS", "importance matrix")
    assert no_gguf_left(tmp_path / "out")


def test_cli_makes_a_type_and_prints_its_facts(tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--type", "Q8_0", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    made = tmp_path / f"{tiny_model.name}-Q8_0.gguf"
    assert made.is_file() and "Q8_0" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [made.name, made.name + ".manifest.json", made.stem + ".Modelfile"])
    stamp = made.stat().st_mtime_ns
    again = run_cli(str(tiny_model), "--type", "Q8_0", "--out", str(tmp_path))
    assert again.exit_code == 0 and made.stat().st_mtime_ns == stamp  # complete: kept, not remade
    made.with_name(made.name + ".manifest.json").unlink()  # no manifest: not known complete, so remade
    assert run_cli(str(tiny_model), "--type", "Q8_0", "--out", str(tmp_path)).exit_code == 0
    assert made.stat().st_mtime_ns != stamp and made.with_name(made.name + ".manifest.json").is_file()
