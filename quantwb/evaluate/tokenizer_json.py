"""A model's tokenizer.json read by the `tokenizers` library alone, where it agrees with the base's tokenizer.

The evaluating parent process only checks each variant's tokenizer and decodes a few positions for the
record; transformers costs it seconds to import (measured: 3-8 s, 0.5 GB) against a twentieth of a second
for `tokenizers`. Only a file that has the base's whole vocabulary and encodes the text's opening to the
base's ids is used; anything else goes to transformers, which decides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from quantwb.evaluate.base_tokens import BaseTokens

if TYPE_CHECKING:  # imported where a file is read: `quantwb sweep --matrix` and `compare` run without `tokenizers`
    from tokenizers import Tokenizer


def agreeing_tokenizer(path: Path, base: BaseTokens) -> Tokenizer | None:
    """`path`'s tokenizer.json when it holds the base's vocabulary and encodes the base's sample to the base's
    ids (special-token strings read as plain text, as the base was tokenized); None otherwise."""
    file = path / "tokenizer.json"
    if not file.is_file():
        return None
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception:  # noqa: BLE001  (the library raises a bare Exception on a file it cannot read; transformers decides)
        return None
    if _cleans_up_spaces(path, tokenizer):
        return None
    tokenizer.encode_special_tokens = True
    n_tokens = tokenizer.get_vocab_size(with_added_tokens=True)
    if n_tokens != len(base.vocab) or tuple(tokenizer.id_to_token(i) for i in range(n_tokens)) != base.vocab:
        return None
    if tuple(tokenizer.encode(base.sample).ids) != base.sample_ids:
        return None
    return tokenizer


def _cleans_up_spaces(path: Path, tokenizer: Tokenizer) -> bool:
    """Whether transformers' decode edits spaces around punctuation after the library's (it does for a config asking
    it, except for BPE models unless forced, as transformers 5 reads the two keys): then transformers decodes."""
    config = path / "tokenizer_config.json"
    try:
        keys = json.loads(config.read_text()) if config.is_file() else {}
        if not keys.get("clean_up_tokenization_spaces", False):
            return False
        return type(tokenizer.model).__name__ != "BPE" or bool(
            keys.get("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False))
    except (OSError, ValueError, AttributeError):
        return True
