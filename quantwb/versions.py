"""Versions of the libraries that shaped an artifact or a number, for manifests and records."""

from __future__ import annotations

from importlib import metadata

TRACKED = ("quantwb", "torch", "transformers", "llmcompressor", "compressed-tensors", "gptqmodel",
           "llama-cpp-python", "gguf", "lm-eval", "auto-round")


def library_versions(names: tuple[str, ...] = TRACKED) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
