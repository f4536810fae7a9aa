"""INT8 W8A8 (SmoothQuant + GPTQ) and FP8 dynamic on the tiny model, for real (llm-compressor, transformers):
compressed-tensors folders that plain transformers loads and generates from, with weights and activations both
quantized in the checkpoint's scheme, and manifests that say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb.formats.manifest import MANIFEST_NAME
from quantwb.models import resolve
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.methods import get_quantizer
from tests.cli_helpers import quantwb
from tests.quantize_hf_checks import FAST_CALIBRATION, generates, layer_output_error, mean_kld_nats
from tests.test_quantize_hf import assert_clean_failure

# scheme -> (weights' type, activations' type) in config.json's compressed-tensors group
SCHEMES = {"w8a8": ("int", "int"), "fp8": ("float", "float")}


@pytest.mark.parametrize("method", ["w8a8", "fp8"])
def test_folder_loads_in_plain_transformers_with_8bit_weights_and_activations(tiny_model: Path, tmp_path: Path,
                                                                              method: str) -> None:
    spec = QuantSpec(method=method, calibration=FAST_CALIBRATION if method == "w8a8" else None)
    variant = get_quantizer(method).run(resolve(str(tiny_model)), spec, tmp_path)
    folder = variant.path
    assert folder.name == f"model-{method}" and sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    quant = json.loads((folder / "config.json").read_text())["quantization_config"]
    assert quant["quant_method"] == "compressed-tensors" and "lm_head" in quant["ignore"]
    (group,) = quant["config_groups"].values()
    weights, activations = group["weights"], group["input_activations"]
    assert (weights["num_bits"], weights["type"], weights["strategy"]) == (8, SCHEMES[method][0], "channel")
    assert (activations["num_bits"], activations["type"], activations["dynamic"]) == (8, SCHEMES[method][1], True)
    assert activations["strategy"] == "token"
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert (manifest["method"], manifest["bits"], manifest["group_size"]) == (method, 8, -1)
    assert manifest["scheme"] == {"w8a8": "W8A8", "fp8": "FP8_DYNAMIC"}[method] == variant.quant_type
    assert "per token" in manifest["activations"] and variant.parameters["activations"] == manifest["activations"]
    assert "simulated" in manifest["cpu_execution"] and variant.parameters["cpu_execution"] == manifest["cpu_execution"]
    assert (manifest["calibration"] is None) == (method == "fp8")
    assert "weight and activation" in (folder / "README.md").read_text()
    assert generates(folder)
    # o_proj: SmoothQuant rescales q/k/v and gate/up against the norms before them (the layer alone then differs
    # from the base by design); o_proj's input has no norm to absorb a scale, so it is left as it was
    kld, error = mean_kld_nats(tiny_model, folder), layer_output_error(tiny_model, folder, "model.layers.0.self_attn.o_proj")
    print(f"tiny {method}: KLD {kld:.2e} nats, o_proj output error {error:.4f}, {variant.bits_per_weight:.2f} bpw")
    assert 0 < kld < 0.002, kld
    assert 1e-4 < error < 0.05, error  # 8-bit weights and activations: small but real error


def test_w8a8_options_are_recorded(tiny_model: Path, tmp_path: Path) -> None:
    spec = QuantSpec(method="w8a8", calibration=FAST_CALIBRATION, options=(("damp", 0.05), ("smoothing_strength", 0.5)))
    variant = get_quantizer("w8a8").run(resolve(str(tiny_model)), spec, tmp_path)
    assert variant.manifest["options"] == {"damp": 0.05, "smoothing_strength": 0.5}
    assert variant.manifest["calibration"]["samples"] == FAST_CALIBRATION.samples


@pytest.mark.parametrize(("args", "fragment"), [
    (["w8a8", "--smoothing-strength", "1.5"], "w8a8: option smoothing_strength: Input should be less than 1"),
    (["w8a8", "--damp", "0"], "w8a8: option damp: Input should be greater than 0"),
])
def test_bad_options_give_one_line(tiny_model: Path, tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "out"
    assert_clean_failure(quantwb(args[0], str(tiny_model), "--out", str(out), *args[1:]), fragment, out)


def test_fixed_schemes_refuse_bits_and_groups() -> None:
    from quantwb.errors import InputError
    from quantwb.quantize.hf_methods import HF_METHODS

    for method in ("w8a8", "fp8"):
        with pytest.raises(InputError, match=f"{method}: the .* scheme fixes 8-bit weights per channel"):
            HF_METHODS[method].normalized(QuantSpec(method=method, bits=4))
        with pytest.raises(InputError, match="bits and group size do not apply"):
            HF_METHODS[method].normalized(QuantSpec(method=method, group_size=128))
