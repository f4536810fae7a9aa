"""Completion markers: a step is done only with its current key and all its outputs; stale ones are forgotten."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from quantwb.disk import remove_stale_partials
from quantwb.errors import InputError
from quantwb.sweep.steps import (
    Step,
    completed_outputs,
    forget,
    mark_done,
    marker_path,
    remove_partials_under,
    results_lock,
    step_key,
)


def _step(key: str = "k1") -> Step:
    return Step(model="m", variant="Q4_K_M", kind="text", key=key)


def test_marker_round_trip_and_key_mismatch(tmp_path: Path) -> None:
    record = tmp_path / "records" / "m" / "m-Q4_K_M.text.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    assert completed_outputs(tmp_path, _step()) is None  # nothing marked yet
    mark_done(tmp_path, _step(), [record], wall_s=1.5)
    assert completed_outputs(tmp_path, _step()) == [record]
    assert completed_outputs(tmp_path, _step("k2")) is None  # inputs changed: not done
    assert not list(marker_path(tmp_path, _step()).parent.glob(".*")), "temporary marker left behind"


def test_missing_output_means_not_done(tmp_path: Path) -> None:
    record = tmp_path / "records" / "r.json"
    record.parent.mkdir()
    record.write_text("{}")
    mark_done(tmp_path, _step(), [record], wall_s=0.1)
    record.unlink()
    assert completed_outputs(tmp_path, _step()) is None


def test_damaged_marker_means_not_done(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    record.write_text("{}")
    mark_done(tmp_path, _step(), [record], wall_s=0.1)
    marker_path(tmp_path, _step()).write_text('{"format": 1, "key": "k1", "outp')  # killed mid-write elsewhere
    assert completed_outputs(tmp_path, _step()) is None


def test_forget_removes_stale_records_only(tmp_path: Path) -> None:
    record = tmp_path / "records" / "r.text.json"
    artifact = tmp_path / "artifacts" / "m.gguf"
    for path in (record, artifact):
        path.parent.mkdir(parents=True)
        path.write_text("x")
    mark_done(tmp_path, _step(), [record, artifact], wall_s=0.1)
    forget(tmp_path, _step("k2"))
    assert not record.exists() and artifact.exists() and not marker_path(tmp_path, _step()).exists()


def test_keys_change_with_every_input() -> None:
    base = step_key("quantize", "v1", model="a", spec={"bits": 4})
    assert base == step_key("quantize", "v1", model="a", spec={"bits": 4})
    assert base != step_key("quantize", "v1", model="b", spec={"bits": 4})
    assert base != step_key("quantize", "v1", model="a", spec={"bits": 3})
    assert base != step_key("text", "v1", model="a", spec={"bits": 4})
    assert base != step_key("quantize", "v2", model="a", spec={"bits": 4})  # quantwb's measuring code changed


def test_one_sweep_per_results_folder(tmp_path: Path) -> None:
    with results_lock(tmp_path):
        with pytest.raises(InputError, match=f"another sweep \\(pid {os.getpid()}\\) is running"):
            with results_lock(tmp_path):
                pass
    (tmp_path / ".sweep.lock").write_text("999999999")  # a sweep that was killed: its lock is stale
    with results_lock(tmp_path):
        assert (tmp_path / ".sweep.lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".sweep.lock").exists()


def dead_pid() -> int:
    """The pid of a process that has ended (a writer killed mid-write)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_stale_partials_of_a_killed_run_are_removed_a_live_writers_kept(tmp_path: Path) -> None:
    dead = dead_pid()
    (tmp_path / f".m-gptq-w4g64.partial-{dead}").mkdir()
    (tmp_path / f".m-Q4_K_M.gguf.partial-{dead}").write_text("half")
    (tmp_path / f".m-Q6_K.gguf.partial-{os.getppid()}").write_text("being written by a live process")
    (tmp_path / "m-Q8_0.gguf").write_text("complete")
    assert len(remove_stale_partials(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".m-Q6_K.gguf.partial-{os.getppid()}", "m-Q8_0.gguf"]


def test_partials_of_stopped_workers_are_removed_anywhere_in_the_results(tmp_path: Path) -> None:
    gguf_dir, hf_dir, records = tmp_path / "artifacts/m/Q4_0", tmp_path / "artifacts/m/rtn", tmp_path / "records/m"
    for folder in (gguf_dir, hf_dir, records):
        folder.mkdir(parents=True)
    dead = dead_pid()  # stopped workers
    (gguf_dir / f".m-Q4_0.gguf.partial-{dead}").write_text("half")
    (hf_dir / f".m-rtn.partial-{dead}").mkdir()
    (hf_dir / f".m-rtn.partial-{dead}" / f".inner.partial-{dead}").write_text("nested: goes with its folder")
    (records / f".Q4_0.text.json.partial-{dead}").write_text("{")
    (records / "Q8_0.text.json").write_text("{}")
    assert len(remove_partials_under(tmp_path)) == 3
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*")) if p.is_file()] == ["records/m/Q8_0.text.json"]


def test_every_file_of_quantwb_is_classified_for_the_cache_key() -> None:
    """Each source file is measuring code (its edits rerun steps) or not, by exactly one entry; entries exist."""
    import quantwb
    from quantwb.sweep.steps import MEASURING_CODE, NOT_MEASURING_CODE

    root = Path(quantwb.__file__).parent
    for entry in (*MEASURING_CODE, *NOT_MEASURING_CODE):
        assert (root / entry).exists(), f"{entry} is listed but is not in quantwb/ (moved?)"
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        owners = [e for e in (*MEASURING_CODE, *NOT_MEASURING_CODE) if relative.as_posix() == e or relative.is_relative_to(e)]
        assert len(owners) == 1, f"{relative} is classified by {owners or 'no entry'}: add it to one list in sweep/steps.py"


def test_measuring_code_membership() -> None:
    from quantwb.sweep.steps import is_measuring_code

    assert is_measuring_code(Path("evaluate/kld.py")) and is_measuring_code(Path("sweep/step_kinds.py"))
    assert not is_measuring_code(Path("reports/html.py")) and not is_measuring_code(Path("sweep/run_plan.py"))
