"""8-bit weights and activations (FP8, W8A8) against 4-bit weight-only methods (AutoRound, GPTQ) and RTN-4 on the
real SmolLM2-135M (many minutes on CPU): mean KLD orders fp8/w8a8 < 4-bit methods < RTN-4."""

from __future__ import annotations

import pytest

from quantwb.calibration import CalibrationSpec
from quantwb.models import resolve
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.methods import get_quantizer
from tests.quantize_hf_checks import generates, mean_kld_nats

pytestmark = pytest.mark.slow

CALIBRATION = CalibrationSpec(text="c4", samples=32, seq_len=256, seed=0)
KLD_TOKENS = 512
AUTOROUND_ITERS = 50  # a quarter of the default: the ordering shows already, at a quarter of the CPU time

SPECS = {
    "fp8": QuantSpec(method="fp8"),
    "w8a8": QuantSpec(method="w8a8", calibration=CALIBRATION),
    "autoround": QuantSpec(method="autoround", bits=4, group_size=64, calibration=CALIBRATION,
                           options=(("iters", AUTOROUND_ITERS),)),
    "gptq": QuantSpec(method="gptq", bits=4, group_size=64, calibration=CALIBRATION),
    "rtn": QuantSpec(method="rtn", bits=4, group_size=64),
}


@pytest.fixture(scope="module")
def kld(tmp_path_factory: pytest.TempPathFactory, module_dir) -> dict[str, float]:
    """Mean KLD to the base of each variant, every one loaded by plain transformers and generating."""
    out = module_dir("smollm2-precisions")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(tmp_path_factory.getbasetemp() / "quantwb-home"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        source = resolve("smollm2-135m")
        found = {}
        for name, spec in SPECS.items():
            variant = get_quantizer(spec.method).run(source, spec, out)
            assert generates(variant.path)
            found[name] = mean_kld_nats(source.path, variant.path, KLD_TOKENS)
    print("smollm2 mean KLD nats:", {name: round(value, 5) for name, value in found.items()})
    return found


def test_8bit_weights_and_activations_beat_4bit_methods_which_beat_rtn(kld: dict[str, float]) -> None:
    assert 0 < max(kld["fp8"], kld["w8a8"]) < min(kld["autoround"], kld["gptq"]), kld
    assert max(kld["autoround"], kld["gptq"]) < kld["rtn"], kld
