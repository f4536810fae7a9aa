"""A model folder's own files checked before any library loads them: config.json an object, weight files readable.

Checked up front so a damaged folder costs one line before minutes of work (and before a base pass), not a
traceback from deep inside transformers. Safetensors is the expected format; a pickle (`*.bin`) checkpoint is
read only by torch's safe loader (`weights_only=True`), and one that loader refuses is refused here too:
quantwb never offers or performs unsafe unpickling.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from quantwb.errors import InputError

WeightsFormat = Literal["safetensors", "pickle"]


def read_config(path: Path) -> dict[str, Any]:
    """The folder's config.json as a dict; one line (InputError) when it is unreadable or not a JSON object."""
    config_path = path / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{config_path}: unreadable ({err})") from err
    if not isinstance(config, dict):
        raise InputError(f"{config_path}: not a JSON object (found a {type(config).__name__}); not a model config")
    return config


def weights_format(path: Path) -> WeightsFormat | None:
    """safetensors when the folder has them (transformers prefers them), else pickle for `*.bin`, else None."""
    if any(path.glob("*.safetensors")):
        return "safetensors"
    return "pickle" if any(path.glob("*.bin")) else None


def check_weight_files(path: Path) -> WeightsFormat | None:
    """Read every weight file's header (safetensors) or load it with torch's safe loader (pickle); one line if damaged."""
    kind = weights_format(path)
    if kind == "safetensors":
        for file in sorted(path.glob("*.safetensors")):
            check_safetensors(file)
    elif kind == "pickle":
        for file in sorted(path.glob("*.bin")):
            check_pickle(file)
    return kind


def check_safetensors(file: Path) -> None:
    """The header parses and covers the whole file (a truncated copy fails here, without reading the tensors)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), "np"):
            pass
    except (SafetensorError, OSError) as err:
        raise InputError(f"{file}: damaged safetensors file ({_first_line(err)}); copy or download it again") from err


def check_pickle(file: Path) -> None:
    """torch's safe loader accepts the file (tensors and plain containers only); memory-mapped, so cheap."""
    import pickle

    from quantwb.quiet import quiet_imports

    with quiet_imports():
        import torch

    try:
        try:
            torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            torch.load(file, map_location="cpu", weights_only=True)  # the legacy (non-zip) format cannot be mapped
    except pickle.UnpicklingError as err:
        raise InputError(
            f"{file}: a pickle checkpoint that torch's safe loader refuses (it holds more than tensors); "
            "quantwb does not unpickle unsafely: convert it to safetensors where you trust its origin"
        ) from err
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise InputError(f"{file}: damaged pickle checkpoint ({_first_line(err)})") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def remote_code_files(path: Path) -> list[str]:
    """The model's own code: `*.py` files in the folder, and `config.json:auto_map` when the config points at code.

    transformers runs that code only with `trust_remote_code=True`, and copies it into a folder it saves."""
    found = sorted(p.name for p in path.glob("*.py") if p.is_file())
    config = path / "config.json"
    if config.is_file() and "auto_map" in read_config(path):
        found.append("config.json:auto_map")
    return found
