"""Checks on a record's numbers before it is trusted: every number finite, sizes and divergences not negative.

A NaN passes every comparison as false: it would pass every `--fail-on` gate, look Pareto-optimal and make the
JSON report invalid. So a record holding one is refused on read (RecordError, exit 4), with where it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

# Numbers that cannot be negative: by key name anywhere, and every number under these sections.
_NON_NEGATIVE_KEYS = ("size_bytes", "weight_bytes", "n_params", "bits_per_weight", "n_tokens", "ctx", "n_chunks",
                      "n_scored", "ppl", "ppl_ratio", "peak_rss_load_bytes", "peak_rss_eval_bytes")
_NON_NEGATIVE_SECTIONS = (("kld", "kld"),)  # KL divergence per position is >= 0 by definition
# A per-position KLD comes out below 0 by the rounding of the base's stored probabilities (float16 here, 16-bit
# packing in llama.cpp, whose minimum KLD is often printed negative too): -2e-5 was measured on the tiny model.
_ROUNDING = 1e-3


def _numbers(value: Any, where: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, (*where, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, (*where, str(index)))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield where, float(value)


def value_problem(payload: dict[str, Any]) -> str | None:
    """The first impossible number in a record's payload, said in a few words with its place; None if all are fine."""
    sections = () if _tail_drawn(payload) else _NON_NEGATIVE_SECTIONS
    for where, number in _numbers({k: v for k, v in payload.items() if k not in ("task_settings", "environment")}):
        place = ".".join(where)
        if not math.isfinite(number):
            return f"{place} is {number} (a measurement must be a finite number)"
        negative_key = where and where[-1] in _NON_NEGATIVE_KEYS
        in_section = any(where[:len(section)] == section for section in sections)
        if (negative_key and number < 0) or (in_section and number < -_ROUNDING):
            return f"{place} is {number:g} (cannot be negative)"
    return None


def _tail_drawn(payload: dict[str, Any]) -> bool:
    """A top-K record estimates each position's tail from draws: unbiased on average, and below 0 at some positions
    where the variant's tail is close to the base's (its minimum and low percentiles may then be negative)."""
    kld = payload.get("kld")
    topk = kld.get("topk") if isinstance(kld, dict) else None
    return isinstance(topk, dict) and bool(topk.get("tail_draws"))
