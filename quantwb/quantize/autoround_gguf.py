"""AutoRound's GGUF: llama.cpp k-quant (and legacy) types with auto-round's tuned rounding, written by auto-round.

The file is `<model>-autoround-<TYPE>.gguf` with `<file>.manifest.json` and an Ollama Modelfile, like every GGUF
quantwb makes, so it is measured by the same llama.cpp runner."""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from quantwb.errors import InputError, QuantizationError
from quantwb.fileio import atomic_path
from quantwb.formats.gguf_facts import read_gguf_facts
from quantwb.formats.manifest import write_manifest
from quantwb.formats.variant import Variant, read_variant
from quantwb.models import ModelSource
from quantwb.quantize import autoround, hf_source
from quantwb.quantize.autoround import AutoRoundOptions
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.gguf import _write_modelfile
from quantwb.quantize.gguf_convert import safe_model_name
from quantwb.quantize.hf_backend import prepare
from quantwb.resources_usage import peak_rss_bytes
from quantwb.versions import library_versions


def quantize(source: ModelSource, spec: QuantSpec, out_dir: Path, options: AutoRoundOptions) -> Variant:
    """Tune with auto-round and export one GGUF type; the manifest, written last, marks the file complete."""
    gguf_type = autoround.check_gguf_type(spec.gguf_type or "")
    if spec.bits is not None or spec.group_size not in (None, -1) or spec.symmetric is not None:
        raise InputError(f"autoround: GGUF type {gguf_type} fixes bits, group size and symmetry; do not give them")
    spec = replace(spec, gguf_type=gguf_type, group_size=-1)  # no group choice: the type's blocks are fixed
    prepared = prepare(source, spec, load_model=functools.partial(hf_source.load_model, device=spec.device))
    preset = f"gguf:{gguf_type.lower()}"
    out_dir = Path(out_dir)
    final = out_dir / f"{spec.slug(safe_model_name(source))}.gguf"
    out_dir.mkdir(parents=True, exist_ok=True)
    # A scratch folder made here, beside the output (one file system; named like a partial, so a sweep clears it
    # after a killed run); only a file found inside it is moved.
    with tempfile.TemporaryDirectory(prefix=f".{final.name}.partial-autoround-", dir=out_dir) as made:
        scratch = Path(made)
        autoround.tune_and_save(prepared.model, prepared.tokenizer, prepared.calibration, options, preset, preset,
                                scratch, spec.method, device=spec.device)
        files = sorted(autoround.written_folder(scratch, "*.gguf").glob("*.gguf"))
        if len(files) != 1:
            raise QuantizationError(f"auto-round wrote {len(files)} GGUF files for {gguf_type}, expected one")
        written = autoround.inside(files[0], scratch)
        with atomic_path(final) as tmp:
            os.replace(written, tmp)
    facts = read_gguf_facts(final)
    manifest = {
        "format": "gguf",
        "name": final.stem,
        "file": final.name,
        "type": gguf_type,
        "method": spec.method,
        "backend": autoround.LIBRARY,
        "options": {"iters": options.iters},
        "calibration": prepared.calibration.describe(),
        "source": {"name": source.name, "path": str(source.path), "sha256": source.sha256,
                   "architecture": source.architecture, "origin": source.origin},
        "facts": facts.to_dict(),
        "versions": library_versions(),
        "wall_time_s": prepared.stopwatch.seconds,  # loading, calibration, tuning and export
        "peak_rss_bytes": peak_rss_bytes(),
    }
    _write_modelfile(final)
    write_manifest(final, manifest)
    return read_variant(final)
