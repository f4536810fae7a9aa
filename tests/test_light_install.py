"""The CI workflow's light jobs in exactly their install: a fresh virtualenv with `pip install --no-deps -e .` and the
packages the job's own `run:` lines name (read from .github/workflows/quant-report.yml, so the two cannot drift),
then the commands those jobs run: `quantwb sweep [PLAN] --matrix` (plan) and `quantwb compare` on the committed
sample records (report: HTML, JSON, Markdown and the --fail-on gate, answer flips included).

pip reaches PyPI (here and in CI) and its wheel cache serves the second build. Measured with a warm cache on 2 shared
cores: 80 s for the plan job's environment and commands, 97 s for the report job's; hence `slow` and `ci`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
import yaml

from quantwb.fileio import sha256_file
from quantwb.records import Record, find_records, read_record
from quantwb.sweep import plan_matrix
from quantwb.sweep.plan import load_plan
from tests.sample_records import MODEL, SAMPLE_DIR, write_samples

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "quant-report.yml"
QUANTWB_ITSELF = ["--no-deps", "-e", "."]
HEAVY = ("torch", "transformers", "tokenizers", "scipy", "llama_cpp", "lm_eval")  # what the full install adds


def job_packages(job: str) -> list[str]:
    """The requirements the job's `pip install` commands name besides quantwb itself (installed `--no-deps -e .`)."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]
    installs = [words[2:] for step in steps for line in step.get("run", "").splitlines()
                for command in line.split("&&") if (words := shlex.split(command))[:2] == ["pip", "install"]]
    assert QUANTWB_ITSELF in installs, f"the {job} job no longer installs quantwb with `pip install --no-deps -e .`: {installs}"
    return [requirement for words in installs if words != QUANTWB_ITSELF for requirement in words]


def light_env(folder: Path, packages: list[str]) -> Path:
    """A fresh virtualenv holding quantwb (editable, no dependencies) and `packages`; returns its bin folder."""
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    for args in (QUANTWB_ITSELF, packages):
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"pip install {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    bin_dir = folder / "bin"
    probe = f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])"
    found = subprocess.run([str(bin_dir / "python"), "-c", probe], capture_output=True, text=True, env=_own_env(folder))
    assert found.stdout.strip() == "[]", f"the light environment can import {found.stdout}{found.stderr}"  # else the test proves nothing
    return bin_dir


def _own_env(cwd: Path) -> dict[str, str]:
    """This process's environment without its Python path, and QUANTWB_HOME under `cwd` (the workflow sets one)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env["QUANTWB_HOME"] = str(cwd / ".quantwb-home")
    return env


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`quantwb ARGS` from the light environment."""
    return subprocess.run([str(bin_dir / "quantwb"), *args], cwd=cwd, env=_own_env(cwd), capture_output=True, text=True, timeout=300)


def test_job_packages_are_read_from_the_workflow() -> None:
    assert job_packages("plan") == ["click", "rich", "pyyaml", "pydantic>=2", "numpy"]
    assert job_packages("report") == [*job_packages("plan"), "matplotlib"]


def _unstamped(record: Record) -> Record:
    """The record without its .npz's sha256 and size, which move with the zip timestamps inside the file."""
    if record.samples is None:
        return record
    return record.model_copy(update={"samples": record.samples.model_copy(update={"sha256": "", "size_bytes": 0})})


def test_sample_records_are_what_the_generator_writes(tmp_path: Path) -> None:
    """The committed samples are valid records equal to what tests/sample_records.py writes, their .npz arrays too."""
    made = {path.name: path for path in write_samples(tmp_path)}
    committed = find_records([SAMPLE_DIR])
    assert sorted(made) == sorted(path.name for path in committed) and len(committed) == 8
    for path in committed:
        record, fresh = read_record(path), read_record(made[path.name])
        assert _unstamped(record) == _unstamped(fresh), path.name
        if record.samples is not None:
            ours = path.parent / record.samples.file
            assert sha256_file(ours) == record.samples.sha256
            with np.load(ours) as old, np.load(made[path.name].parent / fresh.samples.file) as new:
                assert sorted(old.files) == sorted(new.files) and all(np.array_equal(old[k], new[k]) for k in old.files)


@pytest.mark.slow
@pytest.mark.ci
def test_plan_job_prints_the_matrix_without_heavy_libraries(tmp_path: Path) -> None:
    bin_dir = light_env(tmp_path / "venv", job_packages("plan"))
    for plan in (None, ROOT / "quantwb" / "data" / "plans" / "precisions.yaml"):
        done = run(bin_dir, "sweep", *([str(plan)] if plan else []), "--matrix", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == plan_matrix(load_plan(plan), ())


@pytest.mark.slow
@pytest.mark.ci
def test_report_job_compares_the_sample_records_without_heavy_libraries(tmp_path: Path) -> None:
    bin_dir = light_env(tmp_path / "venv", job_packages("report"))
    records = tmp_path / "records"
    shutil.copytree(SAMPLE_DIR, records)  # the job's layout: records/<model>/ from the merged artifacts
    model, report = records / MODEL, tmp_path / "report"
    report.mkdir()

    html = run(bin_dir, "compare", str(model), "--out", str(report / f"{MODEL}.html"), cwd=tmp_path)
    assert html.returncode == 0, html.stderr
    page = (report / f"{MODEL}.html").read_text()
    assert '<figure class="plot">' in page and "arc_easy flips %" in page

    machine = run(bin_dir, "compare", str(model), "--out", str(report / f"{MODEL}.json"), cwd=tmp_path)
    assert machine.returncode == 0, machine.stderr
    flips = json.loads((report / f"{MODEL}.json").read_text())["flips"]
    q2 = flips["variants"]["m-Q2_K"]["arc_easy.acc_norm"]
    assert (q2["right_to_wrong"], q2["wrong_to_right"]) == (13, 4)
    assert q2["p_value"] == 2 * (1 + 17 + 136 + 680 + 2380) / 2**17  # 2 · P(X ≤ 4), X ~ Binomial(17, ½)

    markdown = run(bin_dir, "compare", str(model), "--format", "md", cwd=tmp_path)
    assert markdown.returncode == 0, markdown.stderr
    assert "| arc_easy flips % | arc_easy p |" in markdown.stdout and "(13↓ 4↑) | 0.049 |" in markdown.stdout

    kept = run(bin_dir, "compare", str(model), "--format", "json", "--fail-on", "kld_mean>1", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    breached = run(bin_dir, "compare", str(model), "--format", "json", "--fail-on", "kld_mean>0.5", cwd=tmp_path)
    assert breached.returncode == 5 and "m-Q2_K" in breached.stderr and "Traceback" not in breached.stderr
