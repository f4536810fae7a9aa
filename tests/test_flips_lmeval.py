"""Answer flips from lm-eval's real per-document output (log_samples): the tiny model against a damaged copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from quantwb.evaluate.pipeline import EvalConfig, evaluate_tasks
from quantwb.evaluate.tasks import TaskConfig
from quantwb.records import read_record
from quantwb.reports.compare import compare
from quantwb.reports.markdown import render_markdown
from quantwb.reports.mcnemar import mcnemar_exact_p

LIMIT = 40
TASKS = ("arc_easy", "hellaswag")


def _damaged_copy(model_dir: Path, out: Path, scale: float = 2.0) -> Path:
    """The tiny model with seeded Gaussian noise (`scale` x each matrix's std) on every weight matrix.
    Its Q2_K and ternary (TQ1_0) GGUFs, and noise of 0.5 std, flip none of these answers: the choices'
    log-likelihoods move by less than the gaps between them. Measured: 2 std flips 3 of 40 ARC-Easy answers."""
    import torch
    from transformers import AutoModelForCausalLM

    shutil.copytree(model_dir, out)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.ndim == 2:
                weight.add_(torch.randn(weight.shape, generator=generator) * weight.std() * scale)
    model.save_pretrained(out)
    return out


def test_flips_from_lm_eval_samples(tiny_model: Path, tmp_path: Path) -> None:
    damaged = _damaged_copy(tiny_model, tmp_path / "damaged")
    config = EvalConfig(base=str(tiny_model), out_dir=tmp_path / "records", tasks=TaskConfig(tasks=TASKS, limit=LIMIT))
    base_path, damaged_path = evaluate_tasks([tiny_model, damaged], config)
    tmp_path = tmp_path / "records"
    records = {"base": read_record(base_path), "damaged": read_record(damaged_path)}
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
        found = report.flips.rows[records["damaged"].variant.name][key]
        base, other = scores["base"][key] > 0.5, scores["damaged"][key] > 0.5
        assert (found.right_to_wrong, found.wrong_to_right) == (int(np.sum(base & ~other)), int(np.sum(~base & other)))
        assert found.n_documents == LIMIT and found.p_value == mcnemar_exact_p(found.right_to_wrong, found.wrong_to_right)
        task, _, name = key.partition(".")
        value = {r: next(m.value for m in records[r].metrics if (m.task, m.name) == (task, name)) for r in records}
        assert found.accuracy_change.value == pytest.approx(value["damaged"] - value["base"])  # as lm-eval aggregated them
        total_flips += found.right_to_wrong + found.wrong_to_right
    assert total_flips > 0, "the damaged copy answers some documents differently"
    assert "hellaswag flips %" in render_markdown(report)
