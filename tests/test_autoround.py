"""AutoRound on the tiny model, for real (auto-round, transformers, llama.cpp): every export format loads where its
users load it, manifests carry the settings, and the GGUF holds the tensor types llama.cpp's own type has."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from quantwb.formats.manifest import MANIFEST_NAME
from quantwb.models import resolve
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.gguf import quantize_gguf
from quantwb.quantize.methods import get_quantizer
from tests.cli_helpers import quantwb
from tests.gguf_checks import assert_every_type_loads_generates_and_matches_llama_cpp_bpw
from tests.quantize_hf_checks import FAST_CALIBRATION, generates, layer_output_error, mean_kld_nats
from tests.test_quantize_hf import assert_clean_failure

ITERS = 2  # tuning steps per block: enough to run the sign-gradient loop, seconds on the tiny model
# the checkpoint's quant_method per --format, as transformers reads it from config.json
QUANT_METHODS = {"auto_round": "auto-round", "gptq": "gptq", "awq": "awq"}


def autoround_spec(**fields) -> QuantSpec:
    options = {"iters": ITERS, **fields.pop("options", {})}
    return QuantSpec(method="autoround", calibration=FAST_CALIBRATION, options=tuple(sorted(options.items())), **fields)


@pytest.fixture(scope="module")
def source(tiny_model: Path):
    return resolve(str(tiny_model))


@pytest.mark.parametrize("checkpoint_format", ["auto_round", "gptq", "awq"])
def test_each_format_loads_in_plain_transformers_and_generates(source, tiny_model: Path, tmp_path: Path,
                                                               checkpoint_format: str) -> None:
    spec = autoround_spec(bits=4, group_size=128, options={"format": checkpoint_format})
    variant = get_quantizer("autoround").run(source, spec, tmp_path)
    folder = variant.path
    assert folder.name == "model-autoround-w4g128"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-autoround-w4g128"]  # no scratch or partial left
    assert not (folder / ".auto-round").exists() and (folder / "tokenizer.json").is_file()
    quant = json.loads((folder / "config.json").read_text())["quantization_config"]
    assert quant["quant_method"] == QUANT_METHODS[checkpoint_format]
    assert (quant["bits"], quant["group_size"]) == (4, 128)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert (manifest["method"], manifest["bits"], manifest["group_size"], manifest["symmetric"]) == ("autoround", 4, 128, True)
    assert (manifest["backend"], manifest["checkpoint_format"]) == ("auto-round", checkpoint_format)
    assert manifest["options"] == {"format": checkpoint_format, "iters": ITERS}
    assert manifest["calibration"]["samples"] == FAST_CALIBRATION.samples and "auto-round" in manifest["versions"]
    # auto-round keeps the unquantized tensors (the tied embedding, most of the tiny model) in bf16 on a CPU with
    # bf16 and in the source's fp32 on one without, so bpw is checked against a count of the stored tensors.
    assert variant.quant_type == "w4g128"
    assert variant.bits_per_weight == pytest.approx(_tensor_bits_and_4bit_linears(folder, tiny_model) / _element_count(tiny_model),
                                                    rel=1e-3)
    assert generates(folder)
    kld, error = mean_kld_nats(tiny_model, folder), layer_output_error(tiny_model, folder)
    print(f"tiny AutoRound {checkpoint_format} w4g128: KLD {kld:.2e} nats, q_proj output error {error:.3f}")
    assert 0 < kld < 0.01, kld
    assert 0.01 < error < 0.5, error  # the layer's weights really are 4-bit


def test_gguf_q4_k_m_has_llama_cpp_tensor_types_and_loads(source, tmp_path: Path) -> None:
    from gguf import GGUFReader

    variant = get_quantizer("autoround").run(source, autoround_spec(gguf_type="q4_k_m"), tmp_path / "autoround")
    assert variant.path.name == "model-autoround-Q4_K_M.gguf" and variant.quant_type == "Q4_K_M"
    assert sorted(p.name for p in variant.path.parent.iterdir()) == [
        "model-autoround-Q4_K_M.Modelfile", "model-autoround-Q4_K_M.gguf", "model-autoround-Q4_K_M.gguf.manifest.json"]
    assert (variant.method, variant.manifest["backend"], variant.manifest["options"]) == ("autoround", "auto-round", {"iters": ITERS})
    assert variant.manifest["calibration"]["samples"] == FAST_CALIBRATION.samples
    llama = quantize_gguf(source, ["Q4_K_M"], tmp_path / "llama")[0]
    ours = {t.name: t.tensor_type.name for t in GGUFReader(variant.path).tensors}
    theirs = {t.name: t.tensor_type.name for t in GGUFReader(llama.path).tensors}
    print("AutoRound Q4_K_M tensor types:", sorted(set(ours.values())), "size", variant.size_bytes, "llama.cpp", llama.size_bytes)
    assert ours == theirs  # same tensors, each in the type llama.cpp's Q4_K_M gives it
    assert {"Q4_K", "Q6_K"} <= set(ours.values())
    assert_every_type_loads_generates_and_matches_llama_cpp_bpw({"Q4_K_M": variant}, ["Q4_K_M"])


@pytest.mark.parametrize(("args", "fragment"), [
    (["--bits", "5"], "--bits 5 is not supported (choose 2, 3, 4, 8)"),
    (["--format", "awq", "--bits", "3"], "autoround --format awq: --bits 3 is not supported (choose 4)"),
    (["--group-size", "0"], "--group-size must be positive or -1"),
    (["--format", "exl2"], "autoround: option format: Input should be 'auto_round', 'gptq' or 'awq'"),
    (["--format", "gguf:iq2_xs"], "autoround: cannot export GGUF type 'iq2_xs'; auto-round exports Q4_0"),
    (["--format", "gguf:q4_k_m", "--bits", "4"], "GGUF type Q4_K_M fixes bits, group size and symmetry"),
    (["--iters", "-1"], "autoround: option iters: Input should be greater than or equal to 0"),
])
def test_bad_options_give_one_line(tiny_model: Path, tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "out"
    assert_clean_failure(quantwb("autoround", str(tiny_model), "--out", str(out), *args), fragment, out)


def _element_count(folder: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        return sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())


def _tensor_bits_and_4bit_linears(folder: Path, base: Path) -> int:
    """Bits of every stored tensor; asserts each linear is stored packed (int32 qweight) at 4 bits per base weight."""
    from safetensors import safe_open

    bits, packed = 0, 0
    with safe_open(str(folder / "model.safetensors"), "pt") as handle, \
            safe_open(str(base / "model.safetensors"), "pt") as base_handle:
        for name in handle.keys():
            shape = handle.get_slice(name).get_shape()
            bits += math.prod(shape) * _ELEMENT_BITS[handle.get_slice(name).get_dtype()]
            if name.endswith(".qweight"):
                base_shape = base_handle.get_slice(name.replace(".qweight", ".weight")).get_shape()
                assert math.prod(shape) * 32 == math.prod(base_shape) * 4, name
                packed += 1
    assert packed == 14  # all 7 linears of both layers
    return bits


_ELEMENT_BITS = {"F32": 32, "F16": 16, "BF16": 16, "I32": 32}
