"""Repair the tokenizer files transformers writes.

tokenizer.json from the GGUF->HF export of a byte-level BPE vocabulary: the export marks such a BPE
`byte_fallback: true` with a SentencePiece-style decoder; llama.cpp's HF->GGUF converter then writes a
SentencePiece vocab that crashes on the first tokenize. A byte-level BPE never falls back to bytes, so the flag
is cleared and the plain ByteLevel decoder restored (same decoded text).

tokenizer_config.json from any save: transformers records `local_files_only` (true when HF_HUB_OFFLINE was set),
how the tokenizer was loaded and no property of it, so the same folder made online and offline would differ in
that file and so in its content hash; it is dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

BYTE_LEVEL_DECODER = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}


def repair_byte_level_bpe(tokenizer: dict) -> bool:
    """Fix `tokenizer` (parsed tokenizer.json) in place; True when something was changed."""
    bpe = tokenizer.get("model") or {}
    byte_level = (tokenizer.get("pre_tokenizer") or {}).get("type") == "ByteLevel"
    if bpe.get("type") != "BPE" or not bpe.get("byte_fallback") or not byte_level:
        return False
    bpe["byte_fallback"] = False
    tokenizer["decoder"] = dict(BYTE_LEVEL_DECODER)
    return True


def repair_tokenizer_file(folder: Path) -> bool:
    """Apply `repair_byte_level_bpe` to `folder/tokenizer.json`, rewriting it only when needed."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        return False
    tokenizer = json.loads(path.read_text(encoding="utf-8"))
    if not repair_byte_level_bpe(tokenizer):
        return False
    path.write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    return True


def drop_load_options(folder: Path) -> bool:
    """Remove `local_files_only` from `folder/tokenizer_config.json`, rewriting it only when it was there."""
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return False
    config = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict) or "local_files_only" not in config:
        return False
    del config["local_files_only"]
    # transformers' own layout, so the file reads as it saved it
    path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return True
