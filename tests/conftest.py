"""Shared fixtures: the tiny Llama model (built once per checkout, cached by pytest) and data paths."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

# Before any library reads it at import (huggingface_hub freezes it then): the test process and the worker
# processes it starts (Ray's among them) must agree, as a user's shell makes them agree (quantwb drops the
# `local_files_only` transformers saves into an HF variant's tokenizer_config.json, but libraries may read it
# elsewhere too).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.tiny_model import TRAINING_TEXT, build_tiny_model  # noqa: E402

# The real offline corpora and task sets beside the checkout (CI has them; a user's clone does not).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY_MODEL_VERSION = "v2"  # bump when build_tiny_model changes, so the cached copy is rebuilt


@pytest.fixture(autouse=True)
def quantwb_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep tests out of the user's cache, but share one home per session (built-in models are big)."""
    home = tmp_path_factory.getbasetemp() / "quantwb-home"
    monkeypatch.setenv("QUANTWB_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory):
    """The session's quantwb home for module fixtures, which run before the autouse (function) `quantwb_home`."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.getbasetemp() / "quantwb-home"
        patch.setenv("QUANTWB_HOME", str(home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield home


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model: Path, module_home: Path, module_dir):
    """`tiny_gguf(type)`: the tiny model quantized by llama.cpp to `type` (no imatrix), once per module."""
    from quantwb.models import resolve
    from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf

    def make(type_name: str) -> Path:
        (artifact,) = quantize_gguf(resolve(str(tiny_model)), [type_name], module_dir(type_name), ImatrixChoice("none"))
        return artifact.path

    return make


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory):
    """`module_dir(name)`: a new folder for a module's shared fixtures, removed when the module's tests end.

    Folders from `tmp_path_factory` stay until the session ends; the suite's module fixtures wrote ~5 GB that
    way, and a full disk failed unrelated tests in CI."""
    made: list[Path] = []

    def make(name: str) -> Path:
        made.append(tmp_path_factory.mktemp(name))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model(request: pytest.FixtureRequest) -> Path:
    """Path of the tiny trained Llama HF folder (SmolLM2 tokenizer, hidden 256, 2 layers)."""
    cache = Path(request.config.cache.mkdir(f"quantwb-tiny-{TINY_MODEL_VERSION}"))
    model_dir = cache / "model"
    # Several pytest processes may share one checkout: one builds, the others wait on the lock.
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (model_dir / "config.json").is_file():
            partial = cache / f"model.partial-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            build_tiny_model(partial)
            shutil.rmtree(model_dir, ignore_errors=True)
            partial.rename(model_dir)
    return model_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, for the tests that need data quantwb does not ship (tests may read it; the product must not)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs ../shared/data (corpora and task sets quantwb does not ship), absent at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def story_text() -> Path:
    """The tiny model's training text (shipped in tests/data): its own domain, so its predictions are peaked."""
    return TRAINING_TEXT


@pytest.fixture(scope="session")
def wiki_text(shared_data: Path) -> Path:
    """The full Wikipedia corpus (2 MB; quantwb ships only a 240 kB excerpt of it)."""
    return shared_data / "text" / "wiki.txt"
