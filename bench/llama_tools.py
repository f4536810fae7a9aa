"""Build llama.cpp's own `llama-perplexity` from the llama-cpp-python sdist, to check quantwb against it.

The binary is built once into a cache folder outside the repository (never committed):
`$QUANTWB_LLAMA_TOOLS`, else `~/.cache/quantwb-llama-tools/<version>`.
Run `python bench/llama_tools.py` to build it and print its path.
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


def tools_dir(version: str) -> Path:
    root = os.environ.get("QUANTWB_LLAMA_TOOLS")
    return Path(root) if root else Path.home() / ".cache" / "quantwb-llama-tools" / version


def llama_perplexity(version: str | None = None, jobs: int | None = None) -> Path:
    """Path of a built `llama-perplexity` matching the installed llama-cpp-python (built on first call)."""
    version = version or metadata.version("llama-cpp-python")
    root = tools_dir(version)
    binary = root / "bin" / TARGET
    if binary.is_file():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; a second caller waits and reuses it
        if not binary.is_file():
            _build(version, root, binary, jobs)
    return binary


def _build(version: str, root: Path, binary: Path, jobs: int | None) -> None:
    source = _unpacked_sdist(version, root)
    build = root / "build"
    subprocess.run(
        ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_OPENSSL=OFF",
         "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DBUILD_SHARED_LIBS=OFF"],
        check=True,
    )
    subprocess.run(
        ["cmake", "--build", str(build), "--target", TARGET, "-j", str(jobs or os.cpu_count() or 2)], check=True
    )
    built = build / "bin" / TARGET
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
    print(llama_perplexity())
