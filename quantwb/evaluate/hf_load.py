"""Loading a Hugging Face checkpoint for measuring: one dtype rule, one line when it cannot load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quantwb.devices import unquantized_dtype
from quantwb.errors import InputError, MissingPackageError


def hf_dtype(path: Path, device: str = "cpu") -> str:
    """Unquantized weights: float32 on the CPU, bfloat16 on an accelerator; a quantized checkpoint's own dtype,
    as its loader decides."""
    config = json.loads((path / "config.json").read_text())
    return "auto" if config.get("quantization_config") else unquantized_dtype(device)


def load_causal_lm(path: Path, device: str = "cpu") -> Any:
    """transformers' model for `path` on `device` (a resolved device: cpu, cuda, cuda:N), in eval mode."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=hf_dtype(path, device), device_map=device)
    except ImportError as err:
        # transformers says which package the checkpoint's format needs (optimum for classic GPTQ, ...)
        raise MissingPackageError(f"{path}: a package this checkpoint needs is not installed ({_first_line(err)})") from err
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise InputError(f"{path}: transformers cannot load this checkpoint ({type(err).__name__}: {_first_line(err)})") from err
    return model.eval()


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
