"""An lm-eval model class for GGUF files, running llama.cpp in process (llama-cpp-python).

lm-eval's own `gguf` backend talks to a llama.cpp server and mis-reads logprobs (lm-eval issues #2525,
#1437). This class asks llama.cpp for the logits of every position instead and scores continuations
exactly as lm-eval's HF class does: continuation tokens = tokens(context + continuation) minus
tokens(context), empty contexts conditioned on BOS (else EOS), long inputs truncated from the left.
Being lm-eval's model class, this module is imported only when lm-eval runs (tasks.py): lm_eval at its top.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from lm_eval import utils as lm_utils  # noqa: TID253
from lm_eval.api.model import TemplateLM  # noqa: TID253
from lm_eval.api.registry import register_model  # noqa: TID253
from tqdm import tqdm

log = logging.getLogger(__name__)

MODEL_NAME = "quantwb-gguf"
DEFAULT_MAX_LENGTH = 2048  # tokens; llama.cpp keeps logits for every position, n_ctx x n_vocab floats


@register_model(MODEL_NAME)
class LlamaCppLM(TemplateLM):
    """lm-eval LM over one GGUF file: loglikelihood, loglikelihood_rolling, generate_until."""

    def __init__(
        self,
        pretrained: str,
        max_length: int | None = None,
        n_threads: int | None = None,
        max_gen_toks: int = 256,
        batch_size: int | str | None = None,  # accepted for lm-eval's interface; llama.cpp runs one sequence
        device: str = "cpu",  # resolved by quantwb: an accelerator only when llama.cpp was built to offload
        **_ignored: Any,  # max_batch_size: not meaningful for llama.cpp in process
    ) -> None:
        super().__init__()
        from llama_cpp import Llama

        threads = n_threads or os.cpu_count() or 1
        settings = dict(model_path=str(Path(pretrained)), logits_all=True, n_threads=threads, verbose=False,
                        n_gpu_layers=0 if device == "cpu" else -1)
        n_ctx = int(max_length or DEFAULT_MAX_LENGTH)
        self.llm = Llama(n_ctx=n_ctx, n_batch=min(512, n_ctx), **settings)
        if self.llm._model.n_ctx_train() < n_ctx:  # never score past the context the model was trained on
            n_ctx = self.llm._model.n_ctx_train()
            self.llm = Llama(n_ctx=n_ctx, n_batch=min(512, n_ctx), **settings)
        self._max_length = n_ctx
        self._max_gen_toks = int(max_gen_toks)
        self._bos_text = self.llm.detokenize([self.prefix_token_id], special=True).decode("utf-8", "replace")

    # ------------------------------------------------------------------ tokens
    @property
    def eot_token_id(self) -> int:
        return int(self.llm.token_eos())

    @property
    def prefix_token_id(self) -> int:
        """BOS when the vocabulary has one, else EOS (lm-eval's HF class does the same)."""
        bos = int(self.llm.token_bos())
        return bos if bos >= 0 else self.eot_token_id

    @property
    def max_length(self) -> int:
        return self._max_length

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        """Tokens of `string`; BOS is added when the GGUF asks for it (like HF's add_special_tokens=True),
        unless the text already starts with it. Special-token text is parsed, as HF tokenizers do."""
        add_bos = add_special_tokens if add_special_tokens is not None else not string.startswith(self._bos_text)
        return self.llm.tokenize(string.encode("utf-8"), add_bos=add_bos, special=True)

    def tok_decode(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", "replace")

    # ------------------------------------------------------------------ scoring
    def _loglikelihood_tokens(
        self, requests: list[tuple[tuple[str, str], list[int], list[int]]], disable_tqdm: bool = False, **kwargs: Any
    ) -> list[tuple[float, bool]]:
        """(sum of continuation log-probs in nats, continuation is the greedy one) per request."""
        # Sorted by tokens so that requests sharing a context run back to back and reuse its KV cache.
        order = sorted(range(len(requests)), key=lambda i: requests[i][1] + requests[i][2])
        results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
        for index in tqdm(order, desc="Running loglikelihood requests (llama.cpp)", disable=disable_tqdm):
            _, context_enc, continuation_enc = requests[index]
            results[index] = self._score(context_enc, continuation_enc)
            cache_key = requests[index][0]
            if cache_key is not None:
                self.cache_hook.add_partial("loglikelihood", cache_key, results[index])
        return results

    def _score(self, context_enc: list[int], continuation_enc: list[int]) -> tuple[float, bool]:
        if not context_enc or not continuation_enc:
            raise ValueError("lm-eval passed an empty context or continuation")
        # As lm-eval's HF class: keep the last max_length+1 tokens, feed all but the last.
        window = (context_enc + continuation_enc)[-(self.max_length + 1) :]
        inputs = window[:-1]
        n_cont = len(continuation_enc)
        logits = self._logits(inputs, first=len(inputs) - n_cont)
        log_probs = logits - _logsumexp(logits)
        picked = log_probs[np.arange(n_cont), continuation_enc]
        greedy = bool(np.all(np.argmax(logits, axis=-1) == np.asarray(continuation_enc)))
        return float(np.sum(picked, dtype=np.float64)), greedy

    def _logits(self, tokens: list[int], first: int) -> np.ndarray:
        """Logits (float64) of the positions first.. of `tokens`, reusing the KV cache of the common prefix."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        keep = 0
        for old, new in zip(cached, tokens[:-1], strict=False):  # always evaluate at least the last token
            if old != new:
                break
            keep += 1
        llm.n_tokens = keep
        llm.eval(tokens[keep:])
        return llm.scores[first : len(tokens)].astype(np.float64)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Log-likelihood of whole texts in disjoint windows of max_length tokens (lm-eval's HF scheme)."""
        totals = []
        texts = [request.args for request in requests]
        for (string,) in tqdm(texts, desc="Rolling loglikelihood (llama.cpp)", disable=disable_tqdm):
            windows = map(
                lm_utils.make_disjoint_window,
                lm_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(string),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                ),
            )
            scored = self._loglikelihood_tokens([(None, context, target) for context, target in windows], disable_tqdm=True)
            total = sum(logprob for logprob, _ in scored)
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
            totals.append(total)
        return totals

    # ------------------------------------------------------------------ generation
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Greedy continuation (or sampled, if the task asks for a temperature) up to a stop string."""
        outputs = []
        for context, gen_kwargs in [request.args for request in requests]:
            kwargs = dict(gen_kwargs)
            until = kwargs.pop("until", None) or []
            until = [text for text in ([until] if isinstance(until, str) else until) if text]  # "" would stop at once
            max_new = int(kwargs.pop("max_gen_toks", self._max_gen_toks))
            temperature = float(kwargs.pop("temperature", 0.0)) if kwargs.pop("do_sample", False) else 0.0
            prompt = self.tok_encode(context)[-(self.max_length - max_new) :]
            completion = self.llm.create_completion(
                prompt=prompt, max_tokens=max_new, temperature=temperature, stop=until, echo=False
            )
            text = completion["choices"][0]["text"]
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            outputs.append(text)
        return outputs


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    return top + np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
