"""Loading a Hugging Face checkpoint for measuring: one dtype rule, one line when it cannot load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quantwb.errors import InputError, MissingPackageError


def hf_dtype(path: Path) -> str:
    """float32 for unquantized weights; a quantized checkpoint's own dtype, as its loader decides."""
    config = json.loads((path / "config.json").read_text())
    return "auto" if config.get("quantization_config") else "float32"


def load_causal_lm(path: Path) -> Any:
    """transformers' model for `path` on the CPU, in eval mode."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=hf_dtype(path), device_map="cpu")
    except ImportError as err:
        # transformers says which package the checkpoint's format needs (optimum for classic GPTQ, ...)
        raise MissingPackageError(f"{path}: a package this checkpoint needs is not installed ({_first_line(err)})") from err
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise InputError(f"{path}: transformers cannot load this checkpoint ({type(err).__name__}: {_first_line(err)})") from err
    return model.eval()


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
