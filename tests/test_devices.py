"""--device: its spelling, the CPU fallback of `auto`, what a record says about where it ran, and CUDA where one exists."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from quantwb.devices import _torch_version_file, check_device, resolve_device, torch_build_is_cpu_only, unquantized_dtype
from quantwb.errors import InputError
from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants
from quantwb.records import read_record
from tests.cli_helpers import invoke

torch = pytest.importorskip("torch")
HAS_CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("spec", ["auto", "cpu", "cuda", "cuda:0", "cuda:3", " CUDA:1 "])
def test_device_spellings_accepted(spec: str) -> None:
    assert check_device(spec) == spec.strip().lower()


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "tpu", "mps", "", "cpu:0"])
def test_device_spellings_refused(spec: str) -> None:
    with pytest.raises(InputError, match="auto|cpu|cuda"):
        check_device(spec)


def test_cli_refuses_unknown_device() -> None:
    result = invoke("rtn", "smollm2-135m", "--device", "tpu")
    assert result.exit_code == 2
    assert "device must be auto|cpu|cuda[:N]" in result.stderr


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU fallback; this machine has CUDA")
def test_auto_falls_back_to_cpu_and_cuda_is_refused_without_one() -> None:
    assert resolve_device("auto") == "cpu"
    with pytest.raises(InputError, match="no CUDA device"):
        resolve_device("cuda")
    assert unquantized_dtype("cpu") == "float32"


def test_the_installed_torch_build_is_read_without_importing_it() -> None:
    assert torch_build_is_cpu_only(_torch_version_file()) == (torch.version.cuda is None and torch.version.hip is None)


@pytest.mark.parametrize("text, cpu_only", [
    ("cuda: Optional[str] = None\ngit_version = 'x'\nhip: Optional[str] = None\n", True),
    ("cuda = None\nhip = None\n", True),
    ("cuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n", False),
    ("cuda: Optional[str] = None\nhip: Optional[str] = '6.3.42131'\n", False),
    ("cuda: Optional[str] = None\n", False),  # a file that does not say: torch is asked
])
def test_a_build_is_cpu_only_when_its_version_file_names_neither_cuda_nor_hip(text: str, cpu_only: bool, tmp_path: Path) -> None:
    version = tmp_path / "version.py"
    version.write_text(text)
    assert torch_build_is_cpu_only(version) is cpu_only
    assert torch_build_is_cpu_only(tmp_path / "missing.py") is False and torch_build_is_cpu_only(None) is False


def test_plan_refuses_unknown_device() -> None:
    from quantwb.sweep.plan import Plan

    with pytest.raises(ValueError, match="device must be"):
        Plan(models=("m",), variants=("fp",), device="gpu")


def _evaluate(tiny_model: Path, story_text: Path, out: Path, device: str):
    config = EvalConfig(base=str(tiny_model), text=str(story_text), ctx=64, chunks=4, out_dir=out, gen_tokens=4,
                        device=device)
    (path,) = evaluate_variants([tiny_model], config)
    return read_record(path)


def test_auto_on_this_machine_records_where_it_ran(tiny_model: Path, story_text: Path, tmp_path: Path) -> None:
    record = _evaluate(tiny_model, story_text, tmp_path, "auto")
    expected = "cuda" if HAS_CUDA else "cpu"
    assert record.resources.device == expected
    assert record.resources.dtype == unquantized_dtype(expected)
    assert record.resources.batch_size == (8 if HAS_CUDA else 2)
    assert record.kld.kld.mean == 0.0  # the base against itself, on whichever device


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device (torch sees none here)")
def test_cuda_eval_matches_cpu_within_bf16_rounding(tiny_model: Path, story_text: Path, tmp_path: Path) -> None:
    on_gpu = _evaluate(tiny_model, story_text, tmp_path / "gpu", "cuda")
    on_cpu = _evaluate(tiny_model, story_text, tmp_path / "cpu", "cpu")
    assert (on_gpu.resources.device, on_gpu.resources.dtype) == ("cuda", "bfloat16")
    assert (on_cpu.resources.device, on_cpu.resources.dtype) == ("cpu", "float32")
    # the same windows, bf16 weights and activations against fp32: perplexity within 2 %
    assert math.isclose(on_gpu.perplexity.ppl, on_cpu.perplexity.ppl, rel_tol=0.02)
