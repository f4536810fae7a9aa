"""lm-eval tasks on the real SmolLM2-135M: above chance, GGUF F16 agrees with HF, Q2_K costs accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.evaluate.tasks import TaskConfig, run_tasks

pytestmark = [pytest.mark.slow, pytest.mark.ci]

LIMIT = 200
# The packaged data (all 570 ARC-Easy questions, 300 HellaSwag rows): what a fresh install runs.
BOTH = TaskConfig(tasks=("arc_easy", "hellaswag"), limit=LIMIT, batch_size=8)
ARC = TaskConfig(tasks=("arc_easy",), limit=LIMIT, batch_size=8)  # results are cached per task: reused from BOTH


@pytest.fixture(scope="module")
def base():
    from quantwb.models import resolve

    return resolve("smollm2-135m")


@pytest.fixture(scope="module")
def ggufs(base, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from quantwb.quantize.gguf import quantize_gguf

    types = ["F16", "Q2_K"]
    artifacts = quantize_gguf(base, types, tmp_path_factory.mktemp("smollm2-gguf"))
    return {name: Path(artifact.path) for name, artifact in zip(types, artifacts, strict=True)}


def _scores(path: Path, config: TaskConfig = BOTH) -> dict[tuple[str, str], float]:
    result = run_tasks(path, config)  # cached per variant hash and task: each is scored once per session
    assert result.settings["n_samples"] == {task: LIMIT for task in config.tasks}
    scores = {(m.task, m.name): m.value for m in result.metrics}
    print(path.name, {f"{task}/{name}": round(value, 4) for (task, name), value in scores.items()})
    return scores


def test_base_is_well_above_chance(base) -> None:
    scores = _scores(base.path)
    assert scores[("hellaswag", "acc_norm")] > 0.35  # chance: 0.25
    assert scores[("arc_easy", "acc")] > 0.40  # chance: 0.25


def test_gguf_f16_matches_hf_within_one_point(base, ggufs: dict[str, Path]) -> None:
    hf, gguf = _scores(base.path, ARC), _scores(ggufs["F16"], ARC)
    for key in hf:
        assert abs(gguf[key] - hf[key]) <= 0.01, (key, hf[key], gguf[key])


def test_q2_k_scores_at_or_below_base(base, ggufs: dict[str, Path]) -> None:
    hf, q2 = _scores(base.path), _scores(ggufs["Q2_K"])
    assert q2[("hellaswag", "acc_norm")] <= hf[("hellaswag", "acc_norm")]
    assert q2[("arc_easy", "acc_norm")] <= hf[("arc_easy", "acc_norm")]
