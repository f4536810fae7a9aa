"""The one cache-key rule: every cache names an entry by `cache_key(cache, **parts)`.

The key is the sha256 of the cache's name, its format number (FORMATS) and the parts, as sorted JSON (values JSON
does not know, such as paths, by str()). Invalidation follows from it alone: an entry is reused only when its cache's
format and every part are equal. A part is whatever the cached numbers depend on (hashes of the model, the text and
the code, settings, library versions); a change in how a cache stores its entries bumps its format here.
"""

from __future__ import annotations

import json
from typing import Any

from quantwb.fileio import sha256_text

FORMATS = {
    "base-logprobs": 2,  # evaluate/base_cache: 2 added token_strings.json and the opening's ids in meta.json
    "base-logprobs-topk": 2,  # the same with --kld-topk: 2 stores the tail as drawn token ids
    "task-scores": 1,  # evaluate/task_cache: one lm-eval task's metrics for one variant
    "mix-scan": 1,  # mix/scan: the folder of one scan (converted model, base cache, reference type, llama.cpp)
    "mix-measurement": 1,  # mix/scan: one (group, option) measured in that folder
    "mix-errors": 1,  # mix/qerror: the folder of each tensor's weighted quantization errors per candidate type
    "mix-imatrix": 1,  # mix/imatrix_choice: the importance matrix computed on a choosing text
    "gguf": 1,  # quantize/gguf: a complete GGUF a rerun keeps (source, type, imatrix, llama.cpp)
    "step": 1,  # sweep/steps: one step of a sweep (its kind, quantwb's measuring code, its inputs)
}


def cache_key(cache: str, /, **parts: Any) -> str:
    """The key (64 hex digits) of an entry of `cache` (a FORMATS name) made from `parts`; callers may shorten it."""
    payload = {"cache": cache, "format": FORMATS[cache], **parts}
    return sha256_text(json.dumps(payload, sort_keys=True, default=str))
