"""Build llama.cpp's own tools (`llama-perplexity`, `llama-quantize`) from the llama-cpp-python sdist, to check
quantwb against them.

Each binary is built once into a cache folder outside the repository (never committed):
`$QUANTWB_LLAMA_TOOLS`, else `~/.cache/quantwb-llama-tools/<version>`; a second tool reuses the same build tree.
Run `python bench/llama_tools.py [TARGET]` to build one and print its path.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

TARGET = "llama-perplexity"
QUANTIZE_TARGET = "llama-quantize"


def tools_dir(version: str) -> Path:
    root = os.environ.get("QUANTWB_LLAMA_TOOLS")
    return Path(root) if root else Path.home() / ".cache" / "quantwb-llama-tools" / version


def llama_perplexity(version: str | None = None, jobs: int | None = None) -> Path:
    """Path of a built `llama-perplexity` matching the installed llama-cpp-python (built on first call)."""
    return llama_tool(TARGET, version, jobs)


def llama_quantize(version: str | None = None, jobs: int | None = None) -> Path:
    """Path of a built `llama-quantize` matching the installed llama-cpp-python (built on first call)."""
    return llama_tool(QUANTIZE_TARGET, version, jobs)


def llama_tool(target: str, version: str | None = None, jobs: int | None = None) -> Path:
    """Path of the llama.cpp tool `target`, built from the installed llama-cpp-python's sdist on first call."""
    version = version or metadata.version("llama-cpp-python")
    root = tools_dir(version)
    binary = root / "bin" / target
    if binary.is_file():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; a second caller waits and reuses it
        if not binary.is_file():
            _build(version, root, binary, target, jobs)
    return binary


def _build(version: str, root: Path, binary: Path, target: str, jobs: int | None) -> None:
    source = _unpacked_sdist(version, root)
    build = root / "build"
    if not (build / "CMakeCache.txt").is_file():
        subprocess.run(
            ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_OPENSSL=OFF",
             "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DBUILD_SHARED_LIBS=OFF"],
            check=True,
        )
    subprocess.run(
        ["cmake", "--build", str(build), "--target", target, "-j", str(jobs or os.cpu_count() or 2)], check=True
    )
    built = build / "bin" / target
    binary.parent.mkdir(exist_ok=True)
    shutil.copy2(built, binary)


def _unpacked_sdist(version: str, root: Path) -> Path:
    """vendor/llama.cpp from `pip download --no-binary :all: llama-cpp-python==<version>`."""
    source = root / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
             f"llama-cpp-python=={version}", "-d", tmp],
            check=True,
        )
        archive = next(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        vendored = next(Path(tmp).glob("*/vendor/llama.cpp"))
        shutil.move(str(vendored), source)
    return source


if __name__ == "__main__":
    print(llama_tool(sys.argv[1] if len(sys.argv) > 1 else TARGET))
