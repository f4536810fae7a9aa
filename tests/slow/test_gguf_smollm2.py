"""`quantwb gguf` on the real SmolLM2-135M: every listed type, llama.cpp's bpw, size order, imatrix effect.

SmolLM2's width 576 is not a multiple of 256, so llama.cpp falls back from K/IQ blocks on some tensors
(it logs which); the assertions hold for whatever llama.cpp chose, read back from the files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.calibration import CalibrationSpec
from quantwb.models import resolve
from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf
from tests.gguf_checks import (
    LISTED_TYPES,
    assert_every_type_loads_generates_and_matches_llama_cpp_bpw,
    assert_imatrix_changes_values,
    assert_sizes_strictly_ordered,
)

pytestmark = [pytest.mark.slow, pytest.mark.ci]
CALIBRATION = CalibrationSpec(text="wiki", samples=8, seq_len=256)


@pytest.fixture(scope="module")
def made(module_dir) -> dict:
    source = resolve("smollm2-135m")
    artifacts = quantize_gguf(source, LISTED_TYPES, module_dir("gguf"), ImatrixChoice("auto"), CALIBRATION)
    return {artifact.quant_type: artifact for artifact in artifacts}


def test_every_listed_type_on_smollm2(made: dict) -> None:
    assert_every_type_loads_generates_and_matches_llama_cpp_bpw(made, LISTED_TYPES)
    assert_sizes_strictly_ordered(made)


def test_imatrix_changes_iq4_xs_and_q4_k_m_on_smollm2(made: dict, tmp_path: Path) -> None:
    imatrix_file = Path(made["IQ2_XS"].manifest["imatrix"]["path"])
    source = resolve("smollm2-135m")
    weighted = quantize_gguf(source, ["IQ4_XS", "Q4_K_M"], tmp_path, ImatrixChoice.parse(imatrix_file), CALIBRATION)
    assert_imatrix_changes_values(made, weighted)
