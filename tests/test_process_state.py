"""No hidden process-wide state: every scope that quiets a library puts back what it found.

Environment variables, logger levels, llama.cpp's and ggml's C log callbacks, and file descriptor 2.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable
from pathlib import Path

import click
import llama_cpp
import pytest
from click.testing import CliRunner

from quantwb import cli
from quantwb.errors import InputError
from quantwb.evaluate.gguf_runner import GGUFRunner, load_llama
from quantwb.evaluate.runners import RunnerOptions
from quantwb.formats.gguf_facts import _ggml_base, read_gguf_facts
from quantwb.llama_log import discard, llama_log_to
from quantwb.quantize.llama_quantize import capture_llama_log
from quantwb.quiet import QUIET_ENV, quiet_imports, quiet_libraries


def installed(get: Callable) -> tuple[int | None, int | None]:
    """The (callback address, user data) a C logger holds now."""
    callback, user_data = llama_cpp.llama_log_callback(), ctypes.c_void_p()
    get(ctypes.byref(callback), ctypes.byref(user_data))
    return ctypes.cast(callback, ctypes.c_void_p).value, user_data.value


def llama_installed() -> tuple[int | None, int | None]:
    return installed(llama_cpp.llama_log_get)


def ggml_installed() -> tuple[int | None, int | None]:
    return installed(_ggml_base().ggml_log_get)


def not_a_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "not.gguf"
    path.write_bytes(b"NOPE and then some bytes")
    return path


# ------------------------------------------------------------------ environment variables and logger levels
def test_quiet_libraries_sets_unset_variables_keeps_the_users_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    with quiet_libraries({"TOKENIZERS_PARALLELISM": "false"}):
        assert os.environ["TQDM_DISABLE"] == QUIET_ENV["TQDM_DISABLE"]
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"  # the user's own setting wins
        assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
        os.environ["TRANSFORMERS_VERBOSITY"] = "debug"  # whatever happens inside, the user's value comes back
    assert "TQDM_DISABLE" not in os.environ and "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"


def test_quiet_scopes_restore_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    noisy = logging.getLogger("torchao")
    before = noisy.level
    noisy.setLevel(logging.INFO)
    try:
        with pytest.raises(RuntimeError), quiet_libraries():
            assert noisy.level == logging.ERROR
            raise RuntimeError("inside")
        assert noisy.level == logging.INFO and "TQDM_DISABLE" not in os.environ
        with quiet_imports():
            assert noisy.level == logging.ERROR
        assert noisy.level == logging.INFO
    finally:
        noisy.setLevel(before)


def _probe(seen: list[dict]) -> click.Command:
    @click.command("probe")
    def probe() -> None:
        seen.append({name: os.environ.get(name) for name in QUIET_ENV})

    return probe


@pytest.mark.parametrize("flags, quiet", [((), True), (("-v",), False), (("--debug",), False)])
def test_cli_quiets_the_command_and_restores_the_process(
    monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], quiet: bool
) -> None:
    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    seen: list[dict] = []
    monkeypatch.setattr(cli, "_discover", lambda: {"probe": _probe(seen)})
    result = CliRunner().invoke(cli.main, [*flags, "probe"])
    assert result.exit_code == 0, result.output
    assert seen == [dict(QUIET_ENV) if quiet else dict.fromkeys(QUIET_ENV)]
    assert not any(name in os.environ for name in QUIET_ENV)


# ------------------------------------------------------------------ llama.cpp and ggml log callbacks
def test_llama_log_scopes_nest_and_restore_what_they_found() -> None:
    before = llama_installed()
    outer: list[str] = []
    with llama_log_to(lambda level, text: outer.append(text)):
        in_outer = llama_installed()
        assert in_outer != before
        with capture_llama_log() as inner:
            assert llama_installed() not in (before, in_outer)
            assert not llama_cpp.llama_model_load_from_file(b"/nonexistent.gguf", llama_cpp.llama_model_default_params())
        assert llama_installed() == in_outer
        with pytest.raises(RuntimeError), llama_log_to(discard):
            raise RuntimeError("inside")
        assert llama_installed() == in_outer
    assert llama_installed() == before
    assert "failed to load model" in inner.text and not outer  # the innermost scope got the lines


def test_a_gguf_that_fails_to_load_leaves_llama_log_as_it_was(tmp_path: Path) -> None:
    before = llama_installed()
    with pytest.raises(InputError, match="cannot load"):
        load_llama(not_a_gguf(tmp_path))
    with pytest.raises(InputError, match="cannot load"):
        GGUFRunner(not_a_gguf(tmp_path), RunnerOptions(ctx=64, threads=1))
    assert llama_installed() == before


# ------------------------------------------------------------------ ggml's GGUF reader and file descriptor 2
def test_gguf_reader_complaint_goes_through_ggml_log_not_fd2(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    before, stderr_file = ggml_installed(), os.fstat(2)
    with pytest.raises(InputError, match="invalid magic characters"):
        read_gguf_facts(not_a_gguf(tmp_path))
    assert ggml_installed() == before
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (stderr_file.st_dev, stderr_file.st_ino)
    assert capfd.readouterr().err == ""  # one line from quantwb (the error), nothing from ggml


def test_library_output_goes_to_the_log_and_the_streams_come_back(capsys: pytest.CaptureFixture[str]) -> None:
    """Inside quiet_libraries a library's writes (a print, a tqdm bar) are hidden and quantwb's own pass; after, both
    sys streams are the ones before, and a library that kept the stand-in (a loguru sink) writes through again.
    Who writes is told by the module of the code behind the write, so each side runs as code of such a module."""
    import sys

    def run_as(module: str, code: str) -> None:
        exec(compile(code, f"<{module}>", "exec"), {"__name__": module})  # noqa: S102 - fixed test snippets

    before = sys.stdout, sys.stderr
    with quiet_libraries():
        kept = sys.stdout
        run_as("somelibrary.core", "print('a library line')")
        run_as("somelibrary.bars", "from tqdm import tqdm\nfor _ in tqdm(range(3), disable=False): pass")
        run_as("quantwb.probe", "print('quantwb line')")
        run_as("quantwb.probe", "import click; click.echo('quantwb error line', err=True)")
    assert (sys.stdout, sys.stderr) == before
    kept.write("after the scope\n")
    captured = capsys.readouterr()
    assert captured.out == "quantwb line\nafter the scope\n"
    assert captured.err == "quantwb error line\n"
