"""The README's main job on the real model: `quantwb sweep` (the default plan on smollm2-135m), its report,
the CI gate on it, and a second run that does nothing but report. Takes about as long as the sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.reports.compare import compare
from quantwb.sweep.plan import load_plan
from tests.cli_helpers import quantwb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_results(module_dir) -> Path:
    results = module_dir("default-sweep") / "results"
    first = quantwb("sweep", "--results", str(results))
    assert first.returncode == 0, first.stderr[-3000:]
    return results


def test_every_default_variant_measured(default_results: Path) -> None:
    report = compare([default_results / "records"])
    plan = load_plan()
    assert len(report.rows) == len(plan.variants)
    assert all(row.text is not None and row.tasks is not None for row in report.rows)
    by_type = {row.variant.quant_type: row for row in report.rows if row.variant.method == "gguf"}
    kld = {name: by_type[name].value("kld_mean") for name in ("F16", "Q8_0", "Q4_K_M", "Q2_K")}
    assert kld["F16"] < 0.001 and kld["Q8_0"] < kld["Q4_K_M"] < kld["Q2_K"]
    sizes = [by_type[name].variant.size_bytes for name in ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")]
    assert sizes == sorted(sizes)
    assert report.baselines[0].origin and "Q4_1" in report.baselines[0].origin
    for name in ("report.md", "report.html", "report.json"):
        assert (default_results / name).is_file()


def test_gate_on_the_default_sweep(default_results: Path) -> None:
    strict = quantwb("compare", str(default_results / "records"), "--format", "json", "--fail-on", "kld_mean>0.01")
    line = strict.stderr.strip().splitlines()[-1]
    assert strict.returncode == 5 and line.startswith("error: --fail-on:")
    assert "-Q2_K kld_mean=" in line and "-Q3_K_M kld_mean=" in line  # every breach is named
    assert "-F16 kld_mean=" not in line and "-Q8_0 kld_mean=" not in line
    loose = quantwb("compare", str(default_results / "records"), "--format", "json", "--fail-on", "kld_mean>10")
    assert loose.returncode == 0, loose.stderr


def test_second_run_only_reports(default_results: Path) -> None:
    again = quantwb("sweep", "--results", str(default_results))
    assert again.returncode == 0, again.stderr[-3000:]
    statuses = [line.split()[0] for line in again.stderr.splitlines() if line.split()[:1] in (["cached"], ["done"])]
    assert statuses and set(statuses) == {"cached"}
