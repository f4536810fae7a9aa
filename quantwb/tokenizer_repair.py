"""Repair the tokenizer.json that transformers' GGUF->HF export writes for byte-level BPE vocabularies.

The export marks such a BPE `byte_fallback: true` with a SentencePiece-style decoder; llama.cpp's HF->GGUF
converter then writes a SentencePiece vocab that crashes on the first tokenize. A byte-level BPE never
falls back to bytes, so the flag is cleared and the plain ByteLevel decoder restored (same decoded text).
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
