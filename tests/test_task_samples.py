"""lm-eval's logged samples turned into per-document columns, and task-cache entries without them scored again."""

from __future__ import annotations

import json
import math

from quantwb.evaluate import task_cache
from quantwb.evaluate.task_cache import CachedTask, TaskKey
from quantwb.evaluate.tasks import per_document_scores
from quantwb.records import Metric


def test_per_document_scores_in_doc_id_order() -> None:
    logged = [  # the fields lm-eval's evaluate() logs per document (doc, resps, ... left out)
        {"doc_id": 2, "filter": "none", "metrics": ["acc", "acc_norm"], "acc": 1.0, "acc_norm": 0.0},
        {"doc_id": 0, "filter": "none", "metrics": ["acc", "acc_norm"], "acc": 0.0, "acc_norm": 1.0},
        {"doc_id": 1, "filter": "none", "metrics": ["acc", "acc_norm", "ppl"], "acc": 1.0, "acc_norm": 1.0, "ppl": (1.5, 3)},
        {"doc_id": 1, "filter": "strict", "metrics": ["exact_match"], "exact_match": 1.0},
    ]
    columns = per_document_scores("t", logged)
    assert columns["t.doc_id"] == [0.0, 1.0, 2.0]
    assert columns["t.acc"] == [0.0, 1.0, 1.0] and columns["t.acc_norm"] == [1.0, 1.0, 0.0]
    assert "t.ppl" not in columns  # not one number per document
    assert [math.isnan(v) for v in columns["t.exact_match.strict"]] == [True, False, True]
    assert per_document_scores("t", []) == {}


def test_cache_entry_without_samples_is_scored_again(quantwb_home) -> None:
    key = TaskKey("v" * 64, "arc_easy", "d" * 64, "c" * 64, 10, 0, "0.4.13")
    metric = Metric(name="acc", task="arc_easy", value=0.5, stderr=0.1, higher_is_better=True)
    path = task_cache.store(key, CachedTask(metrics=(metric,), n_samples=10, samples={"arc_easy.doc_id": [0.0]}))
    assert task_cache.load(key).samples == {"arc_easy.doc_id": [0.0]}
    payload = json.loads(path.read_text())
    del payload["samples"]  # as written before per-document scores were kept
    path.write_text(json.dumps(payload))
    assert task_cache.load(key) is None
