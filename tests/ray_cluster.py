"""A Ray cluster of two nodes on the loopback address, for tests: each node its own temp dir, CPUs and QUANTWB_HOME.

Stopped by process id (each node's processes name its temp dir; Ray's workers are their children), never with
`ray stop`, which would stop every Ray process on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

# Token authentication would need a token shared by every node; a loopback test cluster does without.
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass(frozen=True)
class Cluster:
    address: str
    homes: tuple[Path, Path]  # QUANTWB_HOME of the head and of the second node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ray(*args: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-c", "from ray.scripts.scripts import main; main()", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _stop(temp_dirs: list[str]) -> None:
    """SIGTERM, then SIGKILL, every process whose command line names one of `temp_dirs`, and all their children."""
    roots = [p for p in psutil.process_iter(["cmdline"]) if any(t in arg for arg in p.info["cmdline"] or () for t in temp_dirs)]
    procs = set(roots)
    for root in roots:
        try:
            procs.update(root.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


@contextmanager
def two_node_cluster(cpus_each: int = 1) -> Iterator[Cluster]:
    # Short temp dirs: Ray's unix socket paths under them must stay below 108 characters.
    temps = [tempfile.mkdtemp(prefix="qwb-ray-", dir="/tmp") for _ in range(2)]
    homes = (Path(temps[0]) / "home", Path(temps[1]) / "home")
    address = f"127.0.0.1:{_free_port()}"
    common = ["--node-ip-address=127.0.0.1", f"--num-cpus={cpus_each}", "--disable-usage-stats", "--include-log-monitor=false",
              f"--dashboard-agent-listen-port={_free_port()}"]
    try:
        _ray("start", "--head", f"--port={address.split(':')[1]}", f"--temp-dir={temps[0]}", "--include-dashboard=false", *common,
             env={**os.environ, **ENV, "QUANTWB_HOME": str(homes[0])})
        _ray("start", f"--address={address}", f"--temp-dir={temps[1]}", *common[:-1], f"--dashboard-agent-listen-port={_free_port()}",
             env={**os.environ, **ENV, "QUANTWB_HOME": str(homes[1])})
        yield Cluster(address, homes)
    finally:
        _stop(temps)
        for temp in temps:
            shutil.rmtree(temp, ignore_errors=True)
