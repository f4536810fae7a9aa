"""GPTQ, AWQ and RTN on the real SmolLM2-135M (minutes on CPU): loadable, close to base, GPTQ beats RTN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.calibration import CalibrationSpec
from quantwb.models import resolve
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.methods import get_quantizer
from tests.quantize_hf_checks import generates, mean_kld_nats

pytestmark = pytest.mark.slow

CALIBRATION = CalibrationSpec(text="c4", samples=32, seq_len=256, seed=0)
KLD_TOKENS = 512


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory):
    """Resolved in the session's test home (module fixtures run before the autouse function-scoped one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(tmp_path_factory.getbasetemp() / "quantwb-home"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield resolve("smollm2-135m")


@pytest.fixture(scope="module")
def out_dir(module_dir) -> Path:
    return module_dir("smollm2-variants")


@pytest.fixture(scope="module")
def kld_rtn(smollm2, out_dir: Path) -> float:
    rtn = get_quantizer("rtn").run(smollm2, QuantSpec(method="rtn", bits=4, group_size=64), out_dir)
    return mean_kld_nats(smollm2.path, rtn.path, KLD_TOKENS)


def test_gptq_w4_loads_generates_and_beats_rtn(smollm2, out_dir: Path, kld_rtn: float) -> None:
    # Group 128 does not divide SmolLM2's 576-wide layers: quantwb uses 64 and says so.
    spec = QuantSpec(method="gptq", bits=4, group_size=128, calibration=CALIBRATION)
    gptq = get_quantizer("gptq").run(smollm2, spec, out_dir)
    assert gptq.manifest["group_size"] == 64 and gptq.manifest["group_size_requested"] == 128
    assert gptq.path.name == "smollm2-135m-gptq-w4g64" and gptq.parameters["group_size"] == 64
    weights = json.loads((gptq.path / "config.json").read_text())["quantization_config"]["config_groups"]["group_0"]
    assert weights["weights"]["group_size"] == 64
    assert generates(gptq.path)
    kld_gptq = mean_kld_nats(smollm2.path, gptq.path, KLD_TOKENS)
    print(f"smollm2 w4g64 mean KLD nats: gptq {kld_gptq:.5f}, rtn {kld_rtn:.5f}")
    # The embedded SmolLM2 is dequantized from a Q4_1 GGUF: its weights sit on an asymmetric 4-bit grid,
    # which costs symmetric schemes extra (measured 0.32 symmetric, 0.20 with --zero-point; RTN 0.63).
    assert 1e-4 < kld_gptq < 0.4, kld_gptq
    assert kld_gptq < 0.7 * kld_rtn, (kld_gptq, kld_rtn)  # the method's point: far below plain rounding


def test_awq_w4_loads_generates_and_stays_close(smollm2, out_dir: Path, kld_rtn: float) -> None:
    spec = QuantSpec(method="awq", bits=4, group_size=64, calibration=CALIBRATION)
    awq = get_quantizer("awq").run(smollm2, spec, out_dir)
    assert generates(awq.path)
    kld_awq = mean_kld_nats(smollm2.path, awq.path, KLD_TOKENS)
    print(f"smollm2 w4g64 mean KLD nats: awq {kld_awq:.5f}, rtn {kld_rtn:.5f}")
    assert 1e-4 < kld_awq < 0.3, kld_awq
