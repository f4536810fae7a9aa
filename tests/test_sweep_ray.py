"""The Ray executor for real, on a local Ray instance (`ray.init(num_cpus=2)`) and the tiny model: the same numbers
as the local executor, the base pass computed once, a worker killed mid-chain retried, and the one-line errors."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from quantwb.errors import QuantwbError
from quantwb.records import read_record
from quantwb.reports.compare import compare
from quantwb.sweep import SweepOptions, run_sweep
from quantwb.sweep.plan import Plan, parse_plan
from quantwb.sweep.ray_executor import INSTALL_HINT, ChainEvent, chain_resources
from tests.cli_helpers import invoke, one_error_line
from tests.ray_cluster import ENV

GIB = 2**30


def tiny_plan(model: Path) -> Plan:
    return parse_plan(f"""
name: tiny
models: ["{model}"]
threads: 1
variants: [fp, Q8_0, Q4_K_M, {{method: rtn, bits: 4, group_size: 64}}]
evaluations:
  text: {{name: wiki, ctx: 128, chunks: 3}}
""")


@pytest.fixture(scope="module")
def local_ray(module_dir) -> Iterator[Path]:
    """A local Ray instance of 2 CPUs whose workers use a QUANTWB_HOME of their own (returned); shut down after the module."""
    home = module_dir("ray-workers-home")
    temp = tempfile.mkdtemp(prefix="qwb-ray-", dir="/tmp")  # short: Ray's socket paths must stay below 108 characters
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**ENV, "QUANTWB_HOME": str(home), "HF_HUB_OFFLINE": "1"}.items():
            patch.setenv(name, value)  # what the workers inherit
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp)
    try:
        yield home
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _numbers(folder: Path) -> dict[str, tuple]:
    records = (read_record(p) for p in sorted(folder.rglob("*.json")))
    return {r.variant.name: (r.variant.sha256, r.variant.size_bytes, r.text, r.perplexity, r.kld) for r in records}


def test_ray_measures_what_the_local_executor_measures(local_ray: Path, tiny_model: Path, tmp_path: Path) -> None:
    plan = tiny_plan(tiny_model)
    run_sweep(plan, SweepOptions(results_dir=tmp_path / "local", report=False))
    chains: list[ChainEvent] = []
    on_ray = run_sweep(plan, SweepOptions(results_dir=tmp_path / "ray", executor="ray"), on_chain=chains.append)

    local, measured = _numbers(tmp_path / "local" / "records"), _numbers(tmp_path / "ray" / "records")
    assert sorted(measured) == ["model", "model-Q4_K_M", "model-Q8_0", "model-rtn-w4g64"]
    assert measured == local  # same artifacts, same PPL and KLD statistics to the last bit
    assert on_ray.count("done") == 7 and on_ray.retried == ()
    node = ray.get_runtime_context().get_node_id()
    for path in (tmp_path / "ray" / "records").rglob("*.json"):
        assert read_record(path).environment["ray_node_id"] == node
    assert len(compare([tmp_path / "ray" / "records"]).rows) == 4 and (tmp_path / "ray" / "report.html").is_file()
    # the base pass ran once, in its own task, before any chain; every chain was queued, ran and finished
    states = [(e.chain, e.status) for e in chains]
    assert states.count(("model base pass", "running")) == 1 and len(list((local_ray / "base-logprobs").iterdir())) == 1
    for chain in ("model/base", "model/Q8_0", "model/Q4_K_M", "model/rtn-w4g64"):
        assert [s for c, s in states if c == chain] == ["queued", "running", "done"]
    assert not list((tmp_path / "ray").glob(".ray-probe-*")), "the shared-folder probe was left behind"


def test_a_killed_worker_is_retried_and_named(local_ray: Path, tiny_model: Path, tmp_path: Path) -> None:
    """SIGKILL of the worker running Q8_0's chain, 1.5 s into it: Ray runs the chain again, the sweep completes and names it."""
    killed: list[int] = []

    def kill_first_worker(event: ChainEvent) -> None:
        if event.chain == "model/Q8_0" and event.status == "running" and not killed and event.pid:
            killed.append(event.pid)
            threading.Timer(1.5, os.kill, (event.pid, signal.SIGKILL)).start()

    results = tmp_path / "results"
    result = run_sweep(tiny_plan(tiny_model), SweepOptions(results_dir=results, executor="ray", variants=("base", "Q8_0")),
                       on_chain=kill_first_worker)
    assert killed and result.retried == ("model/Q8_0",)
    statuses = {(e.step.variant, e.step.kind): e.status for e in result.events}
    assert sorted(statuses) == [("Q8_0", "quantize"), ("Q8_0", "text"), ("base", "text")]
    # the retry reuses what the killed attempt finished (its marker) and runs the rest
    assert set(statuses.values()) <= {"done", "cached"} and statuses[("Q8_0", "text")] == "done"
    assert [row.variant.name for row in compare([results / "records"]).rows] == ["model-Q8_0", "model"]
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)


def test_a_chain_failing_for_its_own_reason_fails_alone(local_ray: Path, tiny_model: Path, tmp_path: Path) -> None:
    plan = parse_plan(f"""
name: t
models: ["{tiny_model}"]
threads: 1
variants: [fp, {{method: gguf-mix, target_bpw: 1.0, options: {{ctx: 128, chunks: 2, candidates: [Q4_K, Q8_0]}}}}]
evaluations: {{text: {{name: wiki, ctx: 128, chunks: 3}}}}
""")
    # a failure only the run can find: the bytes the candidates can reach are known once llama.cpp has planned them
    reason = r"1 step\(s\) failed: model/mix-1bpw quantize: .*outside the reachable range .*\(report written for the rest: "
    with pytest.raises(QuantwbError, match=reason):
        run_sweep(plan, SweepOptions(results_dir=tmp_path / "results", executor="ray"))
    assert [row.variant.name for row in compare([tmp_path / "results" / "records"]).rows] == ["model"]


def test_cli_prints_each_chain_state(local_ray: Path, tiny_model: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: p\nmodels: ["{tiny_model}"]\nthreads: 1\nvariants: [fp]\nevaluations: {{text: {{name: wiki, ctx: 128, chunks: 3}}}}\n')
    result = invoke("sweep", str(plan), "--executor", "ray", "--results", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("chain ")]
    assert lines[0] == "chain queued  model/base"
    assert re.fullmatch(r"chain running model/base on \S+ \([0-9a-f]{8}\)", lines[-2])
    assert re.fullmatch(r"chain done    model/base on \S+ \([0-9a-f]{8}\) in \d+\.\d s", lines[-1])
    assert "done    model/base text" in result.stderr and result.stdout.splitlines()[0].endswith("report.md")


def test_without_ray_one_line_and_exit_2(tiny_model: Path, tmp_path: Path) -> None:
    """Ray hidden from the interpreter (`import ray` fails as when it is not installed); the plan asks for it."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: p\nmodels: ["{tiny_model}"]\nvariants: [fp]\nexecutor: ray\n')
    hide_ray = "import sys; sys.modules['ray'] = None; from quantwb.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", hide_ray, "sweep", str(plan), "--results", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and one_error_line(done) == f"error: {INSTALL_HINT}"
    assert not (tmp_path / "out").exists()


def test_jobs_is_for_the_local_executor(tiny_model: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: p\nmodels: ["{tiny_model}"]\nvariants: [fp]\n')
    result = invoke("sweep", str(plan), "--executor", "ray", "--jobs", "2", "--results", str(tmp_path / "out"))
    assert result.exit_code == 2 and "--jobs is for the local executor" in one_error_line(result)


def test_chain_resources() -> None:
    assert chain_resources(4, "cpu", 3 * GIB, cluster_gpus=8) == {"num_cpus": 4, "num_gpus": 0, "memory": 7 * GIB}
    assert chain_resources(1, "cuda:1", None, cluster_gpus=0) == {"num_cpus": 1, "num_gpus": 1}
    assert chain_resources(2, "auto", GIB, cluster_gpus=2)["num_gpus"] == 1
    assert chain_resources(2, "auto", GIB, cluster_gpus=0)["num_gpus"] == 0
