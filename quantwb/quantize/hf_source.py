"""Reading a full-precision HF folder: the refusal of quantized weights, tokenizer, model, and the layer shapes."""

from __future__ import annotations

import json

from quantwb.checkpoint_files import read_config
from quantwb.errors import InputError, UnsupportedError
from quantwb.models import ModelSource
from quantwb.quiet import quiet_imports

IGNORED_MODULES = ("lm_head",)  # the output head stays in full precision, as in every AWQ/GPTQ release


def check_full_precision(source: ModelSource) -> None:
    """Refuse a folder whose config.json declares already-quantized weights (re-quantizing those compounds errors)."""
    config = json.loads((source.path / "config.json").read_text())
    method = (config.get("quantization_config") or {}).get("quant_method")
    if method:
        raise UnsupportedError(
            f"{source.path}: config.json says the weights are already quantized ({method}); pass a full-precision "
            "model (a built-in alias materialized by an older quantwb: delete its folder under QUANTWB_HOME/models)"
        )


def check_architecture(source: ModelSource) -> None:
    """Refuse a model type this transformers cannot build (the HF methods load the model with it)."""
    with quiet_imports():
        import transformers
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    model_type = read_config(source.path).get("model_type")
    if model_type not in CONFIG_MAPPING_NAMES:
        raise UnsupportedError(
            f"{source.path}: transformers {transformers.__version__} does not know the architecture "
            f"{source.architecture} (model_type {model_type!r}); a newer transformers may"
        )


def load_tokenizer(source: ModelSource):
    with quiet_imports():
        from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(source.path)


def load_model(source: ModelSource, device: str = "cpu"):
    """The base model (in host memory: the library onloads layers to `device`) in a dtype fit for quantizing
    there: its own dtype, except fp16 calibrated on the CPU (5-6x slower than fp32) -> fp32."""
    with quiet_imports():
        import torch
        from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(source.path, dtype="auto")
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"{source.path}: transformers cannot load this model ({type(err).__name__}: {first})") from err
    if model.dtype == torch.float16 and device == "cpu":
        model = model.to(torch.float32)
    model.eval()
    return model


def shape_only_model(source: ModelSource):
    """The architecture on torch's meta device: layer shapes and parameter count without reading weights."""
    with quiet_imports():
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source.path))


def logical_param_count(model) -> int:
    """Parameters of the unquantized model, tied weights counted once."""
    return sum(p.numel() for p in model.parameters())


def linear_in_features(model) -> dict[str, int]:
    """Input size of every Linear layer that gets quantized (all but the ignored head)."""
    import torch

    return {
        name: module.in_features
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] not in IGNORED_MODULES
    }
