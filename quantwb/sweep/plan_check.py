"""The whole plan checked before its first step: a wrong entry is a usage error (exit 2) found in seconds, not a
failed step (exit 1) found after an hour of the entries before it."""

from __future__ import annotations

from pathlib import Path

from quantwb import defaults
from quantwb.errors import QuantwbError
from quantwb.evaluate import task_packs
from quantwb.formats.gguf_source import resolve_model
from quantwb.formats.gguf_types import parse_gguf_type
from quantwb.quantize.hf_methods import HF_METHODS
from quantwb.sweep.plan import Plan, VariantPlan


def check_plan(plan: Plan, models: tuple[str, ...] = (), variant_ids: tuple[str, ...] = ()) -> None:
    """Every model resolves, every variant's settings are ones its method takes, every task exists (as chosen)."""
    variants = [v for v in plan.variants if not variant_ids or v.id in variant_ids]
    for variant in variants:
        _in_plan(plan, f"variant {variant.id}", lambda variant=variant: _check_variant(plan, variant))
    tasks = plan.evaluations.tasks
    if tasks is not None:
        tasks_dir = Path(tasks.tasks_dir).expanduser() if tasks.tasks_dir else None
        text = plan.evaluations.text.name if plan.evaluations.text else defaults.EVAL_TEXT
        _in_plan(plan, "evaluations.tasks", lambda: task_packs.resolve_tasks(tasks.names, tasks_dir, text))
    for model in plan.models:
        if not models or model in models:
            _in_plan(plan, f"model {model}", lambda model=model: resolve_model(model))  # a GGUF file is a plan model too


def _check_variant(plan: Plan, variant: VariantPlan) -> None:
    if variant.method == "gguf":
        parse_gguf_type(str(variant.type))
    elif variant.method in HF_METHODS:
        method = HF_METHODS[variant.method]
        spec = method.normalized(variant.spec(plan.calibration))  # type: ignore[arg-type]
        method.parse_options(spec)


def _in_plan(plan: Plan, where: str, check) -> None:
    """Run `check`; its error keeps its type (and exit code) and gains the plan entry it is about."""
    try:
        check()
    except QuantwbError as err:
        raise type(err)(f"plan {plan.name}: {where}: {err}") from err
