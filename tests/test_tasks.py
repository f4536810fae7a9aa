"""lm-eval tasks through quantwb on the tiny model: same numbers as `lm_eval --model hf`, cached, clean errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from quantwb.errors import EvaluationError, UnsupportedError
from quantwb.evaluate import task_cache, task_packs
from quantwb.evaluate.tasks import TaskConfig, run_tasks
from quantwb.records import read_record
from quantwb.texts import load_text
from tests.cli_helpers import invoke
from tests.standard_tasks import standard_task_on_local_data

LIMIT = 40  # ARC-Easy questions, 4 choices each


@pytest.fixture(scope="module")
def arc_config() -> TaskConfig:
    return TaskConfig(tasks=("arc_easy",), limit=LIMIT)  # quantwb ships all of ARC-Easy's validation rows


def _metrics(result) -> dict[tuple[str, str], tuple[float, float | None]]:
    return {(m.task, m.name): (m.value, m.stderr) for m in result.metrics}


def test_arc_easy_equals_lm_eval_hf(tiny_model: Path, arc_config: TaskConfig) -> None:
    """quantwb's numbers are lm-eval's: the same docs through `lm_eval --model hf` give the same accuracy."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    ours = run_tasks(tiny_model, arc_config)
    spec = task_packs.resolve_tasks(("arc_easy",), arc_config.tasks_dir, "wiki")[0].spec
    reference = simple_evaluate(
        model="hf",
        model_args={"pretrained": str(tiny_model), "device": "cpu", "dtype": "float32"},
        batch_size=arc_config.batch_size,
        tasks=[standard_task_on_local_data("arc_easy", spec)],  # lm-eval's own arc_easy YAML, local rows
        limit=LIMIT,
        log_samples=False,
        task_manager=TaskManager(include_defaults=False),  # the task comes as an object: skip indexing lm-eval's
    )["results"]["arc_easy"]
    got = _metrics(ours)
    assert got[("arc_easy", "acc")] == (reference["acc,none"], reference["acc_stderr,none"])
    assert got[("arc_easy", "acc_norm")] == (reference["acc_norm,none"], reference["acc_norm_stderr,none"])
    assert ours.settings["n_samples"] == {"arc_easy": LIMIT}
    # a binomial mean over 40 docs: value k/40 and stderr sqrt(p(1-p)/(n-1))
    acc, stderr = got[("arc_easy", "acc")]
    assert (acc * LIMIT) == pytest.approx(round(acc * LIMIT))
    assert stderr == pytest.approx(math.sqrt(acc * (1 - acc) / (LIMIT - 1)))
    assert all(m.higher_is_better and m.filter == "none" for m in ours.metrics)


def test_rerun_reuses_cached_results(tiny_model: Path, arc_config: TaskConfig) -> None:
    first = run_tasks(tiny_model, arc_config)  # computed by the test above in this session, or now
    again = run_tasks(tiny_model, arc_config)
    assert again.settings["reused_from_cache"] == ["arc_easy"]
    assert again.metrics == first.metrics
    assert len(list(task_cache.cache_dir().glob("arc_easy-*.json"))) >= 1


def test_text_ppl_is_lm_eval_wikitext_formula(tiny_model: Path) -> None:
    """word/byte perplexity and bits per byte from lm-eval agree with a direct transformers computation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = run_tasks(tiny_model, TaskConfig(tasks=("text_ppl",), text="wiki", limit=2))  # the packaged excerpt
    got = {m.name: m.value for m in result.metrics}
    assert all(not m.higher_is_better for m in result.metrics)

    documents = task_packs.split_documents(load_text("wiki").text)[:2]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    total_nats = 0.0
    for document in documents:  # each is shorter than one 2048-token window: one pass, BOS-conditioned
        ids = tokenizer(document, add_special_tokens=False)["input_ids"]
        assert len(ids) < 2048
        inputs = torch.tensor([[tokenizer.bos_token_id] + ids])
        with torch.no_grad():
            log_probs = torch.log_softmax(model(inputs).logits[0, :-1].double(), dim=-1)
        total_nats += float(log_probs[torch.arange(len(ids)), torch.tensor(ids)].sum())
    words = sum(len(document.split()) for document in documents)
    n_bytes = sum(len(document.encode()) for document in documents)
    assert got["word_perplexity"] == pytest.approx(math.exp(-total_nats / words), rel=1e-4)
    assert got["byte_perplexity"] == pytest.approx(math.exp(-total_nats / n_bytes), rel=1e-4)
    assert got["bits_per_byte"] == pytest.approx(-total_nats / n_bytes / math.log(2), rel=1e-4)


def test_cli_writes_a_tasks_record(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "records"
    result = invoke("eval", str(tiny_model), "--base", str(tiny_model), "--ctx", "64", "--chunks", "2", "--out", str(out),
                    "--tasks", "arc_easy", "--limit", str(LIMIT))
    assert result.exit_code == 0, result.output
    record = read_record(out / f"{tiny_model.name}.tasks.json")
    assert record.evaluation == "tasks"
    assert {m.name for m in record.metrics} == {"acc", "acc_norm"}
    assert all(m.task == "arc_easy" and m.stderr is not None and 0 <= m.value <= 1 for m in record.metrics)
    assert record.task_settings["limit"] == LIMIT
    assert (out / f"{tiny_model.name}.text.json").is_file()
    assert "arc_easy" in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tasks", "arc_easy,no_such_task"], "error: unknown task 'no_such_task'"),
        (["--tasks", "piqa", "--tasks-dir", "EMPTY"], "error: piqa: no data file"),
    ],
)
def test_cli_bad_task_is_one_line_and_writes_nothing(
    tiny_model: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "records"
    options = [str(empty) if option == "EMPTY" else option for option in options]
    result = invoke("eval", str(tiny_model), "--base", str(tiny_model), "--out", str(out), *options)
    assert result.exit_code == 2
    assert result.output.strip().startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_a_file_that_is_no_model_is_one_line(tmp_path: Path) -> None:
    cached_before = sorted(task_cache.cache_dir().glob("*.json"))
    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(UnsupportedError, match="not a GGUF file"):
        run_tasks(not_gguf, TaskConfig(tasks=("arc_easy",), limit=2))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(EvaluationError, match="lm-eval cannot load this gguf model") as caught:
        run_tasks(truncated, TaskConfig(tasks=("arc_easy",), limit=2))
    assert "\n" not in str(caught.value)
    assert sorted(task_cache.cache_dir().glob("*.json")) == cached_before


def test_config_rejects_nonsense() -> None:
    from quantwb.errors import InputError

    for bad in (dict(tasks=()), dict(tasks=("arc_easy", "arc_easy")), dict(tasks=("arc_easy",), limit=0)):
        with pytest.raises(InputError):
            TaskConfig(**bad)
