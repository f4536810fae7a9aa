"""Sweep plans: models × variants × evaluations, read from YAML into validated, frozen models.

A variant is written as a mapping (`{method: gptq, bits: 4, group_size: 64}`) or, for GGUF types and
the baseline, as a bare string (`Q4_K_M`, `fp`). `quantwb sweep` with no plan uses the packaged
default plan (quantwb/data/plans/default.yaml).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quantwb import defaults
from quantwb.calibration import CalibrationSpec
from quantwb.errors import InputError
from quantwb.quantize.base import QuantSpec

DEFAULT_PLAN = "default"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalibrationPlan(_Strict):
    """Calibration text for AWQ/GPTQ and the importance matrix: which text, windows × tokens, seed."""

    text: str = defaults.CALIBRATION_TEXT
    samples: int = Field(default=defaults.CALIBRATION_SAMPLES, ge=1)
    seq_len: int = Field(default=defaults.CALIBRATION_SEQ_LEN, ge=8)
    seed: int = defaults.CALIBRATION_SEED

    def spec(self) -> CalibrationSpec:
        return CalibrationSpec(text=self.text, samples=self.samples, seq_len=self.seq_len, seed=self.seed)


class VariantPlan(_Strict):
    """One variant to make: the baseline itself (`fp`), a GGUF type, or an AWQ/GPTQ/RTN checkpoint."""

    method: Literal["fp", "gguf", "awq", "gptq", "rtn"]
    type: str | None = Field(default=None, description="GGUF file type, e.g. Q4_K_M")
    bits: int | None = None
    group_size: int | None = None
    symmetric: bool | None = None
    imatrix: bool = Field(default=False, description="GGUF: quantize with an importance matrix from the calibration text")
    calibration: CalibrationPlan | None = Field(default=None, description="overrides the plan's calibration")
    options: dict[str, Any] = Field(default_factory=dict, description="method-specific settings (act_order, damp, format)")
    name: str | None = Field(default=None, description="variant id; default derived from method and settings")

    @model_validator(mode="after")
    def _consistent(self) -> VariantPlan:
        if self.method == "gguf" and not self.type:
            raise ValueError("a gguf variant needs `type` (e.g. Q4_K_M)")
        if self.method != "gguf" and (self.type or self.imatrix):
            raise ValueError(f"`type` and `imatrix` apply to gguf variants, not {self.method}")
        if self.method in ("awq", "gptq", "rtn") and self.bits is None:
            raise ValueError(f"a {self.method} variant needs `bits`")
        if self.method == "fp" and (self.bits or self.group_size or self.options):
            raise ValueError("the fp variant is the baseline itself and takes no settings")
        return self

    @property
    def id(self) -> str:
        """Short, file-name-safe id used for step names, CI matrix entries and `--variant`."""
        if self.name:
            return _SAFE_NAME.sub("-", self.name)
        if self.method == "fp":
            return "base"
        if self.method == "gguf":
            return f"{self.type}-imatrix" if self.imatrix else str(self.type)
        group = "ch" if self.group_size in (None, -1) else self.group_size
        return f"{self.method}-w{self.bits}g{group}"

    def spec(self, calibration: CalibrationPlan) -> QuantSpec | None:
        """The QuantSpec the quantize stage receives; None for the baseline (nothing to make)."""
        if self.method == "fp":
            return None
        # Every GGUF type gets the calibration too: under `imatrix: auto` llama.cpp may require a matrix (IQ2_XS...).
        uses_calibration = self.method in ("awq", "gptq", "gguf")
        options = dict(self.options)
        if self.imatrix:
            options.setdefault("imatrix", "compute")  # without it the GGUF stage computes one only where llama.cpp requires it
        return QuantSpec(
            method=self.method,
            bits=self.bits,
            group_size=self.group_size,
            symmetric=self.symmetric,
            gguf_type=self.type,
            calibration=(self.calibration or calibration).spec() if uses_calibration else None,
            options=tuple(sorted(options.items())),
        )


class TextEvaluation(_Strict):
    """PPL and KLD on a text, llama.cpp style: windows of `ctx` tokens, at most `chunks` of them."""

    name: str = defaults.EVAL_TEXT
    ctx: int = Field(default=defaults.EVAL_CTX, ge=16)
    chunks: int | None = Field(default=None, ge=1)


class TaskEvaluation(_Strict):
    """lm-eval task suites on every variant."""

    names: tuple[str, ...] = Field(min_length=1)
    limit: int | None = Field(default=None, ge=1, description="documents per task")
    fewshot: int | None = Field(default=None, ge=0)
    tasks_dir: str | None = Field(default=None, description="folder of task data; default: the packaged data")


class Evaluations(_Strict):
    text: TextEvaluation | None = None
    tasks: TaskEvaluation | None = None


class Plan(_Strict):
    """What a sweep makes and measures."""

    name: str = "sweep"
    models: tuple[str, ...] = Field(min_length=1, description="folders, built-in aliases, hub ids or GGUF files")
    calibration: CalibrationPlan = CalibrationPlan()
    variants: tuple[VariantPlan, ...] = Field(min_length=1)
    evaluations: Evaluations = Evaluations(text=TextEvaluation())

    @field_validator("variants", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`fp` is the baseline; any other bare string is a GGUF type."""
        if not isinstance(value, list):
            return value
        return [({"method": "fp"} if item == "fp" else {"method": "gguf", "type": item}) if isinstance(item, str) else item
                for item in value]

    @model_validator(mode="after")
    def _unique_ids(self) -> Plan:
        ids = [variant.id for variant in self.variants]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"variant ids must be unique, repeated: {', '.join(duplicated)} (give one a `name`)")
        return self

    def variant(self, variant_id: str) -> VariantPlan:
        for variant in self.variants:
            if variant.id == variant_id:
                return variant
        raise InputError(f"no variant {variant_id!r} in plan {self.name} (variants: {', '.join(v.id for v in self.variants)})")


def load_plan(path: Path | None = None) -> Plan:
    """Read and validate a plan file; None reads the packaged default. Errors are one line with the location."""
    if path is None:
        where = f"<packaged {DEFAULT_PLAN} plan>"
        text = resources.files("quantwb.data").joinpath("plans", f"{DEFAULT_PLAN}.yaml").read_text(encoding="utf-8")
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise InputError(f"{path}: cannot read the plan ({err.strerror})") from err
    return parse_plan(text, where)


def parse_plan(text: str, where: str = "<plan>") -> Plan:
    try:
        payload = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{where}:{line} not valid YAML ({getattr(err, 'problem', None) or err})") from err
    if not isinstance(payload, dict):
        raise InputError(f"{where}: a plan is a YAML mapping with models, variants and evaluations")
    try:
        return Plan.model_validate(payload)
    except ValidationError as err:
        first = err.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "plan"
        raise InputError(f"{where}: {location}: {first['msg']}") from err


def model_slug(model: str) -> str:
    """A model argument as a folder name (aliases stay, paths keep their last part)."""
    name = Path(model).name if ("/" in model and Path(model).expanduser().exists()) else model
    return _SAFE_NAME.sub("-", name).strip("-") or "model"
