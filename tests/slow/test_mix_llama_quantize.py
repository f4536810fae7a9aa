"""llama.cpp's own `llama-quantize --tensor-type-file --imatrix` (built from the llama-cpp-python sdist by
bench/llama_tools.py), given the recipe and the importance matrix `quantwb mix` wrote, writes a byte-identical GGUF.

Slow only for the one-time build of llama-quantize (minutes); the mix itself is the tiny model's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from quantwb.fileio import sha256_file

pytestmark = pytest.mark.slow


def test_llama_quantize_reproduces_the_mix_from_its_recipe(tiny_model: Path, tmp_path: Path) -> None:
    from bench.llama_tools import llama_quantize
    from quantwb.formats.gguf_types import INTERMEDIATE_TYPE
    from quantwb.mix.config import MixConfig, MixTarget
    from quantwb.mix.make import make_mix
    from quantwb.mix.recipe import read_recipe
    from quantwb.models import resolve
    from quantwb.quantize.gguf_convert import converted_path

    result = make_mix(MixConfig(model=str(tiny_model), target=MixTarget(match="Q4_K_M"), ctx=128, chunks=1,
                                layers_per_group=2, candidates=("Q2_K", "Q4_K", "Q8_0"), out_dir=tmp_path,
                                results_dir=None))
    assert len({type_name for _, type_name in read_recipe(result.recipe)}) > 1  # a real mix of types
    source = converted_path(resolve(str(tiny_model)), INTERMEDIATE_TYPE)
    again = tmp_path / "again.gguf"
    imatrix = result.variant.manifest["mix"]["imatrix"]["file"]  # the one the mix computed and wrote with
    command = [str(llama_quantize()), "--tensor-type-file", str(result.recipe), "--imatrix", imatrix, str(source),
               str(again), result.variant.manifest["type"]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sha256_file(again) == sha256_file(result.variant.path)
    assert result.variant.manifest["recipe"]["reproduce"].split()[:2] == ["llama-quantize", "--tensor-type-file"]
