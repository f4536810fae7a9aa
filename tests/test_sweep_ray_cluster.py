"""The Ray executor on a two-node cluster on the loopback address (`ray start --head` + `ray start --address`, each
node with its own temp dir, one CPU and its own QUANTWB_HOME), with nothing shared: the records come back to the
driver and say which node measured each variant, the base cache travels through Ray, and a rerun skips what is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.fileio import sha256_file
from quantwb.records import read_record
from quantwb.sweep import SweepOptions, run_sweep
from quantwb.sweep.ray_executor import ChainEvent, RayOptions
from tests.ray_cluster import ENV, two_node_cluster
from tests.test_sweep_ray import tiny_plan


def test_two_nodes_nothing_shared(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    results = tmp_path / "results"
    plan = tiny_plan(tiny_model)
    with two_node_cluster(cpus_each=1) as cluster:
        options = SweepOptions(results_dir=results, executor="ray", ray=RayOptions(address=cluster.address, shared_results=False))
        chains: list[ChainEvent] = []
        first = run_sweep(plan, options, on_chain=chains.append)
        made = {p.name for home in cluster.homes for p in home.glob("ray-results/*/artifacts/model/*")}
        caches = [sha256_file(next((home / "base-logprobs").iterdir()) / "p.npy") for home in cluster.homes]
        again = run_sweep(plan, options)

    assert first.count("done") == 7 and first.retried == ()
    records = {p.name: read_record(p) for p in (results / "records" / "model").glob("*.json")}
    assert sorted(records) == ["model-Q4_K_M.text.json", "model-Q8_0.text.json", "model-rtn-w4g64.text.json", "model.text.json"]
    nodes = {r.environment["ray_node_id"] for r in records.values()}
    assert len(nodes) == 2, "each node has one CPU and four chains were ready at once: both must have measured"
    # nothing shared: the artifacts stayed in the workers' homes; the driver has the records and the markers
    assert not (results / "artifacts").exists() and len(list((results / "steps" / "model").glob("*.json"))) == 7
    assert made == {"Q8_0", "Q4_K_M", "rtn-w4g64"}
    # one task computed the base pass; the other node received the same cache through Ray, before its first chain
    assert [e.status for e in chains if e.chain == "model base pass"] == ["running"] and caches[0] == caches[1]
    assert sum(e.detail.startswith("base cache copied from") for e in chains) == 1
    # a rerun measures nothing again: every evaluation is cached, whichever node its chain lands on
    assert {e.step.kind for e in again.events if e.status != "cached"} <= {"quantize"}
    assert all(e.status in ("cached", "done") for e in again.events)
