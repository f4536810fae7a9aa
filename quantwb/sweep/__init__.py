"""Sweeps: a plan (models × variants × evaluations) run as chains of cached steps; see run.py."""

from quantwb.sweep.chain import StepEvent
from quantwb.sweep.run_plan import SweepOptions, SweepResult, plan_matrix, run_sweep

__all__ = ["SweepOptions", "SweepResult", "StepEvent", "plan_matrix", "run_sweep"]
