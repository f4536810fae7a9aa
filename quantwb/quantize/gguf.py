"""GGUF variants: convert the HF model once (llama.cpp's converter), then quantize each type from that file
with llama.cpp's `llama_model_quantize`, optionally weighted by an importance matrix. A GGUF source is
quantized directly, as llama-quantize does (a quantized one only when requantizing is allowed).

Each output is `<model>-<TYPE>[-imat].gguf` with `<file>.manifest.json` and an Ollama `<stem>.Modelfile`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from quantwb import defaults
from quantwb.cache_keys import cache_key
from quantwb.calibration import CalibrationSpec
from quantwb.checkpoint_files import weights_format
from quantwb.disk import ensure_folder
from quantwb.errors import InputError, UnsupportedError
from quantwb.fileio import atomic_path, sha256_file, write_json_atomic
from quantwb.formats.gguf_facts import read_gguf_facts
from quantwb.formats.gguf_source import is_float_source
from quantwb.formats.gguf_types import INTERMEDIATE_TYPE, GGUFType, parse_gguf_type
from quantwb.formats.manifest import read_manifest, write_manifest
from quantwb.formats.variant import Variant, read_variant
from quantwb.interrupts import interrupts_deferred
from quantwb.models import ModelSource
from quantwb.quantize.base import QuantSpec, Stopwatch
from quantwb.quantize.gguf_convert import convert_to_gguf, converted_sha256, safe_model_name
from quantwb.quantize.imatrix import ImatrixData, check_against_gguf, compute_imatrix, read_imatrix, write_imatrix
from quantwb.quantize.llama_quantize import needs_imatrix, quantize_file
from quantwb.resources_usage import peak_rss_bytes
from quantwb.versions import library_versions

log = logging.getLogger(__name__)

IMATRIX_SUFFIX = "-imat"  # files quantized with an importance matrix say so in their name


@dataclass(frozen=True)
class ImatrixChoice:
    """auto: compute one only for types llama.cpp refuses without it; compute: for every quantized type;
    file: read a llama.cpp imatrix (GGUF or legacy .dat) for every quantized type; none: never."""

    mode: Literal["auto", "compute", "file", "none"] = defaults.IMATRIX  # type: ignore[assignment]
    path: Path | None = None

    @classmethod
    def parse(cls, value: str | Path) -> ImatrixChoice:
        text = str(value)
        if text in ("auto", "compute", "none"):
            return cls(text)  # type: ignore[arg-type]
        path = Path(text).expanduser()
        if not path.is_file():
            raise InputError(f"--imatrix {text}: not auto, compute, none, or an existing imatrix file")
        return cls("file", path)


@dataclass(frozen=True)
class PreparedImatrix:
    """An imatrix ready to hand to llama.cpp, with the file it lives in (for manifests and reuse)."""

    data: ImatrixData
    path: Path
    sha256: str


def quantize_gguf(
    source: ModelSource,
    types: list[str],
    out_dir: Path,
    imatrix: ImatrixChoice = ImatrixChoice(),
    calibration: CalibrationSpec = CalibrationSpec(),
    allow_requantize: bool = False,
) -> list[Variant]:
    """Make one GGUF per type in `out_dir`, all from one F16 conversion (or from the GGUF `source` itself, as
    llama-quantize does); nothing half-written keeps a final name."""
    wanted = list(dict.fromkeys(parse_gguf_type(name) for name in types))
    ensure_folder(Path(out_dir))  # an unwritable --out fails now, not after the conversion
    if not wanted:
        raise InputError("give at least one --type")
    requantize = _check_requantize(source, allow_requantize)
    given = (read_imatrix(imatrix.path), imatrix.path) if imatrix.path else None  # a bad file fails before any work
    clock = Stopwatch()
    from_gguf = source.format == "gguf"
    quantized = [t for t in wanted if from_gguf or not t.made_by_converter]
    intermediate = source.path if from_gguf else convert_to_gguf(source, INTERMEDIATE_TYPE) if quantized else None
    convert_s = clock.seconds
    uses = {t: _uses_imatrix(t, imatrix, intermediate, memo=not from_gguf, requantize=requantize) for t in quantized}
    matrix = prepare_imatrix(source, given, calibration, out_dir, intermediate) if any(uses.values()) else None
    shared_s = clock.seconds
    artifacts = []
    for gguf_type in wanted:
        step = Stopwatch()
        used = matrix if uses.get(gguf_type) else None
        final = out_dir / f"{safe_model_name(source)}-{gguf_type.name}{IMATRIX_SUFFIX if used else ''}.gguf"
        key = _gguf_key(source, gguf_type, used)
        if _complete(final, key):  # a rerun skips what is already complete
            log.info("%s is complete (same source, type, imatrix and llama.cpp); keeping it", final)
            artifacts.append(read_variant(final))
            continue
        with contextlib.ExitStack() as commit:
            with atomic_path(final) as tmp:
                if gguf_type.made_by_converter and not from_gguf:
                    shutil.copyfile(convert_to_gguf(source, gguf_type.name), tmp)
                else:
                    assert intermediate is not None
                    quantize_file(intermediate, tmp, gguf_type.ftype, used.data.means() if used else None,
                                  allow_requantize=requantize)
                commit.enter_context(interrupts_deferred())  # the rename and the manifest: both, or neither
            timings = {"convert_s": convert_s, "imatrix_s": shared_s - convert_s, "type_s": step.seconds}
            artifacts.append(write_gguf_manifest(final, source, gguf_type, used, None if from_gguf else intermediate, timings,
                                                 {"cache_key": key}))
    return artifacts


def _check_requantize(source: ModelSource, allowed: bool) -> bool:
    """Whether llama.cpp must requantize (a quantized GGUF source); refused unless the user allowed it."""
    if is_float_source(source):
        return False
    if not allowed:
        raise InputError(
            f"{source.path}: already quantized ({source.file_type}); quantizing it again loses more than quantizing "
            "from F16/BF16/F32 — pass --allow-requantize to do it anyway"
        )
    return True


def _uses_imatrix(gguf_type: GGUFType, choice: ImatrixChoice, intermediate: Path, memo: bool = True,
                  requantize: bool = False) -> bool:
    # The dry run, for every type and imatrix choice: it also refuses a type this llama.cpp cannot write for this
    # model, before any type is written. A user's GGUF source gets no memo file beside it: asked each time.
    try:
        needed = (_needs_imatrix(intermediate, gguf_type.ftype) if memo
                  else needs_imatrix(intermediate, gguf_type.ftype, requantize))
    except UnsupportedError as err:
        raise UnsupportedError(f"--type {gguf_type.name}: {err}") from err
    if choice.mode in ("compute", "file"):
        return True
    if needed and choice.mode == "none":
        raise UnsupportedError(
            f"{gguf_type.name} needs an importance matrix (llama.cpp refuses it without one); "
            "use --imatrix auto or compute, or pass an imatrix file"
        )
    return needed


def _needs_imatrix(intermediate: Path, ftype: int) -> bool:
    """llama.cpp's answer (a dry run) for this converted file and type, memoized beside the cached file."""
    import llama_cpp


    memo = intermediate.with_name(intermediate.name + ".needs-imatrix.json")
    key = f"{llama_cpp.__version__}:{ftype}"
    answers = json.loads(memo.read_text()) if memo.is_file() else {}
    if key not in answers:
        answers[key] = needs_imatrix(intermediate, ftype)
        write_json_atomic(memo, answers)
    return bool(answers[key])


def prepare_imatrix(
    source: ModelSource, given: tuple[ImatrixData, Path] | None, calibration: CalibrationSpec, out_dir: Path,
    intermediate: Path,
) -> PreparedImatrix:
    """The given imatrix, or one computed on `calibration` and saved beside the outputs for reuse."""
    if given is not None:
        data, path = given
    elif source.format == "gguf":
        raise UnsupportedError(
            f"{source.path}: quantwb computes importance matrices from the Hugging Face model, not from a GGUF; "
            "pass --imatrix FILE (e.g. made by llama-imatrix), or --imatrix none for types that do not need one"
        )
    else:
        data = compute_imatrix(source.path, source.architecture, calibration)
        path = out_dir / f"{safe_model_name(source)}.imatrix.gguf"
        with atomic_path(path) as tmp:
            write_imatrix(data, tmp)
    check_against_gguf(data, intermediate)
    return PreparedImatrix(data, path.resolve(), sha256_file(path))


def write_gguf_manifest(
    final: Path,
    source: ModelSource,
    gguf_type: GGUFType,
    used: PreparedImatrix | None,
    intermediate: Path | None,
    timings: dict[str, float],
    extra: dict | None = None,
) -> Variant:
    """Read the facts back from the written file, then write its manifest and Modelfile beside it."""
    facts = read_gguf_facts(final)
    manifest = {
        "format": "gguf",
        "name": final.stem,
        "file": final.name,
        "type": gguf_type.name,
        "llama_ftype": gguf_type.ftype,
        "source": {"name": source.name, "path": str(source.path), "sha256": source.sha256,
                   "architecture": source.architecture, "origin": source.origin, "format": source.format,
                   "file_type": source.file_type,
                   # pickle is noted: safetensors (or a GGUF) is expected
                   "weights_format": weights_format(source.path) if source.format == "hf" else "gguf"},
        "requantized_from": None if is_float_source(source) else source.file_type,  # --allow-requantize was given
        "intermediate": {"type": INTERMEDIATE_TYPE, "sha256": converted_sha256(intermediate)} if intermediate else None,
        "imatrix": None if used is None else {
            "path": str(used.path), "sha256": used.sha256, "entries": len(used.data.sums),
            "datasets": list(used.data.datasets), "chunk_count": used.data.chunk_count,
            "chunk_size": used.data.chunk_size, "calibration": used.data.describe or None,
        },
        "facts": facts.to_dict(),
        "versions": library_versions(),
        "wall_s": timings,
        "peak_rss_bytes": peak_rss_bytes(),  # this process so far, conversion and imatrix included
        **(extra or {}),
    }
    _write_modelfile(final)
    write_manifest(final, manifest)  # last: a manifest marks the file complete
    return read_variant(final)


def _gguf_key(source: ModelSource, gguf_type: GGUFType, used: PreparedImatrix | None) -> str:
    import llama_cpp

    return cache_key("gguf", source=source.sha256, type=gguf_type.name, imatrix=used.sha256 if used else None,
                     llama_cpp=llama_cpp.__version__)


def _complete(final: Path, key: str) -> bool:
    """Whether an earlier run made `final` with this key and its manifest still describes the file on disk."""
    manifest = read_manifest(final)
    try:
        return manifest["cache_key"] == key and manifest["facts"]["size_bytes"] == final.stat().st_size
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_modelfile(gguf_file: Path) -> None:
    """An Ollama Modelfile; Ollama reads the chat template and stop tokens from the GGUF's own metadata."""
    text = f"# ollama create {gguf_file.stem.lower()} -f {gguf_file.stem}.Modelfile\nFROM ./{gguf_file.name}\n"
    with atomic_path(gguf_file.with_suffix(".Modelfile")) as tmp:
        tmp.write_text(text)


class GGUFQuantizer:
    """The `gguf` row of the method table: one spec (one type) -> one GGUF artifact."""

    def check(self, source: ModelSource, spec: QuantSpec) -> None:
        """The type, the imatrix choice (a file must exist) and, for a quantized GGUF source, the leave to requantize."""
        parse_gguf_type(self._type(spec))
        ImatrixChoice.parse(spec.option("imatrix", defaults.IMATRIX))
        _check_requantize(source, bool(spec.option("allow_requantize", False)))

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant:
        choice = ImatrixChoice.parse(spec.option("imatrix", defaults.IMATRIX))
        return quantize_gguf(source, [self._type(spec)], out_dir, choice, spec.calibration or CalibrationSpec(),
                             allow_requantize=bool(spec.option("allow_requantize", False)))[0]

    @staticmethod
    def _type(spec: QuantSpec) -> str:
        if not spec.gguf_type:
            raise InputError("a gguf variant needs a gguf type (e.g. Q4_K_M)")
        return spec.gguf_type
