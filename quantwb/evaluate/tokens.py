"""Tokenize once with the base's tokenizer; a variant whose own tokenizer disagrees is an error.

Both runners are fed the base's ids, so what must agree is the id -> token-string table (checked in full)
and, as a guard against different normalisation, the encoding of the text's opening. A whole-text
comparison would be wrong: llama.cpp's and HF's pre-tokenizers split some rare spans differently (SmolLM2:
"\n\n" before a digit) while the vocabularies are identical.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from quantwb.errors import InputError
from quantwb.evaluate.base_tokens import BaseTokens
from quantwb.evaluate.gguf_runner import load_llama
from quantwb.evaluate.tokenizer_json import agreeing_tokenizer
from quantwb.workers import run_isolated

SAMPLE_CHARS = 4000  # the check tokenizes the text's opening; a different vocabulary shows up at once


class TokenizerMismatchError(InputError):
    """The variant's tokenizer maps the same text to other ids than the base's."""


def hf_tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"{path}: no usable tokenizer ({type(err).__name__})") from err
    tokenizer.model_max_length = sys.maxsize  # we cut windows ourselves; silence the length warning
    return tokenizer


def _encode(tokenizer, text: str) -> list[int]:
    """Ids with the tokenizer's own BOS/EOS, but special-token strings inside the text read as plain text,
    as llama.cpp's perplexity tool tokenizes (parse_special=false)."""
    return tokenizer(text, split_special_tokens=True)["input_ids"]


def _adds_bos(tokenizer) -> int | None:
    bos = tokenizer.bos_token_id
    probe = _encode(tokenizer, "a")
    return bos if bos is not None and probe and probe[0] == bos else None


def tokenize_base(base_path: Path, text: str) -> BaseTokens:
    """Token ids of `text` as the base tokenizes it (with its BOS, like llama.cpp's common_tokenize)."""
    tokenizer = hf_tokenizer(base_path)
    ids = np.asarray(_encode(tokenizer, text), dtype=np.int32)
    sample = text[:SAMPLE_CHARS]
    return BaseTokens(ids=ids, bos_id=_adds_bos(tokenizer), sample=sample, sample_ids=tuple(_encode(tokenizer, sample)),
                      vocab=_hf_vocab(tokenizer))


def tokenize_gguf_base(base_path: Path, text: str) -> BaseTokens:
    """Token ids of `text` as llama.cpp tokenizes it for a GGUF base (llama-perplexity's common_tokenize: the
    vocabulary's own special tokens added, special-token strings in the text read as plain text)."""
    sample = text[:SAMPLE_CHARS]
    (ids, sample_ids), vocab, bos_id = _gguf_view(base_path, (text, sample))
    return BaseTokens(ids=np.asarray(ids, dtype=np.int32), bos_id=bos_id, sample=sample, sample_ids=sample_ids, vocab=vocab)


def cached_base_tokens(meta: dict, token_strings: tuple[str, ...], text: str) -> BaseTokens:
    """The BaseTokens view a complete base cache holds (ids left empty: the cache has them), no tokenizer loaded."""
    sample = text[:SAMPLE_CHARS]
    return BaseTokens(ids=np.zeros(0, dtype=np.int32), bos_id=meta["bos_id"], sample=sample,
                      sample_ids=tuple(meta["sample_ids"]), vocab=token_strings)


def _hf_vocab(tokenizer) -> tuple[str, ...]:
    return tuple(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))


def variant_tokenizer_view(fmt: Literal["hf", "gguf"], path: Path, sample: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """How the variant's own tokenizer encodes `sample` (special tokens as its model adds them), and its vocabulary."""
    if fmt == "hf":
        tokenizer = hf_tokenizer(path)
        return tuple(_encode(tokenizer, sample)), _hf_vocab(tokenizer)
    # llama.cpp aborts the whole process on some damaged vocabularies (duplicate token strings: GGML_ASSERT):
    # it reads this one in a child, and an abort becomes one line with llama.cpp's own message.
    return run_isolated(_gguf_tokenizer_view, (path, sample), f"llama.cpp loading {path}",
                        on_abort=lambda message: InputError(f"llama.cpp aborted loading {path}: {message}"))


def _gguf_tokenizer_view(job: tuple[Path, str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """In a child process: the GGUF's vocabulary and its encoding of the sample (verbose, so an assert is printed)."""
    path, sample = job
    os.environ["GGML_NO_BACKTRACE"] = "1"  # a dying ggml would otherwise attach gdb for a backtrace (this child's own env)
    (ids,), texts, _ = _gguf_view(path, (sample,), verbose=True)
    return ids, texts


def _gguf_view(path: Path, texts: tuple[str, ...], verbose: bool = False
               ) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...], int | None]:
    """llama.cpp's ids for each of `texts` (BOS as its vocabulary says, special strings as plain text), the
    vocabulary's token strings, and the BOS id it adds (None: it adds none)."""
    import llama_cpp

    vocab_only = load_llama(path, vocab_only=True, verbose=verbose)
    try:
        vocab = llama_cpp.llama_model_get_vocab(vocab_only.model)
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        ids = tuple(tuple(vocab_only.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)) for text in texts)
        strings = tuple(llama_cpp.llama_vocab_get_text(vocab, i).decode("utf-8", "replace")
                        for i in range(llama_cpp.llama_vocab_n_tokens(vocab)))
        return ids, strings, int(llama_cpp.llama_vocab_bos(vocab)) if add_bos else None
    finally:
        vocab_only.close()


def _first_difference(theirs: tuple, base: tuple) -> int | None:
    """First index where the sequences differ (a length difference counts at the shorter's end); None if equal."""
    if theirs == base:
        return None
    return next((i for i, (a, b) in enumerate(zip(theirs, base, strict=False)) if a != b), min(len(theirs), len(base)))


def _mismatch(path: Path, difference: str) -> TokenizerMismatchError:
    return TokenizerMismatchError(
        f"{path}: its tokenizer disagrees with the base's ({difference}); evaluate it against the model it was made from"
    )


def check_tokenizer(fmt: Literal["hf", "gguf"], path: Path, base: BaseTokens) -> None:
    """Raise TokenizerMismatchError (one line) unless vocabularies and the opening's ids agree."""
    if fmt == "hf" and agreeing_tokenizer(path, base) is not None:
        return
    theirs, vocab = variant_tokenizer_view(fmt, path, base.sample)
    if len(vocab) != len(base.vocab):
        raise _mismatch(path, f"{len(vocab)} tokens in its vocabulary, the base has {len(base.vocab)}")
    at = _first_difference(vocab, base.vocab)
    if at is not None:
        raise _mismatch(path, f"token id {at} is {vocab[at]!r}, the base's is {base.vocab[at]!r}")
    at = _first_difference(theirs, base.sample_ids)
    if at is not None:
        raise _mismatch(path, f"first difference at token {at} of the text's opening: "
                              f"{list(theirs[at:at + 3])} vs {list(base.sample_ids[at:at + 3])}")


def gguf_detokenizer(path: Path) -> Callable[[Sequence[int]], str]:
    """Token ids -> text with a GGUF's own vocabulary (llama.cpp, vocabulary only); the loaded vocabulary lives as
    long as the function."""
    vocab_only = load_llama(path, vocab_only=True)

    def decode(ids: Sequence[int]) -> str:
        return vocab_only.detokenize([int(i) for i in ids]).decode("utf-8", "replace")

    return decode
