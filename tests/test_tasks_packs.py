"""The offline task pack: same prompts as lm-eval's standard tasks, local data, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.errors import DataError, InputError
from quantwb.evaluate import task_packs
from tests.standard_tasks import STANDARD_YAML, standard_task_on_local_data

PACKAGED_TASKS = ("arc_easy", "hellaswag")  # quantwb ships their rows; the others' rows are in ../shared only


@pytest.mark.parametrize("name", sorted(STANDARD_YAML))
def test_pack_renders_the_same_prompts_as_lm_eval(name: str, request: pytest.FixtureRequest) -> None:
    from lm_eval.api.task import ConfigurableTask

    tasks_dir = None if name in PACKAGED_TASKS else request.getfixturevalue("shared_data") / "tasks"
    ours_spec = task_packs.resolve_tasks((name,), tasks_dir, "wiki")[0].spec
    ours = ConfigurableTask(config=dict(ours_spec))
    theirs = standard_task_on_local_data(name, ours_spec)
    assert ours.OUTPUT_TYPE == theirs.OUTPUT_TYPE
    assert sorted(ours._metric_fn_list) == sorted(theirs._metric_fn_list)
    assert ours.higher_is_better() == theirs.higher_is_better()
    docs_ours, docs_theirs = list(ours.eval_docs)[:8], list(theirs.eval_docs)[:8]
    assert len(docs_ours) == 8
    for doc_ours, doc_theirs in zip(docs_ours, docs_theirs, strict=True):
        assert ours.doc_to_text(doc_ours) == theirs.doc_to_text(doc_theirs)
        assert ours.doc_to_target(doc_ours) == theirs.doc_to_target(doc_theirs)
        if ours.OUTPUT_TYPE == "multiple_choice":
            assert ours.doc_to_choice(doc_ours) == theirs.doc_to_choice(doc_theirs)


def test_text_ppl_uses_lm_eval_wikitext_metrics() -> None:
    import lm_eval.tasks
    from lm_eval.tasks._yaml_loader import load_yaml

    ours = task_packs.load_pack_yaml("text_ppl")
    wikitext = load_yaml(Path(lm_eval.tasks.__file__).parent / "wikitext/wikitext.yaml", resolve_func=True)
    assert ours["output_type"] == wikitext["output_type"] == "loglikelihood_rolling"
    assert ours["metric_list"] == wikitext["metric_list"]
    assert ours["process_results"].__code__.co_code == wikitext["process_results"].__code__.co_code


def test_packaged_data_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(task_packs.TASKS_DIR_ENV, raising=False)
    arc, hellaswag = task_packs.resolve_tasks(("arc_easy", "hellaswag"), None, "wiki")
    for task, rows in ((arc, 570), (hellaswag, 300)):
        path = Path(task.spec["dataset_kwargs"]["data_files"]["validation"])
        assert path.is_relative_to(task_packs.packaged_data_dir())
        assert len(path.read_text().splitlines()) == rows
    assert (task_packs.packaged_data_dir() / "SOURCES.md").is_file()


def test_tasks_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rows = tmp_path / "piqa" / "validation.jsonl"
    rows.parent.mkdir()
    rows.write_text('{"goal": "g", "sol1": "a", "sol2": "b", "label": 0}\n')
    monkeypatch.setenv(task_packs.TASKS_DIR_ENV, str(tmp_path))
    (piqa,) = task_packs.resolve_tasks(("piqa",), None, "wiki")
    assert piqa.spec["dataset_kwargs"]["data_files"]["validation"] == str(rows)


def test_missing_data_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"piqa: no data file .*piqa/validation\.jsonl; pass --tasks-dir") as caught:
        task_packs.resolve_tasks(("piqa",), tmp_path, "wiki")
    assert "\n" not in str(caught.value)


def test_unknown_task_is_one_line() -> None:
    with pytest.raises(InputError, match="unknown task 'no_such_task'") as caught:
        task_packs.resolve_tasks(("arc_easy", "no_such_task"), None, "wiki")
    assert "\n" not in str(caught.value)


def test_lm_eval_task_without_local_data_offline_names_the_file(tmp_path: Path) -> None:
    # conftest sets HF_HUB_OFFLINE=1; lm-eval's wikitext task reads its test split from DIR/wikitext/
    with pytest.raises(DataError, match=r"wikitext: no local data, expected .*wikitext/test\.jsonl") as caught:
        task_packs.resolve_tasks(("wikitext",), tmp_path, "wiki")
    assert "\n" not in str(caught.value)


def test_split_documents() -> None:
    tagged = '<doc id="1" title="A">\nA\n\nFirst body.\n</doc>\n<doc id="2">Second.</doc>\n'
    assert task_packs.split_documents(tagged) == ["A\n\nFirst body.", "Second."]
    assert task_packs.split_documents("one\ntwo\n\n  \nthree\n") == ["one\ntwo", "three"]


def test_text_ppl_documents_written_once(story_text: Path) -> None:
    first = task_packs.resolve_tasks(("text_ppl",), None, str(story_text))[0]
    again = task_packs.resolve_tasks(("text_ppl",), None, str(story_text))[0]
    path = Path(first.spec["dataset_kwargs"]["data_files"]["test"])
    assert first.data_sha256 == again.data_sha256
    assert path.read_text().count("\n") == len(task_packs.split_documents(story_text.read_text()))
