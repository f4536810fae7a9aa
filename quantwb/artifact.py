"""Inspect a variant path (HF folder or .gguf file): format, weight bytes, parameters, bits per weight, hashes.

Everything is read from the artifact itself (tensor headers, config.json, the quantwb manifest when
present), so a checkpoint made elsewhere is described the same way as one quantwb made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from quantwb.errors import InputError
from quantwb.fileio import sha256_file
from quantwb.models import check_causal_lm, model_sha256
from quantwb.quantize.base import MANIFEST_NAME

# config.json quantization_config.quant_method -> quantwb method name
QUANT_METHODS = {"awq": "awq", "gptq": "gptq", "compressed-tensors": "compressed-tensors"}
# config.json dtype -> GGUF-style type name, for unquantized folders
FLOAT_TYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


@dataclass(frozen=True)
class ArtifactFacts:
    """What a variant is, measured from its files."""

    path: Path
    format: Literal["hf", "gguf"]
    name: str
    method: str
    quant_type: str | None
    size_bytes: int  # bytes of the weight files (HF: *.safetensors/*.bin; GGUF: the whole file)
    weight_bytes: int  # bytes of the weight tensors themselves
    n_params: int | None
    sha256: str
    source_sha256: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def bits_per_weight(self) -> float | None:
        """8 × weight bytes / logical parameters."""
        return 8 * self.weight_bytes / self.n_params if self.n_params else None


def inspect_artifact(path: Path, base_n_params: int | None = None) -> ArtifactFacts:
    """Describe `path`; `base_n_params` (the base's logical parameter count) is used for HF folders."""
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        return _gguf(path)
    if path.is_dir():
        return _hf(path, base_n_params)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    raise InputError(f"{path}: not a .gguf file or a Hugging Face model folder")


def _manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _hf(path: Path, base_n_params: int | None) -> ArtifactFacts:
    check_causal_lm(path)
    config = json.loads((path / "config.json").read_text())
    manifest = _manifest(path / MANIFEST_NAME)
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    size_bytes = sum(p.stat().st_size for p in weights)
    qc = config.get("quantization_config") or {}
    method = manifest.get("method") or QUANT_METHODS.get(qc.get("quant_method"), qc.get("quant_method") or "fp")
    bits, group = manifest.get("bits") or qc.get("bits"), manifest.get("group_size") or qc.get("group_size")
    if bits:
        quant_type = f"w{bits}g{'ch' if group in (None, -1) else group}"
    elif qc:
        quant_type = qc.get("format") or qc.get("quant_method")
    else:
        quant_type = FLOAT_TYPES.get(str(config.get("dtype") or config.get("torch_dtype")))
    parameters = {key: manifest[key] for key in ("bits", "group_size", "symmetric", "checkpoint_format", "backend", "options", "calibration") if key in manifest}
    if not parameters and qc:
        parameters = {"quantization_config": qc}
    return ArtifactFacts(
        path=path.resolve(), format="hf", name=manifest.get("name") or path.name, method=method, quant_type=quant_type,
        size_bytes=size_bytes, weight_bytes=size_bytes, n_params=base_n_params or safetensors_param_count(path),
        sha256=model_sha256(path), source_sha256=(manifest.get("source") or {}).get("sha256"), parameters=parameters,
    )


def safetensors_param_count(path: Path) -> int | None:
    """Elements stored in a folder's safetensors files (the logical count for an unquantized model)."""
    from safetensors import safe_open

    files = sorted(path.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with safe_open(str(file), "np") as handle:
            for key in handle.keys():
                shape = handle.get_slice(key).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += count
    return total


def _gguf(path: Path) -> ArtifactFacts:
    from quantwb.gguf_facts import read_gguf_facts

    facts = read_gguf_facts(path)  # a damaged file raises InputError here
    manifest = _manifest(path.with_name(path.name + ".manifest.json"))
    return ArtifactFacts(
        path=path.resolve(), format="gguf", name=manifest.get("name") or path.stem, method="gguf",
        quant_type=facts.file_type, size_bytes=facts.size_bytes, weight_bytes=facts.tensor_bytes,
        n_params=facts.n_params, sha256=sha256_file(path), source_sha256=(manifest.get("source") or {}).get("sha256"),
        parameters={key: manifest[key] for key in ("imatrix", "options", "calibration") if manifest.get(key)},
    )
