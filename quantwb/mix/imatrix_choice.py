"""The importance matrix a mix is scored, written and judged with: computed on the choosing text (kept in quantwb's
cache, one per model and calibration), a llama.cpp imatrix file the user gives, or none."""

from __future__ import annotations

from pathlib import Path

from quantwb import defaults
from quantwb.cache_keys import cache_key
from quantwb.calibration import CalibrationSpec
from quantwb.errors import InputError
from quantwb.home import quantwb_home
from quantwb.models import ModelSource
from quantwb.quantize.gguf import PreparedImatrix, prepare_imatrix
from quantwb.quantize.gguf_convert import safe_model_name
from quantwb.quantize.imatrix import read_imatrix


def parse_mix_imatrix(value: str | Path) -> str | Path:
    """'auto' (compute on the choosing text), 'none', or an existing file; one line for anything else."""
    text = str(value)
    if text in ("auto", "none"):
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise InputError(f"--imatrix {text}: not auto, none, or an existing imatrix file")
    return path


def mix_imatrix(source: ModelSource, choice: str | Path, text: str, intermediate: Path) -> PreparedImatrix | None:
    """The prepared imatrix for `choice` (parse_mix_imatrix's value), checked against the converted model."""
    if choice == "none":
        return None
    if choice != "auto":
        path = Path(choice)
        return prepare_imatrix(source, (read_imatrix(path), path), CalibrationSpec(), path.parent, intermediate)
    calibration = CalibrationSpec(text=text, samples=defaults.MIX_IMATRIX_SAMPLES, seq_len=defaults.CALIBRATION_SEQ_LEN)
    folder = quantwb_home() / "mix-imatrix" / cache_key("mix-imatrix", model=source.sha256, calibration=calibration)[:24]
    kept = folder / f"{safe_model_name(source)}.imatrix.gguf"
    given = (read_imatrix(kept), kept) if kept.is_file() else None
    folder.mkdir(parents=True, exist_ok=True)
    return prepare_imatrix(source, given, calibration, folder, intermediate)
