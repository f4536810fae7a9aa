"""A written variant (HF folder or GGUF file) and what its own files say about it: format, bytes, parameters, bits.

Everything is read from the variant itself (tensor headers, config.json, the quantwb manifest when present),
so a checkpoint made elsewhere is described the same way as one quantwb made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from quantwb.checkpoint_files import check_weight_files, read_config
from quantwb.fileio import sha256_file
from quantwb.formats.gguf_facts import read_gguf_facts
from quantwb.formats.kind import VariantKind, variant_kind
from quantwb.formats.manifest import read_manifest
from quantwb.models import model_sha256

# config.json quantization_config.quant_method -> quantwb method name
QUANT_METHODS = {"awq": "awq", "gptq": "gptq", "compressed-tensors": "compressed-tensors", "auto-round": "autoround"}
# config.json dtype -> GGUF-style type name, for unquantized folders
FLOAT_TYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}
# manifest keys that describe how an HF variant was made
_HF_PARAMETERS = ("bits", "group_size", "symmetric", "checkpoint_format", "backend", "options", "calibration", "activations",
                  "cpu_execution")
_GGUF_PARAMETERS = ("imatrix", "options", "calibration", "mix", "backend")


@dataclass(frozen=True)
class Variant:
    """What a written variant is, measured from its files."""

    path: Path
    format: VariantKind
    name: str
    method: str
    quant_type: str | None
    size_bytes: int  # bytes of the weight files (HF: *.safetensors/*.bin; GGUF: the whole file)
    weight_bytes: int  # bytes of the weight tensors themselves
    n_params: int | None  # logical parameters (an unquantized model's count)
    source_sha256: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)  # quantwb's manifest; {} for a variant made elsewhere
    tensor_types: dict[str, int] | None = None  # GGUF: tensors per ggml type, read from the file's tensor table

    @property
    def bits_per_weight(self) -> float | None:
        """8 × weight bytes / logical parameters."""
        return 8 * self.weight_bytes / self.n_params if self.n_params else None

    @cached_property
    def sha256(self) -> str:
        return content_sha256(self.path, self.format)


def content_sha256(path: Path, kind: VariantKind) -> str:
    """A variant's content hash: the whole GGUF file, or the files that define an HF model."""
    return sha256_file(path) if kind == "gguf" else model_sha256(path)


def read_variant(path: Path) -> Variant:
    """Describe the variant at `path`; one line (InputError) for anything that is not one."""
    path = Path(path)
    return _gguf(path) if variant_kind(path) == "gguf" else _hf(path)


def _hf(path: Path) -> Variant:
    config = read_config(path)
    check_weight_files(path)
    manifest = read_manifest(path)
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    size_bytes = sum(p.stat().st_size for p in weights)
    qc = config.get("quantization_config") or {}
    method = manifest.get("method") or QUANT_METHODS.get(qc.get("quant_method"), qc.get("quant_method") or "fp")
    bits, group = manifest.get("bits") or qc.get("bits"), manifest.get("group_size") or qc.get("group_size")
    if manifest.get("scheme"):
        quant_type = manifest["scheme"]  # what quantwb named it: w4g64, W8A8, FP8_DYNAMIC
    elif bits:
        quant_type = f"w{bits}g{'ch' if group in (None, -1) else group}"
    elif qc:
        quant_type = qc.get("format") or qc.get("quant_method")
    else:
        quant_type = FLOAT_TYPES.get(str(config.get("dtype") or config.get("torch_dtype")))
    parameters = {key: manifest[key] for key in _HF_PARAMETERS if key in manifest}
    if not parameters and qc:
        parameters = {"quantization_config": qc}
    # A quantized folder stores packed tensors: its logical count comes from the manifest (or the base, in evaluation).
    n_params = manifest.get("n_params") or (None if qc else safetensors_param_count(path))
    return Variant(
        path=path.resolve(), format="hf", name=manifest.get("name") or path.name, method=method, quant_type=quant_type,
        size_bytes=size_bytes, weight_bytes=size_bytes, n_params=n_params,
        source_sha256=(manifest.get("source") or {}).get("sha256"), parameters=parameters, manifest=manifest,
    )


def _gguf(path: Path) -> Variant:
    facts = read_gguf_facts(path)  # a damaged file raises InputError here
    manifest = read_manifest(path)
    return Variant(
        path=path.resolve(), format="gguf", name=manifest.get("name") or path.stem, method=manifest.get("method") or "gguf",
        # a mix's file type names only the reference type it was written with: its label says what it is
        quant_type=(manifest.get("mix") or {}).get("label") or facts.file_type,
        size_bytes=facts.size_bytes, weight_bytes=facts.tensor_bytes,
        n_params=facts.n_params, source_sha256=(manifest.get("source") or {}).get("sha256"),
        parameters={key: manifest[key] for key in _GGUF_PARAMETERS if manifest.get(key)}, manifest=manifest,
        tensor_types={name: facts.n_tensors for name, facts in facts.by_type.items()},
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
                count = 1
                for dim in handle.get_slice(key).get_shape():
                    count *= dim
                total += count
    return total
