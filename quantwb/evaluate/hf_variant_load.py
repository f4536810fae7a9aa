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

    dtype = hf_dtype(path, device)
    try:
        if dtype == "float32" and stored_half_dtype(path) is not None:
            model = _load_widened(path, device)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map=device)
    except ImportError as err:
        # transformers says which package the checkpoint's format needs (optimum for classic GPTQ, ...)
        raise MissingPackageError(f"{path}: a package this checkpoint needs is not installed ({_first_line(err)})") from err
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise InputError(f"{path}: transformers cannot load this checkpoint ({type(err).__name__}: {_first_line(err)})") from err
    return model.eval()


def _load_widened(path: Path, device: str) -> Any:
    """A 16-bit checkpoint as a float32 model, each tensor read from the file (pread) and widened in turn.

    From a path, transformers maps the file and widens from the mapping, and the mapped pages stay resident
    beside the float32 copy: 1.62x the float32 bytes at peak on a 1.1B, against 1.15x read this way (the read
    transformers itself uses on Windows). The same loader places the tensors: same keys, same conversions."""
    import contextlib

    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, GenerationConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    config = AutoConfig.from_pretrained(path)
    model_class = MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]
    with contextlib.ExitStack() as files:
        handles = [files.enter_context(safe_open(str(file), framework="pt", device="cpu", backend="pread"))
                   for file in sorted(path.glob("*.safetensors"))]
        tensors = {name: handle.get_slice(name) for handle in handles for name in handle.keys()}  # read when placed
        model = model_class.from_pretrained(None, config=config, state_dict=tensors, dtype=torch.float32,
                                            device_map=device)
    with contextlib.suppress(OSError):  # what from_pretrained(path) reads beside the weights, where there is one
        model.generation_config = GenerationConfig.from_pretrained(path)
    return model


def stored_half_dtype(path: Path) -> str | None:
    """"bfloat16" or "float16" when every floating-point tensor in the folder's safetensors files is stored so."""
    floats: set[str] = set()
    for file in sorted(path.glob("*.safetensors")):
        with open(file, "rb") as handle:  # the header: its length (u64, little-endian), then JSON
            header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
        dtypes = {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}
        floats |= {dtype for dtype in dtypes if dtype == "BF16" or dtype.startswith("F")}  # F64…F8_*, not BOOL
    return _HALF.get(floats.pop()) if len(floats) == 1 else None


_HALF = {"BF16": "bfloat16", "F16": "float16"}


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
