"""The quantizers for HF folders: one class per method name, each running its row of the method table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from quantwb.checkpoint_files import remote_code_files
from quantwb.disk import ensure_folder
from quantwb.errors import UnsupportedError
from quantwb.formats.variant import Variant
from quantwb.models import ModelSource
from quantwb.quantize import autoround, autoround_backend, autoround_gguf, gptqmodel_backend, hf_source, llmc_backend
from quantwb.quantize.base import ALLOW_REMOTE_CODE, QuantSpec
from quantwb.quantize.groups import choose_group_size
from quantwb.quantize.hf_methods import HF_METHODS
from quantwb.quantize.methods import parse_options

_BACKENDS = {"llmcompressor": llmc_backend, "autoround": autoround_backend}  # HFMethod.backend -> driver


class HFQuantizer:
    """`run(source, spec, out_dir)` -> an HF folder that transformers and vLLM load, via the method's backend."""

    method: ClassVar[str]

    def check(self, source: ModelSource, spec: QuantSpec) -> None:
        """What `run` refuses, without loading a weight: the source, bits, options, and a group size no layer fits."""
        spec, _ = self._settings(source, spec)
        check_remote_code(source, spec)
        hf_source.check_full_precision(source)
        hf_source.check_architecture(source)
        if spec.group_size not in (None, -1):  # the layers' input sizes from the architecture on torch's meta device
            choose_group_size(spec.group_size, hf_source.linear_in_features(hf_source.shape_only_model(source)))

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant:
        ensure_folder(Path(out_dir))  # an unwritable --out fails now, not after the model was quantized
        spec, options = self._settings(source, spec)
        check_remote_code(source, spec)
        method = HF_METHODS[self.method]
        backend = gptqmodel_backend if method.wants_classic(options) else _BACKENDS[method.backend]
        return backend.quantize(source, spec, out_dir, method, options)

    def _settings(self, source: ModelSource, spec: QuantSpec) -> tuple[QuantSpec, Any]:
        """The spec with bits checked and defaults filled in, and its options validated."""
        if source.format != "hf":  # a GGUF model in a plan: only its gguf variants can be made from it
            raise UnsupportedError(f"{self.method} needs a Hugging Face model folder; {source.path} is a GGUF file")
        spec = HF_METHODS[self.method].normalized(spec)
        return spec, parse_options(spec)


def check_remote_code(source: ModelSource, spec: QuantSpec) -> None:
    """Refuse a source that ships its own code unless the user allowed it: transformers copies that code (and the
    config's auto_map) into the variant, and whoever loads the variant with trust_remote_code=True runs it."""
    code = remote_code_files(source.path) if source.format == "hf" else []
    if code and not spec.option(ALLOW_REMOTE_CODE, False):
        raise UnsupportedError(f"{source.path}: the model ships its own code ({', '.join(code)}), which a variant would "
                               "carry to whoever loads it with trust_remote_code=True; pass --allow-remote-code-files "
                               "(in a plan, the option allow_remote_code_files: true) to make it anyway (the manifest "
                               "lists what was copied)")


class AWQQuantizer(HFQuantizer):
    """Activation-aware scaled, 4-bit grouped weights (compressed-tensors, or classic `awq`)."""

    method = "awq"


class GPTQQuantizer(HFQuantizer):
    """Error-compensated grouped weights (compressed-tensors, or classic `gptq`)."""

    method = "gptq"


class RTNQuantizer(HFQuantizer):
    """Weights rounded to the nearest level, no calibration (compressed-tensors)."""

    method = "rtn"


class AutoRoundQuantizer(HFQuantizer):
    """Sign-gradient-tuned rounding (auto-round): an HF folder (auto_round, GPTQ, AWQ format), or a GGUF type."""

    method = "autoround"

    def check(self, source: ModelSource, spec: QuantSpec) -> None:
        if not spec.gguf_type:
            super().check(source, spec)
            autoround.check_format_bits(HF_METHODS[self.method].normalized(spec), parse_options(spec))
            return
        if source.format != "hf":
            raise UnsupportedError(f"{self.method} needs a Hugging Face model folder; {source.path} is a GGUF file")
        autoround.check_gguf_type(spec.gguf_type)
        parse_options(spec)

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant:
        if spec.gguf_type:
            return autoround_gguf.quantize(source, spec, out_dir, parse_options(spec))
        return super().run(source, spec, out_dir)


class W8A8Quantizer(HFQuantizer):
    """SmoothQuant + GPTQ to int8 weights and int8 per-token activations (compressed-tensors)."""

    method = "w8a8"


class FP8Quantizer(HFQuantizer):
    """FP8 e4m3 weights per channel and dynamic per-token FP8 activations, no calibration (compressed-tensors)."""

    method = "fp8"
