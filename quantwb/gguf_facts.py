"""Memory facts of a written GGUF file, read back with gguf's GGUFReader: bytes, parameters, bits per weight.

`bits_per_weight` follows llama.cpp's loader ("file size = ... (X BPW)"): tensor data bytes x 8 / parameters,
so metadata (tokenizer, chat template) does not count; `file_bits_per_weight` counts the whole file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from quantwb.errors import InputError


@dataclass(frozen=True)
class TypeFacts:
    """The tensors stored in one ggml type (Q4_K, F32, ...)."""

    n_tensors: int
    n_params: int
    tensor_bytes: int

    @property
    def bits_per_weight(self) -> float:
        return self.tensor_bytes * 8 / self.n_params if self.n_params else 0.0


@dataclass(frozen=True)
class GGUFFacts:
    """What a GGUF file costs: sizes in bytes, parameter count, bits per weight overall and per tensor type."""

    path: Path
    size_bytes: int
    tensor_bytes: int
    n_params: int
    bits_per_weight: float
    file_bits_per_weight: float
    by_type: dict[str, TypeFacts]
    file_type: str
    architecture: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["by_type"] = {name: {**asdict(facts), "bits_per_weight": facts.bits_per_weight}
                           for name, facts in self.by_type.items()}
        return data


def read_gguf_facts(path: Path) -> GGUFFacts:
    """Read `path`'s tensor table and header; raise InputError if it is not a readable GGUF file."""
    from gguf import GGUFReader

    from quantwb.quantize.gguf_types import type_name_of_ftype

    path = Path(path)
    try:
        reader = GGUFReader(path)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable GGUF file ({err})") from err
    totals: dict[str, list[int]] = {}
    for tensor in reader.tensors:
        entry = totals.setdefault(tensor.tensor_type.name, [0, 0, 0])
        entry[0] += 1
        entry[1] += int(tensor.n_elements)
        entry[2] += int(tensor.n_bytes)
    by_type = {name: TypeFacts(*values) for name, values in sorted(totals.items(), key=lambda kv: -kv[1][2])}
    n_params = sum(facts.n_params for facts in by_type.values())
    tensor_bytes = sum(facts.tensor_bytes for facts in by_type.values())
    size_bytes = path.stat().st_size
    return GGUFFacts(
        path=path,
        size_bytes=size_bytes,
        tensor_bytes=tensor_bytes,
        n_params=n_params,
        bits_per_weight=tensor_bytes * 8 / n_params if n_params else 0.0,
        file_bits_per_weight=size_bytes * 8 / n_params if n_params else 0.0,
        by_type=by_type,
        file_type=type_name_of_ftype(int(_field(reader, "general.file_type", -1))),
        architecture=str(_field(reader, "general.architecture", "unknown")),
    )


def _field(reader: Any, key: str, default: Any) -> Any:
    field = reader.fields.get(key)
    return default if field is None else field.contents()
