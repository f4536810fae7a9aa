"""The in-process llama.cpp lm-eval class scores like lm-eval's HF class on the same (tiny) model."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.evaluate.tasks import TaskConfig, run_tasks


class _Request:
    """The one attribute of lm-eval's Instance that LM methods read."""

    def __init__(self, *args) -> None:
        self.args = args


REQUESTS = [
    ("Question: Which technology was developed most recently?\nAnswer:", " cellular telephone"),
    ("Question: Which technology was developed most recently?\nAnswer:", " airplane"),
    ("Once upon a time there was a little girl named", " Lily"),
    ("The cat sat on the ", "mat."),  # trailing space moves into the continuation, as lm-eval does
    ("", "Hello world, this is a test."),  # empty context: conditioned on BOS
    ("One day the sun was bright and the sky was blue, and Lily ran to the big tree to find her", " ball. She was happy."),
]


@pytest.fixture(scope="module")
def hf_lm(tiny_model: Path):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(tiny_model), device="cpu", dtype="float32", batch_size=1)


@pytest.fixture(scope="module")
def gguf_files(tiny_model: Path) -> dict[str, Path]:
    from quantwb.models import resolve
    from quantwb.quantize.gguf_convert import convert_to_gguf

    source = resolve(str(tiny_model))
    return {name: convert_to_gguf(source, name) for name in ("F32", "F16")}


def _greedy_continuation(hf_lm, context: str, max_tokens: int = 8) -> str:
    """HF's greedy continuation of `context`, cut to the longest prefix whose text tokenizes back to the same ids.

    Greedy ids need not survive decoding: the tiny model's eight '.' tokens decode to "........", which the
    tokenizer reads back as one token, and lm-eval's is_greedy compares the re-tokenized continuation."""
    import torch

    ids = hf_lm.tok_encode(context)
    with torch.no_grad():
        new = hf_lm.model.generate(torch.tensor([ids]), max_new_tokens=max_tokens, do_sample=False)[0, len(ids):].tolist()
    for n in range(len(new), 0, -1):
        text = hf_lm.tokenizer.decode(new[:n])
        if hf_lm._encode_pair(context, text)[1] == new[:n]:
            return text
    raise AssertionError(f"no prefix of the greedy ids {new} tokenizes back to itself")


def _continuation_tokens(lm, context: str, continuation: str) -> int:
    return len(lm._encode_pair(context, continuation)[1]) if context else len(lm.tok_encode(continuation)) - 1


def test_registered_with_lm_eval() -> None:
    from lm_eval.api.registry import get_model

    from quantwb.evaluate.lmeval_gguf import MODEL_NAME, LlamaCppLM

    assert get_model(MODEL_NAME) is LlamaCppLM


@pytest.mark.parametrize(("gguf_type", "nats_per_token"), [("F32", 3e-4), ("F16", 1e-3)])
def test_loglikelihood_matches_hf(hf_lm, gguf_files: dict[str, Path], gguf_type: str, nats_per_token: float) -> None:
    """Same tokens, same log-likelihoods: off by float rounding only (F16 also rounds weights and activations)."""
    from quantwb.evaluate.lmeval_gguf import LlamaCppLM

    gguf_lm = LlamaCppLM(pretrained=str(gguf_files[gguf_type]))
    requests = [*REQUESTS, ("Once upon a time", _greedy_continuation(hf_lm, "Once upon a time"))]
    for context, continuation in requests:  # identical tokenization, including the split point
        if context:
            assert gguf_lm._encode_pair(context, continuation) == hf_lm._encode_pair(context, continuation)
    expected = hf_lm.loglikelihood([_Request(*r) for r in requests])
    got = gguf_lm.loglikelihood([_Request(*r) for r in requests])
    assert expected[-1][1] and got[-1][1]  # HF's own greedy text is greedy for llama.cpp too
    for (context, continuation), (ll_hf, greedy_hf), (ll_gguf, greedy_gguf) in zip(requests, expected, got, strict=True):
        n_tokens = _continuation_tokens(hf_lm, context, continuation)
        assert abs(ll_gguf - ll_hf) <= nats_per_token * n_tokens, (context, continuation, ll_hf, ll_gguf)
        assert greedy_gguf == greedy_hf
    assert abs(got[0][0] - got[1][0]) > 1.0  # the choices really differ, so agreement is not trivial


def test_rolling_and_generation_match_hf(tiny_model: Path, gguf_files: dict[str, Path]) -> None:
    """Rolling windows of 64 tokens over a longer text (lm-eval's perplexity scheme) and greedy generation."""
    from lm_eval.models.huggingface import HFLM

    from quantwb.evaluate.lmeval_gguf import LlamaCppLM

    hf_short = HFLM(pretrained=str(tiny_model), device="cpu", dtype="float32", batch_size=1, max_length=64)
    gguf_short = LlamaCppLM(pretrained=str(gguf_files["F32"]), max_length=64)
    text = (
        "Once upon a time there was a little girl named Lily. She liked to play in the park with her dog. "
        "One day the sun was bright and the sky was blue, and Lily ran to the big tree to find her ball. "
    ) * 3
    n_tokens = len(hf_short.tok_encode(text))
    assert n_tokens > 2 * 64  # at least three windows
    (expected,) = hf_short.loglikelihood_rolling([_Request(text)])
    (got,) = gguf_short.loglikelihood_rolling([_Request(text)])
    assert abs(got - expected) <= 3e-4 * n_tokens
    assert expected < -n_tokens * 0.1  # a real sum over every token, not one window

    ask = _Request("Once upon a time there was", {"until": ["."], "max_gen_toks": 12, "do_sample": False})
    assert gguf_short.generate_until([ask]) == hf_short.generate_until([ask])


def test_arc_easy_through_gguf_class(tiny_model: Path, gguf_files: dict[str, Path]) -> None:
    """run_tasks on the F16 GGUF gives HF's accuracy (within one question of 20) and the right backend."""
    config = TaskConfig(tasks=("arc_easy",), limit=20)  # packaged ARC-Easy rows
    gguf = {m.name: m.value for m in run_tasks(gguf_files["F16"], config).metrics}
    hf = {m.name: m.value for m in run_tasks(tiny_model, config).metrics}
    assert set(gguf) == {"acc", "acc_norm"}
    for name in gguf:
        assert abs(gguf[name] - hf[name]) <= 1 / 20 + 1e-9
