"""Sweep plans: models × variants × evaluations, read from YAML into validated, frozen models.

A variant is written as a mapping (`{method: gptq, bits: 4, group_size: 64}`) or, for GGUF types and
the baseline, as a bare string (`Q4_K_M`, `fp`). `quantwb sweep` with no plan uses the packaged
default plan (quantwb/data/plans/default.yaml).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from quantwb import defaults
from quantwb.calibration import CalibrationSpec
from quantwb.devices import check_device
from quantwb.errors import InputError, validation_line
from quantwb.quantize import methods
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.method_fields import Fields

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
    """One variant to make: the baseline itself (`fp`), or an entry of a method in the method table
    (quantize/methods.py), whose row says which fields and options the entry takes (`variant_model`)."""

    method: str
    name: str | None = Field(default=None, description="variant id; default derived from method and settings")

    @property
    def id(self) -> str:
        """Short, file-name-safe id used for step names, CI matrix entries and `--variant`."""
        return _SAFE_NAME.sub("-", self.name) if self.name else self._derived_id()

    def _derived_id(self) -> str:
        return methods.method(self.method).id_rule(self)

    def spec(self, calibration: CalibrationPlan) -> QuantSpec | None:
        """The QuantSpec the quantize stage receives; None for the baseline (nothing to make)."""
        row = methods.method(self.method)
        assert isinstance(self, Fields)  # every method's model derives from its row's fields (`variant_model`)
        options = self.options.model_dump(exclude_unset=True)
        own = getattr(self, "calibration", None)
        return QuantSpec(
            method=self.method,
            calibration=(own or calibration).spec() if row.calibrates else None,
            options=tuple(sorted(self.spec_options(options).items())),
            **self.spec_fields(),
        )

    def __reduce__(self) -> tuple:
        """Pickled as its data and rebuilt through the method table (models made from the table have no import path)."""
        return parse_variant, (self.model_dump(exclude_unset=True),)


class BaselineVariant(VariantPlan):
    """The unquantized model itself: the self-check row (KLD 0, same-top 100%)."""

    method: Literal["fp"]

    def _derived_id(self) -> str:
        return "base"

    def spec(self, calibration: CalibrationPlan) -> QuantSpec | None:
        return None


@cache
def variant_model(name: str, row: methods.Method) -> type[VariantPlan]:
    """The plan entry model of method `name`: its row's fields, its strict options, calibration if it calibrates."""
    fields: dict[str, Any] = {
        "method": (Literal[name], ...),
        "options": (row.options, Field(default_factory=row.options, description=f"{name} settings ({row.options.__name__})")),
    }
    if row.calibrates:
        fields["calibration"] = (CalibrationPlan | None, Field(default=None, description="overrides the plan's calibration"))
    title = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name))
    return create_model(f"{title}Variant", __base__=(VariantPlan, row.fields), __module__=__name__, **fields)


def _variants_adapter() -> TypeAdapter:
    """The union of the baseline and every method's entry model, told apart by `method`; built from the table as it
    is now, so a row added at run time is a plan method too."""
    models = (BaselineVariant, *(variant_model(name, row) for name, row in methods.METHODS.items()))
    return _adapter(models)


@cache
def _adapter(models: tuple[type[VariantPlan], ...]) -> TypeAdapter:
    return TypeAdapter(Annotated[Union[models], Field(discriminator="method")])  # noqa: UP007 (a runtime tuple)


def parse_variant(value: Any) -> VariantPlan:
    """A plan entry: `fp` is the baseline, any other bare string a GGUF type, a mapping an entry of its `method`."""
    if isinstance(value, VariantPlan):
        return value
    if isinstance(value, str):
        value = {"method": "fp"} if value == "fp" else {"method": "gguf", "type": value}
    return _variants_adapter().validate_python(value)


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
    variants: tuple[Annotated[VariantPlan, PlainValidator(parse_variant)], ...] = Field(min_length=1)
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
        line = validation_line(err, "plan", place=lambda error: _entry_place(error, payload), say=_entry_problem)
        raise InputError(f"{where}: {line}") from err


def _entry(error: Any, payload: dict) -> str | None:
    """The variant entry a validation error is about, as written in the plan (flow YAML); None when about none."""
    loc = error["loc"]
    entries = payload.get("variants")
    if len(loc) < 2 or loc[0] != "variants" or not isinstance(loc[1], int) or not isinstance(entries, list):
        return None
    entry = yaml.safe_dump(entries[loc[1]], default_flow_style=True, sort_keys=False, width=2**16).strip()
    return entry.removesuffix("\n...").strip()  # a bare scalar's document end marker


def _entry_place(error: Any, payload: dict) -> str | None:
    """`variants.1 ({method: gptq, bits: 9}): bits`: a variant's error located by its entry as written and the
    setting or option by name (pydantic's union tag, the method, left out); None when not about an entry."""
    entry = _entry(error, payload)
    if entry is None:
        return None
    loc = error["loc"]
    setting = ".".join(str(part) for part in loc[3:])
    return f"variants.{loc[1]} ({entry}){': ' + setting if setting else ''}"


def _entry_problem(error: Any) -> str | None:
    """A variant's missing or unknown method, or unknown setting or option, said with those there are; None for
    pydantic's own message."""
    loc = error["loc"]
    if len(loc) < 2 or loc[0] != "variants":
        return None
    known = ", ".join(["fp", *methods.METHODS])
    if error["type"] == "union_tag_invalid":
        return f"unknown method {error['ctx']['tag']!r} (methods: {known})"
    if error["type"] == "union_tag_not_found":
        return f"needs a `method` ({known})"
    if error["type"] == "extra_forbidden" and len(loc) >= 4 and (loc[2] == "fp" or loc[2] in methods.METHODS):
        name = str(loc[2])
        row = methods.METHODS.get(name)
        if row is not None and loc[3] == "options":
            return methods.option_error(error, name, row.options)
        model = BaselineVariant if row is None else variant_model(name, row)
        return f"not a setting of {name} (settings: {', '.join(f for f in model.model_fields if f != 'method')})"
    return None


def model_slug(model: str) -> str:
    """A model argument as a folder name (aliases stay, paths keep their last part)."""
    name = Path(model).name if ("/" in model and Path(model).expanduser().exists()) else model
    return _SAFE_NAME.sub("-", name).strip("-") or "model"
