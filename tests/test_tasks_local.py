"""Any lm-eval task offline: lm-eval's own registered config (sciq is not in quantwb's pack) reads a few rows the
test writes, for an HF folder and a GGUF file, and scores as lm-eval itself scores that config; missing data is one
line naming the expected file, at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from quantwb.errors import DataError
from quantwb.evaluate import task_packs
from quantwb.evaluate.tasks import TaskConfig, load_lm, run_tasks
from quantwb.models import resolve
from quantwb.quantize.gguf import quantize_gguf
from tests.cli_helpers import invoke, one_error_line

ROWS = [
    {"question": "What do plants need to make food?", "distractor1": "salt", "distractor2": "sand", "distractor3": "metal",
     "correct_answer": "sunlight", "support": "Plants use sunlight, water and air to make their food."},
    {"question": "What is frozen water called?", "distractor1": "steam", "distractor2": "rain", "distractor3": "mud",
     "correct_answer": "ice", "support": "When water gets very cold it freezes into ice."},
    {"question": "Which animal says moo?", "distractor1": "cat", "distractor2": "dog", "distractor3": "bird",
     "correct_answer": "cow", "support": "The cow on the farm says moo."},
    {"question": "What falls from clouds?", "distractor1": "stones", "distractor2": "toys", "distractor3": "bread",
     "correct_answer": "rain", "support": "Rain falls from the dark clouds in the sky."},
]


@pytest.fixture(scope="module")
def tasks_dir(module_dir) -> Path:
    folder = module_dir("tasks")
    (folder / "sciq").mkdir()
    (folder / "sciq" / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return folder


def _scores(metrics) -> dict[str, float]:
    return {m.name: m.value for m in metrics}


def _lm_eval_own_scores(tiny_model: Path, tasks_dir: Path) -> dict[str, float]:
    """lm-eval's simple_evaluate on its registered sciq config with only the dataset swapped, by hand."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    entry = TaskManager().task_index["sciq"]
    from lm_eval.tasks._yaml_loader import load_yaml

    config = {**load_yaml(entry.yaml_path, resolve_func=True), "dataset_path": "json", "dataset_name": None,
              "dataset_kwargs": {"data_files": {"test": str(tasks_dir / "sciq" / "test.jsonl")}},
              "training_split": None, "validation_split": None}
    lm = load_lm(tiny_model, "hf", TaskConfig(tasks=("sciq",)))
    output = simple_evaluate(model=lm, tasks=[config], log_samples=False, task_manager=TaskManager(include_defaults=False))
    return {key.split(",")[0]: value for key, value in output["results"]["sciq"].items()
            if "," in key and "_stderr" not in key and isinstance(value, float)}


def test_sciq_offline_for_hf_and_gguf_and_equal_to_lm_eval(tiny_model: Path, tasks_dir: Path, tmp_path: Path) -> None:
    config = TaskConfig(tasks=("sciq",), tasks_dir=tasks_dir)
    hf = run_tasks(tiny_model, config)
    assert set(_scores(hf.metrics)) == {"acc", "acc_norm"} and hf.settings["n_samples"] == {"sciq": len(ROWS)}
    assert _scores(hf.metrics) == _lm_eval_own_scores(tiny_model, tasks_dir)
    (gguf,) = quantize_gguf(resolve(str(tiny_model)), ["Q8_0"], tmp_path)
    on_gguf = run_tasks(gguf.path, config)
    assert on_gguf.settings["n_samples"] == {"sciq": len(ROWS)} and set(_scores(on_gguf.metrics)) == {"acc", "acc_norm"}
    assert all(0.0 <= value <= 1.0 for value in _scores(on_gguf.metrics).values())


def test_missing_data_of_a_group_member_is_named_at_once(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(DataError):
        task_packs.resolve_tasks(("mmlu",), tmp_path, "wiki")  # builds lm-eval's index once (seconds)
    started = time.process_time()  # CPU seconds: the test machine may be loaded by other work
    with pytest.raises(DataError, match=r"mmlu's member mmlu_\w+: no local data, expected .*mmlu_\w+/test\.jsonl"):
        task_packs.resolve_tasks(("mmlu",), tmp_path, "wiki")
    assert time.process_time() - started < 1.0
    result = invoke("eval", str(tiny_model), "--base", str(tiny_model), "--tasks", "openbookqa", "--tasks-dir", str(tmp_path))
    assert result.exit_code == 2 and "openbookqa/test.jsonl" in one_error_line(result)
