"""The step kinds of a variant's chain, one class each (key and run), in a table keyed by kind.

A chain is quantize → text → tasks. Each kind decides from the plan whether it applies (`for_chain`), hashes
everything its outputs depend on (`key`) and runs its stage (`run`); `ChainState` holds what the steps of
one chain share: the resolved model, the variant's spec and the artifact the quantize step made.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self, TypeVar

from quantwb import defaults
from quantwb.devices import resolve_device
from quantwb.disk import remove_stale_partials
from quantwb.errors import EvaluationError
from quantwb.evaluate import task_packs
from quantwb.evaluate.pipeline import EvalConfig, evaluate_tasks, evaluate_variants
from quantwb.evaluate.tasks import TaskConfig
from quantwb.formats.gguf_source import resolve_model
from quantwb.quantize.methods import get_quantizer, method
from quantwb.sweep.chain import Chain
from quantwb.sweep.plan import TaskEvaluation, TextEvaluation, model_slug
from quantwb.sweep.steps import Step, StepKind, step_key
from quantwb.texts import load_text

if TYPE_CHECKING:
    from quantwb.models import ModelSource
    from quantwb.quantize.base import QuantSpec


E = TypeVar("E", TextEvaluation, TaskEvaluation)


class ChainState:
    """What the steps of one chain share; the quantize step (or its cached marker) sets `artifact_path`."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.plan = chain.plan
        self.artifact_path: Path | None = None

    @cached_property
    def source(self) -> ModelSource:
        return resolve_model(self.chain.model)  # a GGUF file is a model too (its gguf variants, measured by llama.cpp)

    @cached_property
    def spec(self) -> QuantSpec | None:
        spec = self.chain.variant.spec(self.plan.calibration)
        if spec is None or not method(spec.method).on_device:  # llama.cpp quantizes on the CPU wherever the chain runs
            return spec
        return dataclasses.replace(spec, device=self.device)

    @cached_property
    def device(self) -> str:
        """The chain's device as this process sees it (`auto` resolved here)."""
        return resolve_device(self.chain.device)

    @cached_property
    def quantize_key(self) -> str:
        """The quantize step's key: model content, spec, calibration text and the measuring code."""
        spec = self.spec
        if spec is None:
            raise EvaluationError(f"{self.chain.variant.id}: the baseline has no quantize step")
        calibration = load_text(spec.calibration.text).sha256 if spec.calibration else None
        return step_key("quantize", self.chain.code_version, model=self.source.sha256, spec=spec.to_dict(),
                        calibration_text=calibration)

    @property
    def variant_identity(self) -> str:
        """The baseline's content hash, or the key that made the artifact (which fixes its content)."""
        return self.source.sha256 if self.spec is None else self.quantize_key

    @property
    def variant_path(self) -> Path:
        if self.spec is None:
            return self.source.path
        if self.artifact_path is None:
            raise EvaluationError(f"{self.chain.variant.id}: no artifact to evaluate (its quantize step did not run)")
        return self.artifact_path

    @property
    def text_name(self) -> str:
        """The text the text_ppl task scores: the plan's evaluation text, else the default."""
        text = self.plan.evaluations.text
        return text.name if text else defaults.EVAL_TEXT

    def folder(self, kind: str) -> Path:
        return self.chain.results_dir / kind / model_slug(self.chain.model)


class StepRunner(Protocol):
    kind: ClassVar[StepKind]

    def key(self) -> str: ...

    def run(self) -> list[Path]: ...

    def reuse(self, outputs: list[Path]) -> None: ...


class QuantizeStep:
    """Make the variant with its method's quantizer, into the results' artifacts folder."""

    kind: ClassVar[StepKind] = "quantize"

    def __init__(self, state: ChainState, spec: QuantSpec) -> None:
        self.state, self.spec = state, spec

    @classmethod
    def for_chain(cls, state: ChainState) -> QuantizeStep | None:
        spec = state.spec
        return None if spec is None else cls(state, spec)

    def key(self) -> str:
        return self.state.quantize_key

    def run(self) -> list[Path]:
        out_dir = self.state.folder("artifacts") / self.state.chain.variant.id  # ids are unique, slugs may not be
        remove_stale_partials(out_dir)  # a run killed mid-write (SIGKILL, power loss) cannot clean up after itself
        variant = get_quantizer(self.spec.method).run(self.state.source, self.spec, out_dir)
        self.state.artifact_path = Path(variant.path)
        return [self.state.artifact_path]

    def reuse(self, outputs: list[Path]) -> None:
        self.state.artifact_path = outputs[0]


class _EvaluationStep(Generic[E]):
    """A step that measures the chain's variant under one of the plan's evaluations; it leaves no artifact."""

    def __init__(self, state: ChainState, evaluation: E) -> None:
        self.state, self.evaluation = state, evaluation

    @classmethod
    def _when_planned(cls, state: ChainState, evaluation: E | None) -> Self | None:
        return None if evaluation is None else cls(state, evaluation)

    def reuse(self, outputs: list[Path]) -> None:
        pass


class TextStep(_EvaluationStep[TextEvaluation]):
    """PPL, KLD to the base and top-1 agreement on the plan's text: one text record."""

    kind: ClassVar[StepKind] = "text"

    @classmethod
    def for_chain(cls, state: ChainState) -> TextStep | None:
        return cls._when_planned(state, state.plan.evaluations.text)

    def key(self) -> str:
        return step_key("text", self.state.chain.code_version, variant=self.state.variant_identity,
                        base=self.state.source.sha256, text=load_text(self.evaluation.name).sha256, ctx=self.evaluation.ctx,
                        chunks=self.evaluation.chunks, device=self.state.device, kld_topk=self.evaluation.kld_topk)

    def run(self) -> list[Path]:
        config = text_eval_config(self.state.chain, self.evaluation, self.state.device, out_dir=self.state.folder("records"),
                                  force=True)
        return [Path(p) for p in evaluate_variants([self.state.variant_path], config)]


def text_eval_config(chain: Chain, text: TextEvaluation, device: str, **more: Any) -> EvalConfig:
    """The evaluator's settings for a chain's text step; the Ray driver's base pass uses them too, to find one cache."""
    return EvalConfig(base=chain.model, text=text.name, ctx=text.ctx, chunks=text.chunks, threads=chain.threads,
                      device=device, kld_topk=text.kld_topk, **more)


class TasksStep(_EvaluationStep[TaskEvaluation]):
    """lm-eval task suites: one tasks record."""

    kind: ClassVar[StepKind] = "tasks"

    @classmethod
    def for_chain(cls, state: ChainState) -> TasksStep | None:
        return cls._when_planned(state, state.plan.evaluations.tasks)

    @property
    def tasks_dir(self) -> Path | None:
        return Path(self.evaluation.tasks_dir).expanduser() if self.evaluation.tasks_dir else None

    def key(self) -> str:
        resolved = task_packs.resolve_tasks(self.evaluation.names, self.tasks_dir, self.state.text_name)
        return step_key("tasks", self.state.chain.code_version, variant=self.state.variant_identity,
                        base=self.state.source.sha256, tasks=[(t.name, t.data_sha256, t.config_sha256) for t in resolved],
                        limit=self.evaluation.limit, fewshot=self.evaluation.fewshot, device=self.state.device)

    def run(self) -> list[Path]:
        task_config = TaskConfig(tasks=self.evaluation.names, tasks_dir=self.tasks_dir, limit=self.evaluation.limit,
                                 num_fewshot=self.evaluation.fewshot, text=self.state.text_name)
        config = EvalConfig(base=self.state.chain.model, out_dir=self.state.folder("records"),
                            threads=self.state.chain.threads, device=self.state.device, tasks=task_config, force=True)
        return [Path(p) for p in evaluate_tasks([self.state.variant_path], config)]


# kind -> step class, in chain order: adding a step kind is one class and one line here.
STEP_KINDS: dict[StepKind, type[QuantizeStep] | type[TextStep] | type[TasksStep]] = {
    "quantize": QuantizeStep,
    "text": TextStep,
    "tasks": TasksStep,
}


def chain_steps(state: ChainState) -> list[StepRunner]:
    """The steps this chain's variant needs under its plan, in order."""
    steps = (kind.for_chain(state) for kind in STEP_KINDS.values())
    return [step for step in steps if step is not None]


def planned_steps(chain: Chain) -> list[Step]:
    """The chain's steps, in order, without keys (decided from the plan alone, without resolving the model)."""
    return [Step(model_slug(chain.model), chain.variant.id, runner.kind, "") for runner in chain_steps(ChainState(chain))]
