"""Writing an HF variant folder: the backend's checkpoint, model card and manifest, renamed into place when complete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from quantwb.checkpoint_files import remote_code_files, weights_format
from quantwb.fileio import atomic_path
from quantwb.formats.manifest import write_manifest
from quantwb.formats.variant import Variant, read_variant
from quantwb.models import ModelSource
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.hf_backend import Prepared, Quantized
from quantwb.quantize.model_card import render_model_card
from quantwb.resources_usage import peak_rss_bytes
from quantwb.tokenizer_repair import drop_load_options
from quantwb.versions import library_versions

# How transformers runs a weight-and-activation checkpoint on a CPU (compressed-tensors, run_compressed=False):
# evaluation records carry this, so their numbers are not read as int8/fp8 kernel speed.
CPU_EXECUTION = ("on CPU, transformers decompresses the weights to floats at the first forward and quantizes and "
                 "dequantizes activations per token in torch (simulated: no int8/fp8 kernels)")


def write_variant(
    source: ModelSource, spec: QuantSpec, out_dir: Path, prepared: Prepared, save: Callable[[Path], Quantized]
) -> Variant:
    """Run `save(folder)` into a temporary folder, add manifest and model card, rename into place when complete.

    wall_time_s runs from `prepared.stopwatch`, so it covers loading, calibration and saving."""
    group, calibration, n_params = prepared.group, prepared.calibration, prepared.n_params
    # Named after what was made (w4g64 when 128 did not fit), so a name never claims a group size it lacks.
    effective = replace(spec, group_size=group.chosen)
    name = effective.slug(source.name)
    final = Path(out_dir) / name
    with atomic_path(final) as tmp:
        tmp.mkdir(parents=True)
        done = save(tmp)
        drop_load_options(tmp)
        weight_bytes = sum(p.stat().st_size for p in tmp.glob("*.safetensors"))
        manifest = {
            "name": name,
            "method": spec.method,
            "bits": spec.bits,
            "group_size": group.chosen,
            "group_size_requested": group.requested,
            "group_size_note": group.note or None,
            "scheme": effective.scheme,
            "activations": done.activations,
            "cpu_execution": CPU_EXECUTION if done.activations else None,
            "symmetric": done.symmetric,
            "checkpoint_format": done.checkpoint_format,
            "backend": done.backend,
            "device": spec.device,  # where it calibrated: GPU kernels round differently from the CPU's
            "options": dict(spec.options),
            "calibration": calibration.describe() if calibration else None,
            "source": {"name": source.name, "path": str(source.path), "sha256": source.sha256, "origin": source.origin,
                       "weights_format": weights_format(source.path)},  # pickle is noted: safetensors is expected
            "n_params": n_params,
            "weight_bytes": weight_bytes,
            "bits_per_weight": 8 * weight_bytes / n_params,
            "versions": library_versions(),
        }
        # What transformers copied of a source's own code (only a source allowed by --allow-remote-code-files has any)
        manifest["remote_code_files"] = remote_code_files(tmp)
        (tmp / "README.md").write_text(render_model_card(manifest))
        manifest["wall_time_s"] = prepared.stopwatch.seconds
        manifest["peak_rss_bytes"] = peak_rss_bytes()
        manifest["size_bytes"] = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        write_manifest(tmp, manifest)
    return read_variant(final)

