"""The whole plan checked before its first step: a wrong entry is a usage error (exit 2) found in seconds, not a
failed step (exit 1) found after an hour of the entries before it."""

from __future__ import annotations

from pathlib import Path

from quantwb import defaults
from quantwb.errors import InputError, QuantwbError
from quantwb.evaluate import task_packs
from quantwb.formats.gguf_source import resolve_model
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.methods import get_quantizer
from quantwb.sweep.plan import Plan


def check_plan(plan: Plan, models: tuple[str, ...] = (), variant_ids: tuple[str, ...] = ()) -> None:
    """Every model resolves, every task exists, and each variant's method takes its settings on each model (as chosen).

    A variant's fields and options were checked when the plan was read (its method's models); here its method's
    Quantizer checks what needs the model or a backend: a GGUF type, a group size no layer's input size fits."""
    variants = [v for v in plan.variants if not variant_ids or v.id in variant_ids]
    tasks = plan.evaluations.tasks
    if tasks is not None:
        tasks_dir = Path(tasks.tasks_dir).expanduser() if tasks.tasks_dir else None
        text = plan.evaluations.text.name if plan.evaluations.text else defaults.EVAL_TEXT
        _in_plan(plan, "evaluations.tasks", lambda: task_packs.resolve_tasks(tasks.names, tasks_dir, text))
    for model in plan.models:
        if models and model not in models:
            continue
        source = _in_plan(plan, f"model {model}", lambda model=model: resolve_model(model))  # a GGUF file too
        of_model = f" (model {model})" if len(plan.models) > 1 else ""
        for variant in variants:
            spec = variant.spec(plan.calibration)
            if spec is not None:
                _in_plan(plan, f"variant {variant.id}{of_model}",
                         lambda spec=spec: get_quantizer(spec.method).check(source, spec))  # noqa: B023 (called at once)
                _in_plan(plan, f"variant {variant.id}", lambda spec=spec: _judged_elsewhere(plan, spec))  # noqa: B023


def _judged_elsewhere(plan: Plan, spec: QuantSpec) -> None:
    """A mix chooses on its calibration text: judged on the same text, it would be scored on what chose it."""
    text = plan.evaluations.text
    if spec.method == "gguf-mix" and text is not None and spec.calibration is not None and spec.calibration.text == text.name:
        raise InputError(f"a mix chooses its types on the calibration text ({text.name}) and would be judged on the same "
                         "text: give the plan (or the entry) a calibration text other than evaluations.text")


def _in_plan(plan: Plan, where: str, check):
    """Run `check`; its error keeps its type (and exit code) and gains the plan entry it is about."""
    try:
        return check()
    except QuantwbError as err:
        raise type(err)(f"plan {plan.name}: {where}: {err}") from err
