"""The sample records under tests/data/records-sample: what the CI report job's `quantwb compare` reads, made by code.

One model folder (the report job compares `records/<model>/`) with text and tasks records of four variants; each
tasks record has its per-document scores beside it (.npz, as lm-eval's logged samples are kept), so the answer-flip
(McNemar) column is computed. Regenerate with `python3 -m tests.sample_records`; tests/test_light_install.py
checks that the committed files are what this writes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from quantwb import records as r
from quantwb.evaluate.positions import write_sidecar
from tests.report_records import VARIANTS, tasks_record, text_record

SAMPLE_DIR = Path(__file__).parent / "data" / "records-sample"
MODEL = "m"
CHOSEN = ("m", "m-Q8_0", "m-Q4_K_M", "m-Q2_K")
N_DOCUMENTS = 50  # tasks_record's limit


def _scores(base: np.ndarray, rng: np.random.Generator, flip_share: float, accuracy: float) -> np.ndarray:
    """Per-document 0/1 scores: the base's, except a `flip_share` of documents answered anew (right with `accuracy`)."""
    answered_anew = rng.random(len(base)) < flip_share
    return np.where(answered_anew, rng.random(len(base)) < accuracy, base).astype(np.float32)


def sample_tasks_record(spec: tuple, out: Path) -> r.Record:
    """tasks_record(spec) with per-document scores written beside it; its metric values are the scores' means."""
    record = tasks_record(spec)
    kld = spec[7]
    arrays: dict[str, np.ndarray] = {}
    for metric in record.metrics:
        seed = sum(map(ord, f"{metric.task}.{metric.name}"))
        base = (np.random.default_rng(seed).random(N_DOCUMENTS) < metric.value).astype(np.float32)
        own = np.random.default_rng([seed, VARIANTS.index(spec)])
        arrays[f"{metric.task}.doc_id"] = np.arange(N_DOCUMENTS, dtype=np.float32)
        arrays[f"{metric.task}.{metric.name}"] = base if kld == 0 else _scores(base, own, min(0.6, 0.05 + kld), metric.value)
    metrics = [m.model_copy(update={"value": float(arrays[f"{m.task}.{m.name}"].mean())}) for m in record.metrics]
    sidecar = write_sidecar(arrays, out / f"{spec[0]}.tasks.npz")
    return record.model_copy(update={"metrics": metrics, "samples": sidecar})


def write_samples(out: Path) -> list[Path]:
    """Write the sample records under `out/<model>/` (replacing what is there); returns the record paths."""
    folder = out / MODEL
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for spec in (spec for spec in VARIANTS if spec[0] in CHOSEN):
        paths.append(r.write_record(text_record(spec), folder))
        paths.append(r.write_record(sample_tasks_record(spec, folder), folder))
    for path in paths:
        r.read_record(path)  # quantwb's own reader validates every record written
    return paths


if __name__ == "__main__":
    for written in write_samples(SAMPLE_DIR):
        print(written)
