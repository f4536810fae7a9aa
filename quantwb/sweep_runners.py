"""How a sweep runs each step kind of one variant through the stages (quantize registry, evaluate pipeline)."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from quantwb.errors import EvaluationError
from quantwb.plan import model_slug
from quantwb.sweep_steps import StepKind, remove_stale_partials, step_key

if TYPE_CHECKING:
    from quantwb.models import ModelSource
    from quantwb.quantize.base import QuantSpec
    from quantwb.sweep import Chain

log = logging.getLogger(__name__)


class ChainRunner:
    """The keys and actions of one variant's steps; remembers the artifact between them."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.artifact_path: Path | None = None

    @cached_property
    def source(self) -> ModelSource:
        from quantwb.models import resolve

        return resolve(self.chain.model)

    @cached_property
    def spec(self) -> QuantSpec | None:
        return self.chain.variant.spec(self.chain.plan.calibration)

    @property
    def results_dir(self) -> Path:
        return self.chain.results_dir

    def folder(self, kind: str) -> Path:
        return self.results_dir / kind / model_slug(self.chain.model)

    def kinds(self) -> list[StepKind]:
        from quantwb.sweep import step_kinds

        return step_kinds(self.chain.variant, self.chain.plan)

    # -- keys -------------------------------------------------------------------------------------
    def key(self, kind: StepKind) -> str:
        if kind == "quantize":
            return self._quantize_key
        evaluations = self.chain.plan.evaluations
        if kind == "text":
            from quantwb.texts import load_text

            text = evaluations.text
            assert text is not None  # step_kinds lists "text" only when the plan has it
            return step_key("text", self.chain.code_version, variant=self._variant_identity, base=self.source.sha256,
                            text=load_text(text.name).sha256, ctx=text.ctx, chunks=text.chunks)
        from quantwb.evaluate import task_packs

        tasks = evaluations.tasks
        assert tasks is not None
        text_name = evaluations.text.name if evaluations.text else "wiki"
        resolved = task_packs.resolve_tasks(tasks.names, self._tasks_dir, text_name)
        return step_key("tasks", self.chain.code_version, variant=self._variant_identity, base=self.source.sha256,
                        tasks=[(t.name, t.data_sha256, t.config_sha256) for t in resolved],
                        limit=tasks.limit, fewshot=tasks.fewshot)

    @cached_property
    def _quantize_key(self) -> str:
        from quantwb.texts import load_text

        spec = self.spec
        assert spec is not None
        calibration = load_text(spec.calibration.text).sha256 if spec.calibration else None
        return step_key("quantize", self.chain.code_version, model=self.source.sha256, spec=spec.to_dict(), calibration_text=calibration)

    @property
    def _variant_identity(self) -> str:
        """The baseline's content hash, or the key that made the artifact (which fixes its content)."""
        return self.source.sha256 if self.spec is None else self._quantize_key

    @property
    def _tasks_dir(self) -> Path | None:
        tasks = self.chain.plan.evaluations.tasks
        return Path(tasks.tasks_dir).expanduser() if tasks and tasks.tasks_dir else None

    # -- actions ----------------------------------------------------------------------------------
    def reuse(self, kind: StepKind, outputs: list[Path]) -> None:
        if kind == "quantize":
            self.artifact_path = outputs[0]

    def run(self, kind: StepKind) -> list[Path]:
        """Run one step; returns its outputs (paths inside the results folder)."""
        if kind == "quantize":
            return [self._quantize()]
        if kind == "text":
            return self._evaluate_text()
        return self._evaluate_tasks()

    @property
    def variant_path(self) -> Path:
        if self.spec is None:
            return self.source.path
        if self.artifact_path is None:
            raise EvaluationError(f"{self.chain.variant.id}: no artifact to evaluate (its quantize step did not run)")
        return self.artifact_path

    def _quantize(self) -> Path:
        from quantwb.quantize.registry import get_quantizer

        spec = self.spec
        assert spec is not None
        out_dir = self.folder("artifacts") / self.chain.variant.id  # one folder per variant: ids are unique, slugs may not be
        remove_stale_partials(out_dir)  # a run killed mid-write (SIGKILL, power loss) cannot clean up after itself
        artifact = get_quantizer(spec.method).run(self.source, spec, out_dir)
        self.artifact_path = Path(artifact.path)
        return self.artifact_path

    def _evaluate_text(self) -> list[Path]:
        from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants

        text = self.chain.plan.evaluations.text
        assert text is not None
        config = EvalConfig(base=self.chain.model, text=text.name, ctx=text.ctx, chunks=text.chunks,
                            out_dir=self.folder("records"), threads=self.chain.threads, force=True)
        return [Path(p) for p in evaluate_variants([self.variant_path], config)]

    def _evaluate_tasks(self) -> list[Path]:
        from quantwb.evaluate.pipeline import EvalConfig, evaluate_tasks
        from quantwb.evaluate.tasks import TaskConfig

        evaluations = self.chain.plan.evaluations
        tasks = evaluations.tasks
        assert tasks is not None
        task_config = TaskConfig(tasks=tasks.names, tasks_dir=self._tasks_dir, limit=tasks.limit,
                                 num_fewshot=tasks.fewshot, text=evaluations.text.name if evaluations.text else "wiki")
        config = EvalConfig(base=self.chain.model, out_dir=self.folder("records"), threads=self.chain.threads,
                            tasks=task_config, force=True)
        return [Path(p) for p in evaluate_tasks([self.variant_path], config)]
