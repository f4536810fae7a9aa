"""`--fail-on` thresholds: a tiny parser (no eval) and the check that names every breach.

Syntax: `[VARIANT:]METRIC OP NUMBER`, OP one of > >= < <=. The expression states the failing
condition: `kld_mean>0.05` fails every variant whose mean KLD exceeds 0.05. VARIANT (optional) is a
variant name, its quant type (Q2_K, w4g64) or a glob on the name (`*gptq*`).
METRIC is a key of variants.METRICS (`quantwb compare --help` lists them) or TASK.METRIC (arc_easy.acc).
METRIC.lo / METRIC.hi test an end of the metric's 95% interval instead of its value (reports/intervals.py):
`kld_mean.lo>0.05` fails only a certain breach, `kld_mean.hi>0.05` every possible one.
"""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from quantwb.errors import GateError, InputError
from quantwb.reports.intervals import bounded_metrics, estimate, has_interval
from quantwb.reports.variants import VariantRow, known_metrics

# operator symbol -> comparison; longest symbols first so '>=' is not read as '>'.
OPERATORS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}

_EXPRESSION = re.compile(
    r"^\s*(?:(?P<selector>[^:<>=]+?)\s*:)?\s*(?P<metric>[A-Za-z_][\w.-]*)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Threshold:
    """One parsed `--fail-on` expression."""

    expression: str
    metric: str
    op: str
    limit: float
    selector: str | None = None
    bound: str | None = None  # "lo" | "hi": test that end of the metric's interval instead of its value

    @property
    def key(self) -> str:
        return f"{self.metric}.{self.bound}" if self.bound else self.metric

    def read(self, row: VariantRow) -> float | None:
        """The value the condition tests: the metric, or an end of its interval (None: not measured)."""
        if self.bound is None:
            return row.value(self.metric)
        found = estimate(row, self.metric)
        return None if found is None else getattr(found.interval, self.bound)

    def selects(self, row: VariantRow) -> bool:
        if self.selector is None:
            return True
        name = row.variant.name
        return self.selector in (name, row.variant.quant_type) or fnmatch.fnmatchcase(name, self.selector)


@dataclass(frozen=True)
class Breach:
    """A variant whose metric meets a failing condition (value None: the metric was not measured)."""

    threshold: Threshold
    variant: str
    value: float | None

    def __str__(self) -> str:
        t = self.threshold
        if self.value is None:
            return f"{self.variant} {t.key} not measured (required by '{t.expression}')"
        if not math.isfinite(self.value):
            return f"{self.variant} {t.key}={self.value} cannot be compared (required by '{t.expression}')"
        return f"{self.variant} {t.key}={self.value:.4g} {t.op} {t.limit:g}"


def parse_threshold(expression: str) -> Threshold:
    """Parse `[VARIANT:]METRIC OP NUMBER`; a malformed expression raises InputError with the syntax."""
    match = _EXPRESSION.match(expression)
    if not match:
        raise InputError(
            f"--fail-on {expression!r}: expected [VARIANT:]METRIC OP NUMBER with OP one of > >= < <= "
            "(e.g. kld_mean>0.05, Q2_K:ppl_ratio>1.5, arc_easy.acc<0.4)"
        )
    selector = match["selector"].strip() if match["selector"] else None
    metric, bound = match["metric"], None
    if metric.endswith((".lo", ".hi")):
        metric, bound = metric[:-3], metric[-2:]
        if not has_interval(metric):
            raise InputError(f"--fail-on {expression!r}: {metric} has no interval; .lo/.hi exist for {', '.join(bounded_metrics())}")
    return Threshold(expression.strip(), metric, match["op"], float(match["number"]), selector, bound)


def check_thresholds(rows: tuple[VariantRow, ...] | list[VariantRow], thresholds: tuple[Threshold, ...]) -> list[Breach]:
    """Every (variant, threshold) pair that fails; unknown metrics or variants raise InputError."""
    breaches: list[Breach] = []
    for threshold in thresholds:
        selected = [row for row in rows if threshold.selects(row)]
        if not selected:
            names = ", ".join(row.variant.name for row in rows)
            raise InputError(f"--fail-on {threshold.expression!r}: no variant matches {threshold.selector!r} (variants: {names})")
        values = [(row, threshold.read(row)) for row in selected]
        if not _known_metric(threshold.metric, rows):
            raise InputError(f"--fail-on {threshold.expression!r}: unknown metric {threshold.metric!r} (known: {', '.join(known_metrics(rows))})")
        if all(value is None for _, value in values):
            # A gate nothing can be checked against must not pass silently in CI.
            raise InputError(f"--fail-on {threshold.expression!r}: no selected variant has {threshold.key} measured")
        compare = OPERATORS[threshold.op]
        for row, value in values:
            if value is None:
                # A gate aimed at named variants fails closed; a gate for all skips variants not measured that way.
                if threshold.selector is not None:
                    breaches.append(Breach(threshold, row.variant.name, None))
            elif not math.isfinite(value) or compare(value, threshold.limit):  # NaN compares false: it fails closed
                breaches.append(Breach(threshold, row.variant.name, value))
    return breaches


def raise_for_breaches(breaches: tuple[Breach, ...] | list[Breach]) -> None:
    """Raise GateError (exit code 5) naming every breach, or return quietly when there is none."""
    if breaches:
        raise GateError(f"--fail-on: {len(breaches)} breach{'es' if len(breaches) > 1 else ''}: " + "; ".join(map(str, breaches)))


def _known_metric(name: str, rows: tuple[VariantRow, ...] | list[VariantRow]) -> bool:
    return name in known_metrics(rows)
