"""Ctrl-C at random moments of `quantwb gguf` (seven types), of `quantwb mix`'s measured scan and of its Fisher scores, as a terminal
sends it (SIGINT to the whole foreground process group): every time the command stops within 3 s with exit 130
and one line, no traceback and no partial file, and a rerun resumes from what was complete."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

GGUF_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")
TRIES = 10
STOP_S = 3.0  # from Ctrl-C to the command's exit

pytestmark = [pytest.mark.slow, pytest.mark.ci,
              pytest.mark.skipif(not hasattr(os, "killpg"), reason="sends SIGINT to a process group (POSIX)")]


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "quantwb.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            # a test runner started in the background inherits Ctrl-C ignored; a terminal's command does not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _interrupt(process: subprocess.Popen, ready: Callable[[], bool], delay_s: float) -> tuple[str, float]:
    """Wait until `ready()`, then `delay_s`, then Ctrl-C; the command's stderr and seconds from Ctrl-C to its exit."""
    deadline = time.monotonic() + 300
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay_s)
    assert process.poll() is None, f"the command ended before it could be interrupted: {process.communicate()}"
    os.killpg(process.pid, signal.SIGINT)
    sent = time.monotonic()
    out, err = process.communicate(timeout=120)
    took = time.monotonic() - sent
    assert process.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), err  # no traceback, no "Exception ignored"
    assert out == ""
    return err, took


def _partials(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if ".partial-" in p.name]


def test_ctrl_c_stops_gguf_with_seven_types(tiny_model: Path, tmp_path: Path) -> None:
    from quantwb.models import resolve
    from quantwb.quantize.gguf_convert import convert_to_gguf

    convert_to_gguf(resolve(str(tiny_model)))  # cached: the tries below start quantizing at once
    draw = random.Random(20261203)
    args = [str(tiny_model), *(item for name in GGUF_TYPES for item in ("--type", name))]
    # one uninterrupted run sets the pace: a type of the tiny model takes about 0.5 s on a 2-core machine
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "quantwb.cli", "gguf", *args, "--out", str(tmp_path / "paced")],
                   capture_output=True, check=True)
    per_type_s = (time.monotonic() - started) / len(GGUF_TYPES)

    def begun(out: Path) -> int:  # types llama.cpp has started on: the complete ones and the one being written
        return len(list(out.glob("*.gguf"))) + bool(_partials(out))

    took = []
    for attempt in range(TRIES):
        out = tmp_path / f"out-{attempt}"
        process = _start("gguf", *args, "--out", str(out))
        # a random moment of a random type, with at least two types still to make whatever the machine's pace
        nth = draw.randint(1, len(GGUF_TYPES) - 2)
        _, seconds = _interrupt(process, lambda out=out, nth=nth: begun(out) >= nth, draw.uniform(0.0, per_type_s))
        took.append(seconds)
        assert not _partials(out)
        for gguf in out.glob("*.gguf"):  # what is there is complete: its manifest and Modelfile beside it
            assert gguf.with_name(gguf.name + ".manifest.json").is_file() and gguf.with_suffix(".Modelfile").is_file()
    assert max(took) < STOP_S, took
    kept = {p: p.stat().st_mtime_ns for p in out.glob("*.manifest.json")}
    rerun = subprocess.run([sys.executable, "-m", "quantwb.cli", "gguf", *args, "--out", str(out)],
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("*.gguf"))) == len(GGUF_TYPES)
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in kept.items())  # complete types were not made again


def test_ctrl_c_stops_the_mix_scan_and_a_rerun_resumes(tiny_model: Path, tmp_path: Path, quantwb_home: Path) -> None:
    draw = random.Random(3)
    out = tmp_path / "out"
    # 15 groups x 4 types besides the default: 60 scan results, about 0.4 s each on a 2-core machine
    args = ["mix", str(tiny_model), "--match", "Q4_K_M", "--candidates", "Q2_K,Q3_K,Q4_K,Q6_K,Q8_0",
            "--ctx", "128", "--chunks", "2", "--layers-per-group", "1", "--score", "full", "--no-judge", "--out", str(out)]
    scans = quantwb_home / "mix-scan"

    def measured() -> int:
        return len(list(scans.glob("*/*.json")))

    took = []
    for _ in range(TRIES):
        before = measured()
        process = _start(*args)
        # mid-scan: once this run has measured one more (group, type), at a random moment of the next one or two;
        # ten tries then use at most half of the scan even on a machine four times as fast
        _, seconds = _interrupt(process, lambda before=before: measured() > before, draw.uniform(0.0, 0.4))
        took.append(seconds)
        assert not _partials(out, scans)
        assert not list(out.glob("*.gguf"))
    assert max(took) < STOP_S, took
    done = measured()
    rerun = subprocess.run([sys.executable, "-m", "quantwb.cli", *args], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done} reused" in " ".join(rerun.stdout.split()), rerun.stdout  # rich may wrap the line


def test_ctrl_c_stops_the_fisher_scores_and_a_rerun_resumes(tiny_model: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # a home of its own: the session's would keep these scores for test_mix_scores, which counts the types it quantizes
    quantwb_home = tmp_path / "home"
    monkeypatch.setenv("QUANTWB_HOME", str(quantwb_home))
    draw = random.Random(7)
    out = tmp_path / "out"
    # the default scores: an imatrix, a Fisher pass, then one quantization and dequantization per candidate type (6)
    args = ["mix", str(tiny_model), "--match", "Q4_K_M", "--ctx", "128", "--chunks", "2", "--no-judge", "--out", str(out)]
    errors = quantwb_home / "mix-errors"

    def quantized() -> int:
        return len(list(errors.glob("*/*.json")))

    took = []
    # early (start-up, imatrix, base pass or Fisher pass: seconds of work before the first type), then twice mid-way
    # through the types (about 3 s each for the tiny model on a 2-core machine)
    for early in (True, False, False):
        before = quantized()
        process = _start(*args)
        ready = (lambda: True) if early else (lambda before=before: quantized() > before)
        # from 0.1 s: before that the interpreter itself is starting (a Ctrl-C there is Python's, with its traceback)
        _, seconds = _interrupt(process, ready, draw.uniform(0.1, 1.0))
        took.append(seconds)
        assert not _partials(out, errors)
        assert not list(out.glob("*.gguf"))
    assert max(took) < STOP_S, took
    done = quantized()
    assert done < 6
    rerun = subprocess.run([sys.executable, "-m", "quantwb.cli", *args], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{6 - done} types quantized" in " ".join(rerun.stdout.split()), rerun.stdout
