"""Resolve MODEL (local folder, built-in alias, hub id) to a `ModelSource` with a content hash.

A GGUF file as MODEL is resolved one layer up (quantwb.formats.gguf_source), where GGUF headers are read."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from quantwb.builtin_models import BUILTINS, materialize
from quantwb.checkpoint_files import check_weight_files, read_config
from quantwb.errors import ModelNotFoundError, NotACausalLMError, OfflineError
from quantwb.fileio import sha256_tree
from quantwb.home import hub_offline, models_dir

log = logging.getLogger(__name__)

# The files whose bytes define a model; other files (READMEs, manifests) do not change its identity.
MODEL_FILE_PATTERNS = ("*.safetensors", "*.bin", "config.json", "generation_config.json", "tokenizer*", "*.model")
# The files transformers builds a tokenizer from (fast JSON, SentencePiece, BPE or WordPiece vocabularies, tiktoken).
TOKENIZER_FILE_PATTERNS = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model", "*.tiktoken")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: a Hugging Face causal-LM folder, or (format "gguf") a GGUF file."""

    name: str
    path: Path
    architecture: str
    sha256: str
    origin: str | None = None  # how the weights came to be, when that matters for reading results
    format: Literal["hf", "gguf"] = "hf"
    file_type: str | None = None  # GGUF only: its llama.cpp file type (F16, BF16, Q8_0, ...)


def resolve(model: str) -> ModelSource:
    """Turn a CLI MODEL argument into a local HF folder; raises a typed error with one line."""
    if model in BUILTINS:
        builtin = BUILTINS[model]
        path = materialize(builtin)
        return _source(model, path, origin=builtin.origin)
    path = Path(model).expanduser()
    if path.exists():
        return _source(path.name, path)
    if _HUB_ID.match(model) and not model.startswith((".", "/", "~")):
        return _source(model, _download(model))
    aliases = ", ".join(sorted(BUILTINS))
    raise ModelNotFoundError(f"{model}: no such folder, and not a built-in alias ({aliases}) or a hub id (owner/name)")


def _source(name: str, path: Path, origin: str | None = None) -> ModelSource:
    architecture = check_causal_lm(path)
    return ModelSource(name=name, path=path.resolve(), architecture=architecture, sha256=model_sha256(path), origin=origin)


def check_causal_lm(path: Path) -> str:
    """Return the architecture name of the causal LM in `path`, or raise NotACausalLMError."""
    if not path.is_dir():
        raise NotACausalLMError(f"{path}: not a folder (expected a Hugging Face model folder with config.json; "
                                "a GGUF file is a MODEL only for gguf, eval --base and sweep plans)")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise NotACausalLMError(f"{path}: no config.json, so not a Hugging Face model folder")
    config = read_config(path)  # a JSON object, or one line
    architectures = config.get("architectures") or []
    causal = [name for name in architectures if name.endswith(("ForCausalLM", "LMHeadModel"))]
    if architectures and not causal:
        raise NotACausalLMError(f"{path}: not a causal language model ({', '.join(architectures)})")
    if not architectures:
        # No architectures field: fall back to what transformers would build for this model_type.
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        model_type = config.get("model_type")
        if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            raise NotACausalLMError(f"{path}: not a causal language model (model_type={model_type!r})")
        causal = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]]
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise NotACausalLMError(f"{path}: config.json but no weights (*.safetensors or *.bin)")
    check_weight_files(path)  # damaged or unsafe weight files: one line now, not a traceback after minutes of work
    if not any(next(path.glob(pattern), None) for pattern in TOKENIZER_FILE_PATTERNS):
        raise NotACausalLMError(f"{path}: no tokenizer files (tokenizer.json, tokenizer.model, or vocab.json with "
                                "merges.txt): quantwb needs the model's tokenizer to calibrate, convert and evaluate")
    return causal[0]


def model_sha256(path: Path) -> str:
    """Content hash of a model folder, memoized beside it by file sizes and mtimes."""
    files = sorted({p for pattern in MODEL_FILE_PATTERNS for p in path.glob(pattern) if p.is_file()})
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo = path / ".quantwb-sha256.json"
    try:
        cached = json.loads(memo.read_text())
        if cached.get("stamp") == stamp:
            return str(cached["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    digest = sha256_tree(path, MODEL_FILE_PATTERNS)
    try:
        memo.write_text(json.dumps({"stamp": stamp, "sha256": digest}))
    except OSError:
        log.debug("cannot memoize the hash of %s (read-only folder)", path)
    return digest


def _download(hub_id: str) -> Path:
    """Fetch a hub snapshot; offline, say so in one line instead of a stack of connection errors."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    offline = hub_offline()
    try:
        return Path(snapshot_download(hub_id, local_files_only=offline))
    except RepositoryNotFoundError as err:
        raise ModelNotFoundError(f"{hub_id}: no such model on the Hugging Face hub") from err
    except (LocalEntryNotFoundError, OSError) as err:
        raise OfflineError(
            f"{hub_id}: the Hugging Face hub is not reachable and the model is not cached; "
            "pass a local folder or a built-in alias (quantwb models)"
        ) from err


def cached_models() -> list[tuple[str, Path, int]]:
    """(name, path, size in bytes) of every materialized model in the cache."""
    rows = []
    for path in sorted(models_dir().iterdir()):
        if path.is_dir() and not path.name.startswith("."):
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            rows.append((path.name, path, size))
    return rows
