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


def tune_and_save(model: Any, tokenizer: Any, calibration: CalibrationSet, options: AutoRoundOptions,
                  scheme: dict[str, Any], export_format: str, out: Path, method: str) -> Path:
    """Tune `model` on quantwb's calibration windows and export it with auto-round; the folder it wrote.

    `scheme` is auto-round's scheme argument (bits/group size/symmetry, or a GGUF preset name)."""
    with quiet_imports():
        import torch
        from auto_round import AutoRound

    windows = [torch.tensor([window]) for window in calibration.windows]  # the same windows every method gets
    try:
        with _library_logs():
            rounder = AutoRound(
                model, tokenizer, scheme=scheme["scheme"], **{k: v for k, v in scheme.items() if k != "scheme"},
                dataset=windows, nsamples=len(windows), seqlen=calibration.spec.seq_len,
                batch_size=min(_BATCH, len(windows)), iters=options.iters, seed=calibration.spec.seed,
                device_map="cuda:0" if torch.cuda.is_available() else "cpu",
                # compilation costs more than it saves on small CPU runs (and auto-round notes ~10 GB more RAM)
                enable_torch_compile=False,
            )
            _, folders = rounder.quantize_and_save(str(out), format=export_format)
    except (ValueError, RuntimeError, AssertionError, NotImplementedError, KeyError) as err:
        raise backend_failure(LIBRARY, method, err) from err
    except SystemExit as err:  # auto-round logs some refusals and calls exit()
        raise QuantizationError(f"{LIBRARY} {method} stopped (exit {err.code}); rerun with -v to see its log") from err
    # auto-round returns a str for one format and a list for several. Indexing the str gave "/" once, and the
    # caller then moved the entries of "/" (it deleted /etc on a shared machine): only a folder inside `out` is read.
    written = Path(folders if isinstance(folders, str) else folders[0]).resolve()
    if not written.is_relative_to(Path(out).resolve()):
        raise QuantizationError(f"{LIBRARY} reported its output at {written}, outside {out}; not reading it")
    return written
