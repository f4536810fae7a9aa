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
from quantwb.devices import check_device
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
    """One variant to make: the baseline itself (`fp`), a GGUF type, an AWQ/GPTQ/RTN/AutoRound checkpoint, an
    AutoRound GGUF (`{method: autoround, type: Q4_K_M}`), or a W8A8/FP8 checkpoint (`{method: w8a8}`)."""

    method: Literal["fp", "gguf", "awq", "gptq", "rtn", "gguf-mix", "autoround", "w8a8", "fp8"]
    type: str | None = Field(default=None, description="GGUF file type, e.g. Q4_K_M (gguf, or autoround's GGUF export)")
    match: str | None = Field(default=None, description="gguf-mix: the size of this stock GGUF type, e.g. Q4_K_M")
    target_bpw: float | None = Field(default=None, gt=0, description="gguf-mix: bits per weight to fit")
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
        if self.method != "gguf" and self.imatrix:
            raise ValueError(f"`imatrix` applies to gguf variants, not {self.method}")
        if self.method not in ("gguf", "autoround") and self.type:
            raise ValueError(f"`type` applies to gguf and autoround variants, not {self.method}")
        if self.method in ("awq", "gptq", "rtn") and self.bits is None:
            raise ValueError(f"a {self.method} variant needs `bits`")
        if self.method == "autoround" and self.bits is None and not self.type:
            raise ValueError("an autoround variant needs `bits`, or a GGUF `type` for its GGUF export")
        if self.method in ("w8a8", "fp8") and (self.bits or self.group_size or self.symmetric is not None):
            raise ValueError(f"{self.method} fixes 8-bit weights per channel; it takes no bits, group_size or symmetric")
        if self.method == "fp" and (self.bits or self.group_size or self.options):
            raise ValueError("the fp variant is the baseline itself and takes no settings")
        if (self.method == "gguf-mix") != (self.match is not None or self.target_bpw is not None):
            raise ValueError("`match` or `target_bpw` is the target of a gguf-mix variant (and only of one)")
        if self.match is not None and self.target_bpw is not None:
            raise ValueError("a gguf-mix variant takes one target: `match` or `target_bpw`")
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
        if self.method == "gguf-mix":
            return f"mix-{self.match}" if self.match else f"mix-{self.target_bpw:g}bpw"
        if self.method in ("w8a8", "fp8"):
            return self.method
        if self.type:
            return f"{self.method}-{self.type}"
        group = "ch" if self.group_size in (None, -1) else self.group_size
        return f"{self.method}-w{self.bits}g{group}"

    def spec(self, calibration: CalibrationPlan) -> QuantSpec | None:
        """The QuantSpec the quantize stage receives; None for the baseline (nothing to make)."""
        if self.method == "fp":
            return None
        # Every GGUF type gets the calibration too: under `imatrix: auto` llama.cpp may require a matrix (IQ2_XS...).
        # A gguf-mix chooses its types by KLD measured on the calibration text (not the text that judges it).
        uses_calibration = self.method in ("awq", "gptq", "gguf", "gguf-mix", "autoround", "w8a8")
        options = dict(self.options)
        if self.method == "gguf-mix":
            options.update({"match": self.match, "target_bpw": self.target_bpw})
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
    kld_topk: int | None = Field(default=None, ge=1, description="store the base as its top K tokens and draws from the rest (a smaller cache)")


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
    executor: Literal["local", "ray"] = Field(default="local", description="local processes, or Ray tasks on a cluster")
    threads: int | None = Field(default=None, ge=1, description="threads per chain; with Ray also the CPUs its task reserves")
    device: str = Field(default=defaults.DEVICE, description="auto, cpu, cuda or cuda:N: where HF variants calibrate and run")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        try:
            return check_device(value)
        except InputError as err:
            raise ValueError(str(err)) from err

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
