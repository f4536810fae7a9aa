"""AutoRound (Cheng et al. 2023, arXiv:2309.05516): rounding and clipping tuned block by block with signed gradient
descent, through Intel's `auto-round`. Writes the auto_round, GPTQ or AWQ checkpoint format, or a GGUF type."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quantwb import defaults
from quantwb.calibration import CalibrationSet
from quantwb.errors import QuantizationError, UnsupportedError
from quantwb.fileio import contained
from quantwb.quantize import groups
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.hf_backend import backend_failure
from quantwb.quiet import quiet_imports

log = logging.getLogger(__name__)

# quantwb's --format name -> auto-round's export format, and the weight bits each format's kernels take.
HF_FORMATS = {"auto_round": "auto_round", "gptq": "auto_gptq", "awq": "auto_awq"}
FORMAT_BITS = {"auto_round": (2, 3, 4, 8), "gptq": (2, 3, 4, 8), "awq": (4,)}
LIBRARY = "auto-round"
_BATCH = 8  # windows per tuning step: auto-round's default batch size


class AutoRoundOptions(BaseModel):
    """AutoRound settings beyond bits/group size/symmetry (from `QuantSpec.options`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["auto_round", "gptq", "awq"] = defaults.AUTOROUND_FORMAT  # HF checkpoint; GGUF goes by QuantSpec.gguf_type
    iters: int = Field(defaults.AUTOROUND_ITERS, ge=0)  # tuning steps per block; 0 = auto-round's tuned-free rounding


def check_format_bits(spec: QuantSpec, options: AutoRoundOptions) -> None:
    """The bits the chosen checkpoint format's kernels accept (AWQ's are 4-bit only)."""
    groups.check_bits(f"{spec.method} --format {options.format}", spec.bits, FORMAT_BITS[options.format])


def gguf_types() -> list[str]:
    """The GGUF types auto-round exports (its own table), named as llama.cpp names them; others it has are not files."""
    with quiet_imports():
        from auto_round.export.export_to_gguf.config import GGUF_CONFIG

    from quantwb.formats.gguf_types import gguf_types as llama_types

    known = llama_types()
    return [name for name in (key.split(":", 1)[1].upper() for key in GGUF_CONFIG) if name in known]


def check_gguf_type(name: str) -> str:
    """`name` upper-cased if auto-round can export it as GGUF; else one line listing those it can."""
    wanted = name.strip().upper()
    types = gguf_types()
    if wanted not in types:
        raise UnsupportedError(f"autoround: cannot export GGUF type {name!r}; auto-round exports {', '.join(types)}")
    return wanted


@contextlib.contextmanager
def _library_logs() -> Iterator[None]:
    """auto-round logs every block through its own 'autoround' logger; show that only when quantwb logs INFO (-v)."""
    library = logging.getLogger("autoround")
    level = library.level
    if not log.isEnabledFor(logging.INFO):
        library.setLevel(logging.ERROR)
    try:
        yield
    finally:
        library.setLevel(level)


def weight_scheme(bits: int, group_size: int, symmetric: bool):
    """auto-round's scheme for integer weights per group (-1: per channel), activations untouched: W{bits}A16."""
    with quiet_imports():
        from auto_round.schemes import QuantizationScheme

    return QuantizationScheme(bits=bits, group_size=group_size, sym=symmetric, data_type="int", act_bits=16)


def tune_and_save(model: Any, tokenizer: Any, calibration: CalibrationSet, options: AutoRoundOptions, scheme: Any,
                  export_format: str, scratch: Path, method: str, device: str | None = None) -> None:
    """Tune `model` on quantwb's calibration windows and export it with auto-round into `scratch`.

    `scheme` is a `weight_scheme` or a GGUF preset name ("gguf:q4_k_m"); `device` (cpu, cuda:N) defaults to the
    first GPU, if any. `scratch` is a fresh folder the caller made; auto-round writes a subfolder it names itself.
    Its return value (a str for one format, a list for several) is not used: callers find what it wrote with
    `written_folder`, inside `scratch` only."""
    with quiet_imports():
        import torch
        from auto_round import AutoRound

    windows = [torch.tensor([window]) for window in calibration.windows]  # the same windows every method gets
    try:
        with _library_logs():
            rounder = AutoRound(
                model, tokenizer, scheme=scheme, dataset=windows, nsamples=len(windows),
                seqlen=calibration.spec.seq_len, batch_size=min(_BATCH, len(windows)), iters=options.iters,
                seed=calibration.spec.seed,
                device_map=device or ("cuda:0" if torch.cuda.is_available() else "cpu"),
                # compilation costs more than it saves on small CPU runs (and auto-round notes ~10 GB more RAM)
                enable_torch_compile=False,
            )
            rounder.quantize_and_save(str(scratch), format=export_format)
    except (ValueError, RuntimeError, AssertionError, NotImplementedError, KeyError) as err:
        raise backend_failure(LIBRARY, method, err) from err
    except SystemExit as err:  # auto-round logs some refusals and calls exit()
        raise QuantizationError(f"{LIBRARY} {method} stopped (exit {err.code}); rerun with -v to see its log") from err


def written_folder(scratch: Path, marker: str) -> Path:
    """The one folder inside `scratch` that holds a file matching `marker` (config.json, *.gguf)."""
    found = sorted({path.parent for path in Path(scratch).rglob(marker)})
    if len(found) != 1:
        raise QuantizationError(f"{LIBRARY} wrote {len(found)} folders with {marker}, expected one")
    return inside(found[0], scratch)


def inside(path: Path, scratch: Path) -> Path:
    """`path` resolved, checked to lie inside `scratch` before anyone moves it; one line if it does not."""
    try:
        return contained(path, scratch)
    except ValueError as err:
        raise QuantizationError(f"{LIBRARY} output: {err}; not touching it") from err
