"""Shared steps of the HF-folder quantizers (AWQ, GPTQ, RTN): checks, model loading, group size, save, manifest."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from quantwb import defaults
from quantwb.calibration import CalibrationSet, CalibrationSpec, build_calibration
from quantwb.errors import InputError, QuantizationError, UnsupportedError
from quantwb.fileio import atomic_path
from quantwb.models import ModelSource
from quantwb.formats.manifest import write_manifest
from quantwb.formats.variant import Variant, read_variant
from quantwb.quantize.base import QuantSpec, Stopwatch
from quantwb.quantize.model_card import render_model_card
from quantwb.quiet import quiet_imports
from quantwb.resources_usage import peak_rss_bytes
from quantwb.versions import library_versions

log = logging.getLogger(__name__)

IGNORED_MODULES = ("lm_head",)  # the output head stays in full precision, as in every AWQ/GPTQ release
KERNEL_GROUP_SIZES = (128, 64, 32, 16)  # sizes that vLLM/Marlin/exllama kernels accept, largest first


@dataclass(frozen=True)
class GroupChoice:
    """The group size asked for, the one used, and why they differ (empty when equal)."""

    requested: int
    chosen: int
    note: str = ""


def check_bits(method: str, bits: int | None, allowed: tuple[int, ...]) -> int:
    if bits not in allowed:
        raise InputError(f"{method}: --bits {bits} is not supported (choose {', '.join(map(str, allowed))})")
    return bits


def check_group_size(method: str, group_size: int | None) -> int:
    """-1 means one group per output channel; otherwise a positive size."""
    if group_size is None:
        return defaults.GROUP_SIZE
    if group_size != -1 and group_size < 1:
        raise InputError(f"{method}: --group-size must be positive or -1 (per channel), got {group_size}")
    return group_size


def choose_group_size(requested: int, in_features: dict[str, int]) -> GroupChoice:
    """Keep `requested` if it divides every quantized layer's input size; else the largest kernel size that does.

    A group must tile a weight row exactly; a size that does not would make a checkpoint kernels reject.
    """
    if requested == -1:
        return GroupChoice(-1, -1)
    bad = {name: n for name, n in in_features.items() if n % requested}
    if not bad:
        return GroupChoice(requested, requested)
    fits = [g for g in KERNEL_GROUP_SIZES if g < requested and all(n % g == 0 for n in in_features.values())]
    example = ", ".join(f"{name} ({n})" for name, n in list(bad.items())[:3])
    if not fits:
        raise UnsupportedError(
            f"--group-size {requested} does not divide the input size of {len(bad)} layers, e.g. {example}, "
            f"and neither does any of {', '.join(map(str, KERNEL_GROUP_SIZES))}; use --group-size -1 (per channel)"
        )
    note = (
        f"group size {requested} does not divide the input size of {len(bad)} layers (e.g. {example}); "
        f"used {fits[0]}, the largest size that divides all of them"
    )
    return GroupChoice(requested, fits[0], note)


def linear_in_features(model) -> dict[str, int]:
    """Input size of every Linear layer that gets quantized (all but the ignored head)."""
    import torch

    return {
        name: module.in_features
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] not in IGNORED_MODULES
    }


def check_full_precision(source: ModelSource) -> None:
    """Refuse a folder whose config.json declares already-quantized weights (re-quantizing those compounds errors)."""
    config = json.loads((source.path / "config.json").read_text())
    method = (config.get("quantization_config") or {}).get("quant_method")
    if method:
        raise UnsupportedError(
            f"{source.path}: config.json says the weights are already quantized ({method}); pass a full-precision "
            "model (a built-in alias materialized by an older quantwb: delete its folder under QUANTWB_HOME/models)"
        )


def load_tokenizer(source: ModelSource):
    with quiet_imports():
        from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(source.path)


def prepare_calibration(tokenizer, spec: CalibrationSpec | None) -> CalibrationSet:
    """Token windows for calibration; raises DataError before any model loads if the text is short."""
    return build_calibration(tokenizer, spec or CalibrationSpec())


def load_model(source: ModelSource):
    """The base model in a dtype fit for quantizing: its own dtype, except fp16 on CPU (5-6x slower) -> fp32."""
    with quiet_imports():
        import torch
        from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source.path, dtype="auto")
    if model.dtype == torch.float16 and not torch.cuda.is_available():
        model = model.to(torch.float32)
    model.eval()
    return model


def shape_only_model(source: ModelSource):
    """The architecture on torch's meta device: layer shapes and parameter count without reading weights."""
    with quiet_imports():
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source.path))


def logical_param_count(model) -> int:
    """Parameters of the unquantized model, tied weights counted once."""
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class Quantized:
    """What a backend reports after writing its checkpoint into a folder."""

    backend: str
    checkpoint_format: str
    symmetric: bool


def write_variant(
    source: ModelSource,
    spec: QuantSpec,
    out_dir: Path,
    calibration: CalibrationSet | None,
    n_params: int,
    group: GroupChoice,
    save: Callable[[Path], Quantized],
    stopwatch: Stopwatch,
) -> Variant:
    """Run `save(folder)` into a temporary folder, add manifest and model card, rename into place when complete.

    `stopwatch` started before the model loaded, so wall_time_s covers loading, calibration and saving."""
    # Named after what was made (w4g64 when 128 did not fit), so a name never claims a group size it lacks.
    effective = replace(spec, group_size=group.chosen)
    name = effective.slug(source.name)
    final = Path(out_dir) / name
    with atomic_path(final) as tmp:
        tmp.mkdir(parents=True)
        done = save(tmp)
        weight_bytes = sum(p.stat().st_size for p in tmp.glob("*.safetensors"))
        manifest = {
            "name": name,
            "method": spec.method,
            "bits": spec.bits,
            "group_size": group.chosen,
            "group_size_requested": group.requested,
            "group_size_note": group.note or None,
            "symmetric": done.symmetric,
            "checkpoint_format": done.checkpoint_format,
            "backend": done.backend,
            "options": dict(spec.options),
            "calibration": calibration.describe() if calibration else None,
            "source": {"name": source.name, "path": str(source.path), "sha256": source.sha256, "origin": source.origin},
            "n_params": n_params,
            "weight_bytes": weight_bytes,
            "bits_per_weight": 8 * weight_bytes / n_params,
            "versions": library_versions(),
        }
        (tmp / "README.md").write_text(render_model_card(manifest))
        manifest["wall_time_s"] = stopwatch.seconds
        manifest["peak_rss_bytes"] = peak_rss_bytes()
        manifest["size_bytes"] = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        write_manifest(tmp, manifest)
    return read_variant(final)


def backend_failure(library: str, method: str, err: Exception) -> QuantizationError:
    """One line for a library's failure: its first message line (the traceback stays behind --debug)."""
    text = str(err).strip()
    return QuantizationError(f"{library} {method} failed: {text.splitlines()[0] if text else type(err).__name__}")


def parse_options(options_model: type, spec: QuantSpec):
    """Validate `spec.options` against a method's pydantic options model; one line on a bad value."""
    from pydantic import ValidationError

    try:
        return options_model(**dict(spec.options))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "options"
        raise InputError(f"{spec.method}: option {where}: {first['msg']}") from err


def normalized(spec: QuantSpec, allowed_bits: tuple[int, ...], default_symmetric: bool) -> QuantSpec:
    """`spec` with bits and group size checked and defaults filled in (group 128, the method's symmetry)."""
    check_bits(spec.method, spec.bits, allowed_bits)
    symmetric = default_symmetric if spec.symmetric is None else spec.symmetric
    return replace(spec, group_size=check_group_size(spec.method, spec.group_size), symmetric=symmetric)
