"""What a plan entry of each kind of method takes beside `method`, `options`, `calibration` and `name`: weight
bits, a GGUF type, either, nothing (a fixed scheme), or a mix's target; and the options of the GGUF methods.

Each is a strict model (extra="forbid"); a method's row in methods.py names the one its plan entries take.
`spec_fields` are the `QuantSpec` fields an entry sets, `spec_options` what it adds to the spec's options.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fields(_Strict):
    """No settings: the method's scheme is fixed (W8A8, FP8) or a custom method's options say it all."""

    def spec_fields(self) -> dict[str, Any]:
        return {}

    def spec_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options


class WeightBits(Fields):
    """Weight bits, with the group size and symmetry (HF weight-only methods: AWQ, GPTQ, RTN)."""

    bits: int
    group_size: int | None = Field(default=None, description="weights per scale group; -1: per channel; default 128")
    symmetric: bool | None = Field(default=None, description="default: the method's own")

    def spec_fields(self) -> dict[str, Any]:
        return {"bits": self.bits, "group_size": self.group_size, "symmetric": self.symmetric}


class GGUFType(Fields):
    """A llama.cpp file type, optionally quantized with an importance matrix from the calibration text."""

    type: str = Field(description="GGUF file type, e.g. Q4_K_M")
    imatrix: bool = Field(default=False, description="quantize with an importance matrix from the calibration text")

    def spec_fields(self) -> dict[str, Any]:
        return {"gguf_type": self.type}

    def spec_options(self, options: dict[str, Any]) -> dict[str, Any]:
        if self.imatrix:  # without it the GGUF stage computes one only where llama.cpp requires it
            options.setdefault("imatrix", "compute")
        return options


class BitsOrGGUFType(Fields):
    """Weight bits (an HF checkpoint), or a GGUF type the method exports (AutoRound): one or the other."""

    bits: int | None = None
    group_size: int | None = None
    symmetric: bool | None = None
    type: str | None = Field(default=None, description="GGUF file type of the method's GGUF export, e.g. Q4_K_M")

    @model_validator(mode="after")
    def _one_scheme(self) -> BitsOrGGUFType:
        if self.bits is None and not self.type:
            raise ValueError("needs `bits`, or a GGUF `type` for its GGUF export")
        if self.type and (self.bits is not None or self.group_size is not None or self.symmetric is not None):
            raise ValueError(f"GGUF type {self.type} fixes bits, group size and symmetry; give `type` or `bits`, not both")
        return self

    def spec_fields(self) -> dict[str, Any]:
        return {"bits": self.bits, "group_size": self.group_size, "symmetric": self.symmetric, "gguf_type": self.type}


class MixTarget(Fields):
    """A gguf-mix's budget: the size of a stock GGUF type (`match`), or bits per weight (`target_bpw`)."""

    match: str | None = Field(default=None, description="the size of this stock GGUF type, e.g. Q4_K_M")
    target_bpw: float | None = Field(default=None, gt=0, description="bits per weight to fit")

    @model_validator(mode="after")
    def _one_target(self) -> MixTarget:
        if (self.match is None) == (self.target_bpw is None):
            raise ValueError("needs one target: `match` (a stock GGUF type's size) or `target_bpw`")
        return self

    def spec_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "match": self.match, "target_bpw": self.target_bpw}


class GGUFOptions(_Strict):
    """llama.cpp quantization settings of a `gguf` entry (as `quantwb gguf` takes them)."""

    imatrix: str | None = Field(default=None, description="auto, compute, none, or a llama.cpp imatrix file; default auto")
    allow_requantize: bool = Field(default=False, description="quantize an already quantized GGUF model")


class MixOptions(_Strict):
    """Sensitivity-scan and allocation settings of a `gguf-mix` entry (as `quantwb mix` takes them); unset: its defaults."""

    candidates: tuple[str, ...] | None = Field(default=None, description="ggml types each tensor group may take")
    chunks: int | None = Field(default=None, ge=1, description="windows of the choosing text per scan measurement")
    layers_per_group: int | None = Field(default=None, ge=1, description="layers whose weights of one kind share a type")
    ctx: int | None = Field(default=None, ge=16, description="tokens per window")
    score: Literal["fisher", "full", "proxy"] | None = Field(default=None, description="how options are scored")
    imatrix: str | None = Field(default=None, description="auto (computed on the choosing text), none, or a file")

    @field_validator("candidates", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(part for part in value.split(",") if part.strip()) if isinstance(value, str) else value
