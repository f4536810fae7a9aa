"""Importance matrices: collected like llama.cpp's imatrix tool, named by the converter, round-tripped through
llama.cpp's GGUF and legacy .dat formats."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from quantwb.calibration import CalibrationSpec, build_calibration
from quantwb.errors import InputError
from quantwb.models import resolve
from quantwb.quantize.gguf_convert import convert_to_gguf
from quantwb.quantize.imatrix import ImatrixData, check_against_gguf, compute_imatrix, read_imatrix, write_imatrix

CALIBRATION = CalibrationSpec(text="wiki", samples=2, seq_len=64)
PER_LAYER = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@pytest.fixture(scope="module")
def tiny_imatrix(tiny_model: Path) -> ImatrixData:
    return compute_imatrix(tiny_model, "LlamaForCausalLM", CALIBRATION)


def test_names_are_the_gguf_block_tensors(tiny_model: Path, tiny_imatrix: ImatrixData) -> None:
    expected = {f"blk.{layer}.{kind}.weight" for layer in range(2) for kind in PER_LAYER}
    assert set(tiny_imatrix.sums) == expected
    assert all(count == CALIBRATION.samples * CALIBRATION.seq_len for count in tiny_imatrix.counts.values())
    check_against_gguf(tiny_imatrix, convert_to_gguf(resolve(str(tiny_model)), "F16"))
    assert tiny_imatrix.sums["blk.0.ffn_down.weight"].size == 768 and tiny_imatrix.sums["blk.1.attn_q.weight"].size == 256


def test_means_are_squared_inputs_per_column(tiny_model: Path, tiny_imatrix: ImatrixData) -> None:
    """attn_q/k/v all read the first RMSNorm's output: their imatrix is mean(x**2) of that output, per column."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    windows = build_calibration(AutoTokenizer.from_pretrained(tiny_model), CALIBRATION).windows
    seen = []
    handle = model.model.layers[1].input_layernorm.register_forward_hook(lambda m, i, out: seen.append(out[0]))
    with torch.no_grad():
        for window in windows:
            model(torch.tensor([window]))
    handle.remove()
    normed = torch.cat(seen).double()
    expected = (normed**2).mean(dim=0).numpy()
    means = tiny_imatrix.means()
    for kind in ("attn_q", "attn_k", "attn_v"):
        np.testing.assert_allclose(means[f"blk.1.{kind}.weight"], expected, rtol=1e-5)
    assert not np.allclose(means["blk.1.attn_output.weight"][:256], expected, rtol=1e-2)


def test_gguf_format_round_trip(tiny_imatrix: ImatrixData, tmp_path: Path) -> None:
    path = tmp_path / "m.imatrix.gguf"
    write_imatrix(tiny_imatrix, path)
    back = read_imatrix(path)
    assert back.counts == tiny_imatrix.counts and back.datasets == ("wiki",)
    assert (back.chunk_count, back.chunk_size) == (CALIBRATION.samples, CALIBRATION.seq_len)
    for name, values in tiny_imatrix.means().items():
        np.testing.assert_allclose(back.means()[name], values, rtol=1e-6)


def test_reads_llama_cpp_legacy_dat(tiny_imatrix: ImatrixData, tmp_path: Path) -> None:
    """Legacy layout written as llama.cpp's save_imatrix_legacy does: values are mean x ncall, ncall = chunks."""
    ncall = 7
    blob = struct.pack("<i", len(tiny_imatrix.sums))
    for name, mean in tiny_imatrix.means().items():
        blob += struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", ncall, mean.size)
        blob += (mean * ncall).astype("<f4").tobytes()
    blob += struct.pack("<i", ncall) + struct.pack("<i", 8) + b"wiki.txt"
    path = tmp_path / "imatrix.dat"
    path.write_bytes(blob)
    back = read_imatrix(path)
    assert back.datasets == ("wiki.txt",) and back.chunk_count == ncall
    for name, values in tiny_imatrix.means().items():
        np.testing.assert_allclose(back.means()[name], values, rtol=1e-5)


def test_damaged_files_are_input_errors(tiny_imatrix: ImatrixData, tmp_path: Path) -> None:
    path = tmp_path / "cut.dat"
    path.write_bytes(struct.pack("<i", 3) + struct.pack("<i", 4) + b"blk.")
    with pytest.raises(InputError, match="not a llama.cpp imatrix"):
        read_imatrix(path)
    with pytest.raises(InputError, match="cannot read"):
        read_imatrix(tmp_path / "absent.dat")
