"""Answer flips from lm-eval's real per-document output (log_samples) on the tiny model and a ternary GGUF of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantwb.evaluate.pipeline import EvalConfig, evaluate_tasks
from quantwb.evaluate.tasks import TaskConfig
from quantwb.records import read_record
from quantwb.reports.compare import compare
from quantwb.reports.markdown import render_markdown
from quantwb.reports.mcnemar import mcnemar_exact_p
from tests.test_eval import eval_home  # noqa: F401  (session fixture shared with test_eval)

LIMIT = 40
TASKS = ("arc_easy", "hellaswag")


def test_flips_from_lm_eval_samples(tiny_model: Path, eval_home: Path, tmp_path: Path) -> None:  # noqa: F811
    """Ternary weights (TQ1_0) change enough of the tiny model's answers to flip some (its Q2_K flipped none of 60 + 60)."""
    from quantwb.models import resolve
    from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTWB_HOME", str(eval_home))  # the F16 conversion the session's other GGUFs came from
        ternary = quantize_gguf(resolve(str(tiny_model)), ["TQ1_0"], tmp_path / "gguf", imatrix=ImatrixChoice("none"))[0].path
    config = EvalConfig(base=str(tiny_model), out_dir=tmp_path / "records", tasks=TaskConfig(tasks=TASKS, limit=LIMIT))
    base_path, q2_path = evaluate_tasks([tiny_model, Path(ternary)], config)
    tmp_path = tmp_path / "records"
    records = {"base": read_record(base_path), "q2": read_record(q2_path)}
    scores = {}
    for key, record in records.items():
        assert record.samples is not None and record.samples.file == f"{record.variant.name}.tasks.npz"
        with np.load(tmp_path / record.samples.file) as data:
            scores[key] = {name: data[name] for name in data.files}
        for task in TASKS:
            assert list(scores[key][f"{task}.doc_id"]) == list(range(LIMIT))
        for metric in record.metrics:  # lm-eval's aggregate is the mean of its own per-document scores
            assert np.mean(scores[key][f"{metric.task}.{metric.name}"]) == pytest.approx(metric.value)
    report = compare([tmp_path])
    assert report.flips is not None and report.flips.against == records["base"].variant.name
    assert report.task_columns == ("arc_easy.acc_norm", "hellaswag.acc_norm")
    total_flips = 0
    for key in report.task_columns:
        found = report.flips.rows[records["q2"].variant.name][key]
        base, q2 = scores["base"][key] > 0.5, scores["q2"][key] > 0.5
        assert (found.right_to_wrong, found.wrong_to_right) == (int(np.sum(base & ~q2)), int(np.sum(~base & q2)))
        assert found.n_documents == LIMIT and found.p_value == mcnemar_exact_p(found.right_to_wrong, found.wrong_to_right)
        task, _, name = key.partition(".")
        value = {r: next(m.value for m in records[r].metrics if (m.task, m.name) == (task, name)) for r in records}
        assert found.accuracy_change.value == pytest.approx(value["q2"] - value["base"])  # as lm-eval aggregated them
        total_flips += found.right_to_wrong + found.wrong_to_right
    assert total_flips > 0, "ternary weights change some of the tiny model's answers"
    assert "hellaswag flips %" in render_markdown(report)
