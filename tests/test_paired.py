"""Paired statistics on hand-made records with per-position data: bootstrap, McNemar, interval gates, regressions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quantwb.errors import InputError
from quantwb.evaluate.positions import write_sidecar
from quantwb.records import read_record, write_record
from quantwb.reports.compare import CompareOptions, compare
from quantwb.reports.gate import parse_threshold
from quantwb.reports.intervals import estimate
from quantwb.reports.machine import render_json
from quantwb.reports.markdown import render_markdown
from quantwb.reports.mcnemar import flips, mcnemar_exact_p
from quantwb.reports.paired import Bootstrap, bootstrap_mean, paired_difference, unit_means
from tests.cli_helpers import invoke, one_error_line
from tests.report_records import TEXT, VARIANTS, tasks_record, text_record, write_all

N_WINDOWS = TEXT.n_chunks
PER_WINDOW = TEXT.n_scored // TEXT.n_chunks


def _windowed(rng: np.random.Generator, scale: float) -> np.ndarray:
    """Per-position values with a shared offset per window, as real positions inside one window are correlated."""
    return np.repeat(rng.normal(0.0, scale, N_WINDOWS), PER_WINDOW) + rng.normal(0.0, scale, N_WINDOWS * PER_WINDOW)


def _positions(kld_mean: float, seed: int, kld_scale: float = 1.0) -> dict[str, np.ndarray]:
    shared = np.random.default_rng(1234)  # the baseline's side: identical in every variant's file
    base_nll = shared.exponential(3.0, TEXT.n_scored)
    base_top_p = shared.uniform(0.0, 1.0, TEXT.n_scored)
    rng = np.random.default_rng(seed)
    window_level = np.repeat(rng.exponential(1.0, N_WINDOWS), PER_WINDOW)
    kld = kld_scale * kld_mean * window_level * rng.exponential(1.0, TEXT.n_scored)
    return {"nll": (base_nll + kld).astype(np.float32), "kld": kld.astype(np.float32),
            "same_top": rng.random(TEXT.n_scored) >= kld_mean / 2, "base_top_p": base_top_p.astype(np.float16)}


def write_with_positions(out: Path, scale: dict[str, float] | None = None) -> Path:
    """write_all's records, each text record with a per-position .npz (kld of `scale[name]` times its usual size)."""
    write_all(out)
    for i, spec in enumerate(VARIANTS):
        name = spec[0]
        arrays = _positions(spec[7], seed=i, kld_scale=(scale or {}).get(name, 1.0))
        sidecar = write_sidecar(arrays, out / f"{name}.text.npz")
        record = text_record(spec)
        kld = arrays["kld"].astype(np.float64)  # the record's summary agrees with its positions, as a measured one does
        summary = record.kld.kld.model_copy(update={"mean": kld.mean(), "mean_unc": kld.std() / np.sqrt(len(kld) - 1)})
        write_record(record.model_copy(update={"positions": sidecar, "kld": record.kld.model_copy(update={"kld": summary})}), out)
    return out


def test_identical_series_give_exactly_zero() -> None:
    a = _windowed(np.random.default_rng(0), 1.0)
    interval = paired_difference(a, a.copy(), N_WINDOWS)
    assert (interval.value, interval.lo, interval.hi) == (0.0, 0.0, 0.0) and not interval.excludes_zero


def test_known_shift_is_detected_and_covered() -> None:
    rng = np.random.default_rng(1)
    b = _windowed(rng, 1.0)
    shifted = paired_difference(b + 0.05 + _windowed(rng, 0.05), b, N_WINDOWS)
    assert shifted.excludes_zero and shifted.lo < 0.05 < shifted.hi
    unshifted = paired_difference(b + _windowed(rng, 0.05), b, N_WINDOWS)
    assert not unshifted.excludes_zero


def test_window_bootstrap_covers_the_truth_about_95_percent() -> None:
    """Over 300 data sets with correlated windows, the interval holds the true mean close to 95% of the time."""
    rng = np.random.default_rng(2)
    hits = 0
    for k in range(300):
        interval = bootstrap_mean(unit_means(_windowed(rng, 1.0), N_WINDOWS), Bootstrap(resamples=1000, seed=k))
        hits += interval.lo <= 0.0 <= interval.hi
    assert 0.88 <= hits / 300 <= 0.99


def test_mcnemar_against_hand_computed_tables() -> None:
    # b = 8 right->wrong, c = 2 wrong->right: p = 2 * P(X <= 2 | n=10, 1/2) = 2 * (1 + 10 + 45) / 1024
    assert mcnemar_exact_p(8, 2) == pytest.approx(112 / 1024)
    assert mcnemar_exact_p(2, 8) == pytest.approx(112 / 1024)
    assert mcnemar_exact_p(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact_p(0, 0) == 1.0 and mcnemar_exact_p(3, 3) == 1.0
    reference = np.array([1] * 30 + [0] * 20, dtype=float)  # 30 right, 20 wrong
    variant = reference.copy()
    variant[:8] = 0  # 8 right -> wrong
    variant[30:32] = 1  # 2 wrong -> right
    found = flips(variant, reference)
    assert (found.n_documents, found.right_to_wrong, found.wrong_to_right) == (50, 8, 2)
    assert found.flips_pct == pytest.approx(20.0) and found.p_value == pytest.approx(112 / 1024)
    assert found.accuracy_change.value == pytest.approx((2 - 8) / 50)
    assert found.accuracy_change.lo < -6 / 50 < found.accuracy_change.hi


def test_mcnemar_equals_scipys_binomtest() -> None:
    """The p-value computed in integers is scipy.stats.binomtest's two-sided one (measured: at most 9e-14 apart,
    scipy's own float sum), on small tables and on thousands of flips."""
    from scipy.stats import binomtest

    tables = [(b, c) for b in range(31) for c in range(31) if b + c] + [(480, 520), (400, 600), (4000, 5000), (2, 3000)]
    for b, c in tables:
        assert mcnemar_exact_p(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-12), (b, c)


def test_paired_columns_against_the_baseline(tmp_path: Path) -> None:
    report = compare([write_with_positions(tmp_path)])
    section = report.paired
    assert section.against == "m" and section.n_windows == N_WINDOWS
    with np.load(tmp_path / "m-Q4_K_M.text.npz") as q4, np.load(tmp_path / "m.text.npz") as base:
        expected = float(np.mean(q4["kld"], dtype=np.float64) - np.mean(base["kld"], dtype=np.float64))
        expected_top = 100 * (float(np.mean(q4["same_top"])) - float(np.mean(base["same_top"])))
    q4_row = section.rows["m-Q4_K_M"]
    assert q4_row.intervals["kld_mean"].value == pytest.approx(expected)
    assert q4_row.intervals["kld_mean"].excludes_zero and q4_row.intervals["kld_mean"].lo > 0
    assert q4_row.intervals["same_top_pct"].value == pytest.approx(expected_top)
    text = render_markdown(report)
    assert "Δ KLD vs m" in text and "95% percentile bootstrap over the 20 windows (2000 resamples, seed 0)" in text
    assert "| ref |" in text  # the reference row
    payload = json.loads(render_json(report))
    assert payload["paired"]["resamples"] == 2000 and payload["paired"]["variants"]["m-Q2_K"]["kld_mean"]["excludes_zero"]
    against = compare([tmp_path], CompareOptions(against="Q8_0"))
    assert against.paired.against == "m-Q8_0" and against.paired.rows["m"].intervals["kld_mean"].value < 0
    with pytest.raises(InputError, match="--against 'Q9' matches 0 variants"):
        compare([tmp_path], CompareOptions(against="Q9"))


def test_old_records_without_positions_still_render(tmp_path: Path) -> None:
    report = compare([write_all(tmp_path)])
    text = render_markdown(report)
    assert "| n/a | n/a | n/a |" in text
    assert "Δ columns n/a for m-Q2_K, m-Q4_K_M" in text and "no per-position data" in text
    assert "Flips n/a for m-Q2_K" in text
    assert json.loads(render_json(report))["paired"]["variants"]["m-Q2_K"] == {
        "n/a": "its record has no per-position data (measured by a quantwb that did not keep them)"}
    # a sidecar changed after the measurement is refused by its hash, with the reason
    write_with_positions(tmp_path / "changed")
    np.savez(tmp_path / "changed" / "m-Q2_K.text.npz.tmp.npz", kld=np.zeros(3))
    (tmp_path / "changed" / "m-Q2_K.text.npz.tmp.npz").replace(tmp_path / "changed" / "m-Q2_K.text.npz")
    changed = compare([tmp_path / "changed"])
    assert "does not match the sha256" in changed.paired.rows["m-Q2_K"].reason


@pytest.mark.parametrize(("expression", "metric", "bound"), [
    ("kld_mean.lo>0.05", "kld_mean", "lo"), ("kld_mean.hi > 0.05", "kld_mean", "hi"),
    ("Q2_K:ppl.hi>30", "ppl", "hi"), ("arc_easy.acc.lo<0.4", "arc_easy.acc", "lo"), ("kld_mean>0.05", "kld_mean", None),
])
def test_parse_bounds(expression: str, metric: str, bound: str | None) -> None:
    parsed = parse_threshold(expression)
    assert (parsed.metric, parsed.bound) == (metric, bound)


def test_bound_on_a_metric_without_interval_is_refused() -> None:
    with pytest.raises(InputError, match="size_bytes has no interval; .lo/.hi exist for .*kld_mean"):
        parse_threshold("size_bytes.lo>1")


def test_bounds_gate_on_the_interval(tmp_path: Path) -> None:
    results = write_with_positions(tmp_path)
    q4 = next(row for row in compare([results]).rows if row.variant.name == "m-Q4_K_M")
    found = estimate(q4, "kld_mean")
    assert found.method == "window bootstrap" and found.interval.lo < found.interval.value < found.interval.hi
    limit = (found.interval.lo + found.interval.value) / 2  # inside the interval, below the value

    def breached(expression: str) -> bool:
        report = compare([results], CompareOptions(thresholds=(parse_threshold(expression),)))
        return any(b.variant == "m-Q4_K_M" for b in report.breaches)

    assert breached(f"Q4_K_M:kld_mean>{limit}")  # the point value is above the limit
    assert not breached(f"Q4_K_M:kld_mean.lo>{limit}")  # but not certainly
    assert breached(f"Q4_K_M:kld_mean.hi>{limit}")
    assert breached(f"Q4_K_M:kld_mean.lo>{found.interval.lo * 0.99}")
    # a task metric's interval comes from lm-eval's stderr
    task = estimate(q4, "arc_easy.acc_norm")
    assert task.method == "record uncertainty" and task.interval.hi - task.interval.lo == pytest.approx(2 * 1.959964 * 0.07, rel=1e-4)


def test_regressions_against_a_previous_run(tmp_path: Path) -> None:
    old = write_with_positions(tmp_path / "old")
    same = write_with_positions(tmp_path / "same")
    worse = write_with_positions(tmp_path / "new", scale={"m-Q4_K_M": 1.3})
    metrics = ("kld_mean", "arc_easy.acc_norm")
    assert compare([same], CompareOptions(previous=old, regression_metrics=metrics)).regressions == ()
    found = compare([worse], CompareOptions(previous=old, regression_metrics=metrics)).regressions
    assert [(r.variant, r.metric) for r in found] == [("m-Q4_K_M", "kld_mean")]
    assert found[0].method == "paired over windows" and found[0].lo > 0 and found[0].new > found[0].old
    # a report.json as the previous run: independent estimates with their uncertainty
    # (window-to-window spread makes that weaker than the paired test: +30% goes unflagged, x3 does not)
    (tmp_path / "old.json").write_text(render_json(compare([old])))
    assert compare([worse], CompareOptions(previous=tmp_path / "old.json", regression_metrics=metrics)).regressions == ()
    much_worse = write_with_positions(tmp_path / "much", scale={"m-Q2_K": 3.0})
    from_json = compare([much_worse], CompareOptions(previous=tmp_path / "old.json", regression_metrics=metrics)).regressions
    assert [(r.variant, r.method) for r in from_json] == [("m-Q2_K", "independent runs")]
    with pytest.raises(InputError, match="unknown metric"):
        compare([worse], CompareOptions(previous=old, regression_metrics=("kdl_mean",)))
    with pytest.raises(InputError, match="go together"):
        CompareOptions(previous=old)


def test_cli_regression_gate(tmp_path: Path) -> None:
    old = write_with_positions(tmp_path / "old")
    worse = write_with_positions(tmp_path / "new", scale={"m-Q2_K": 1.3, "m-Q4_K_M": 1.3})
    failed = invoke("compare", str(worse), "--format", "md", "--previous", str(old), "--fail-on-regression", "kld_mean,ppl")
    assert failed.exit_code == 5
    line = one_error_line(failed)
    assert line.startswith("error: --fail-on-regression: ") and "m-Q2_K kld_mean" in line and "m-Q4_K_M kld_mean" in line
    assert "## Regressions against the previous run" in failed.stdout
    passed = invoke("compare", str(old), "--previous", str(old), "--fail-on-regression", "kld_mean")
    assert passed.exit_code == 0, passed.stderr
    alone = invoke("compare", str(old), "--fail-on-regression", "kld_mean")
    assert alone.exit_code == 2 and "go together" in one_error_line(alone)


def test_tasks_record_reads_its_samples(tmp_path: Path) -> None:
    """A tasks record pointing at per-document scores: flips against the baseline, matched by document id."""
    scores = {"base": np.array([1, 1, 1, 0, 0, 1], float), "m-Q2_K": np.array([0, 1, 0, 0, 1, 1], float)}
    for spec, key in ((VARIANTS[0], "base"), (VARIANTS[-1], "m-Q2_K")):
        arrays = {"arc_easy.doc_id": np.arange(6, dtype=np.float32), "arc_easy.acc_norm": scores[key].astype(np.float32)}
        sidecar = write_sidecar(arrays, tmp_path / f"{spec[0]}.tasks.npz")
        write_record(tasks_record(spec).model_copy(update={"samples": sidecar}), tmp_path)
        write_record(text_record(spec), tmp_path)
    report = compare([tmp_path])
    q2 = report.flips.rows["m-Q2_K"]["arc_easy.acc_norm"]
    assert (q2.right_to_wrong, q2.wrong_to_right, q2.n_documents) == (2, 1, 6)
    assert "arc_easy flips %" in render_markdown(report) and "| 50.0 (2↓ 1↑) | 1 |" in render_markdown(report)
    assert read_record(tmp_path / "m-Q2_K.tasks.json").samples.file == "m-Q2_K.tasks.npz"


def test_html_shows_confidence_plot_and_worst_positions(tmp_path: Path) -> None:
    from quantwb.records import ConfidenceBucket, WorstPosition
    from quantwb.reports.html import render_html

    write_all(tmp_path)
    for k, spec in enumerate(VARIANTS):
        buckets = [ConfidenceBucket(lo=lo, hi=lo + 0.25, n_positions=100, kld_mean=spec[7] * (4 - i) + 1e-6,
                                    same_top_p=0.5 + 0.1 * i) for i, lo in enumerate((0.0, 0.25, 0.5, 0.75))]
        worst = [WorstPosition(position=7 + k, window=0, kld=3.5, base_top_p=0.9, context="Once upon a <time>", target=" there",
                               base_top=" there", variant_top=" a")]
        record = text_record(spec).model_copy(update={"kld_by_confidence": buckets, "worst_positions": worst})
        write_record(record, tmp_path)
    html = render_html(compare([tmp_path]))
    assert "KLD and top-1 agreement by the baseline&#x27;s confidence" in html
    assert html.count('<figure class="plot">') == 4
    assert "Drill-down: largest KLD positions" in html and "Once upon a &lt;time&gt;<mark> there</mark>" in html
    assert json.loads(render_json(compare([tmp_path])))["kld_by_confidence"]["m-Q2_K"][0]["n_positions"] == 100


def test_task_regression_is_paired_over_documents(tmp_path: Path) -> None:
    def run(folder: Path, right: int) -> Path:
        spec = VARIANTS[-1]  # m-Q2_K
        arrays = {"arc_easy.doc_id": np.arange(40, dtype=np.float32),
                  "arc_easy.acc_norm": (np.arange(40) < right).astype(np.float32)}
        sidecar = write_sidecar(arrays, folder / f"{spec[0]}.tasks.npz")
        record = tasks_record(spec)
        metrics = [m.model_copy(update={"value": right / 40}) if m.name == "acc_norm" and m.task == "arc_easy" else m
                   for m in record.metrics]
        write_record(record.model_copy(update={"samples": sidecar, "metrics": metrics}), folder)
        return folder

    old, new = run(tmp_path / "old", 30), run(tmp_path / "new", 20)
    found = compare([new], CompareOptions(previous=old, regression_metrics=("arc_easy.acc_norm",))).regressions
    assert [(r.variant, r.method) for r in found] == [("m-Q2_K", "paired over documents")]
    assert found[0].new - found[0].old == pytest.approx(-0.25) and found[0].hi < 0
    assert compare([old], CompareOptions(previous=new, regression_metrics=("arc_easy.acc_norm",))).regressions == ()


def test_noise_floor_states_the_repeat_measured_in_the_run(tmp_path: Path) -> None:
    """The base's own pass against its cached first pass is the run's repeat measurement; it is quoted, and a
    difference there is called what it is."""
    text = render_markdown(compare([write_all(tmp_path / "same")]))
    floor = next(line for line in text.splitlines() if "Noise floor" in line)
    assert "measured here: the base's second pass against its first, identical: KLD mean 0, max 0, same top 100.00 %" in floor
    write_all(tmp_path / "moved")
    base = read_record(tmp_path / "moved" / "m.text.json")
    moved = base.kld.kld.model_copy(update={"mean": 1e-7, "max": 1e-5})
    write_record(base.model_copy(update={"kld": base.kld.model_copy(update={"kld": moved})}), tmp_path / "moved")
    text = render_markdown(compare([tmp_path / "moved"]))
    assert "second pass against its first, NOT identical: KLD mean 1e-07, max 1e-05" in text
