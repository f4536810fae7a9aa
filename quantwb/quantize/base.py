"""The quantize stage's protocol: a frozen `QuantSpec` in, a written `Variant` (file or folder + manifest) out."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from quantwb.calibration import CalibrationSpec
from quantwb.formats.variant import Variant
from quantwb.models import ModelSource

# Methods whose scheme fixes weights and activations alike (llm-compressor preset names): no bits or group to choose,
# so a variant is named by the method alone (`smollm2-135m-w8a8`).
FIXED_SCHEMES = {"w8a8": "W8A8", "fp8": "FP8_DYNAMIC"}

# The option that lets a source's own code (modeling_*.py, auto_map) into an HF variant: the quantizer's, accepted
# by every method, so methods.parse_options leaves it out of the method's own options.
ALLOW_REMOTE_CODE = "allow_remote_code_files"


@dataclass(frozen=True)
class QuantSpec:
    """What to make. `options` holds method-specific settings (act_order, damp, imatrix, checkpoint format)."""

    method: str  # a row of quantize/methods.METHODS
    bits: int | None = None
    group_size: int | None = None
    symmetric: bool | None = None
    gguf_type: str | None = None
    calibration: CalibrationSpec | None = None
    options: tuple[tuple[str, Any], ...] = ()
    device: str = "cpu"  # where an HF method calibrates (resolved: cpu, cuda, cuda:N); llama.cpp quantizes on the CPU

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    @property
    def scheme(self) -> str:
        """Short scheme label: the GGUF type, the fixed scheme (W8A8, FP8_DYNAMIC), or w{bits}g{group}."""
        if self.gguf_type:
            return self.gguf_type
        if self.method in FIXED_SCHEMES:
            return FIXED_SCHEMES[self.method]
        group = "ch" if self.group_size in (None, -1) else str(self.group_size)
        return f"w{self.bits}g{group}"

    def slug(self, model_name: str) -> str:
        """Variant name: `smollm2-135m-Q4_K_M`, `smollm2-135m-gptq-w4g64`, `smollm2-135m-autoround-Q4_K_M`, `smollm2-135m-fp8`."""
        if self.method == "gguf":
            return f"{model_name}-{self.scheme}"
        if self.method in FIXED_SCHEMES:
            return f"{model_name}-{self.method}"
        return f"{model_name}-{self.method}-{self.scheme}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = dict(self.options)
        return data


class Quantizer(Protocol):
    """Turns a source model into one variant in `out_dir`; never leaves a partial variant behind."""

    def check(self, source: ModelSource, spec: QuantSpec) -> None:
        """Raise the InputError `run` would raise for these settings on this model, in seconds (before any work)."""

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant: ...


@dataclass
class Stopwatch:
    """Wall time of a block, in seconds."""

    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
