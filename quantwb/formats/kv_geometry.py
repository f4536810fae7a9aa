"""The shape of a model's KV cache (layers, KV heads, key and value widths), from its config.json or GGUF header,
so a RAM budget can count the cache a runtime holds at a given context length."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from quantwb.errors import InputError
from quantwb.formats.gguf_facts import read_gguf_facts, read_u32_keys

# bytes per cached element for llama.cpp's --cache-type-k/-v (ggml block bytes / block weights)
KV_TYPE_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
                 "q4_1": 20 / 32, "q4_0": 18 / 32}


@dataclass(frozen=True)
class KVGeometry:
    n_layers: int
    n_kv_heads: int
    key_dim: int
    value_dim: int

    def cache_bytes(self, n_ctx: int, kv_type: str = "f16") -> int:
        """Bytes of the K and V caches at `n_ctx` tokens: layers × KV heads × (key + value width) × tokens × bytes."""
        return int(self.n_layers * self.n_kv_heads * (self.key_dim + self.value_dim) * n_ctx * KV_TYPE_BYTES[kv_type])


def kv_geometry(path: Path) -> KVGeometry:
    """Read the geometry of the variant at `path` (an HF folder or a GGUF file); InputError if it cannot be read."""
    path = Path(path)
    if path.is_dir():
        return _from_config(path / "config.json")
    if path.is_file():
        return _from_gguf(path)
    raise InputError(f"{path}: the variant is not there to read its KV cache shape from (moved?)")


def _from_config(config_path: Path) -> KVGeometry:
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{config_path}: cannot read the model config ({err})") from err
    config = config.get("text_config") or config
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or config["hidden_size"] // heads)
    return KVGeometry(int(config["num_hidden_layers"]), int(config.get("num_key_value_heads") or heads), head_dim, head_dim)


def _from_gguf(path: Path) -> KVGeometry:
    arch = read_gguf_facts(path).architecture
    names = ["block_count", "attention.head_count", "attention.head_count_kv", "attention.key_length",
             "attention.value_length", "embedding_length"]
    values = {key.removeprefix(f"{arch}."): value for key, value in read_u32_keys(path, [f"{arch}.{n}" for n in names]).items()}
    if "block_count" not in values or "attention.head_count" not in values:
        raise InputError(f"{path}: the GGUF header does not give the attention shape of {arch}")
    heads = values["attention.head_count"]
    head_dim = values.get("embedding_length", 0) // heads
    return KVGeometry(values["block_count"], values.get("attention.head_count_kv", heads),
                      values.get("attention.key_length", head_dim), values.get("attention.value_length", head_dim))
