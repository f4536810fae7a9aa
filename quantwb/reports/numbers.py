"""Numbers as table text: bytes in binary units, significant digits, fixed decimals, value ± uncertainty."""

from __future__ import annotations

import math
from collections.abc import Callable

MISSING = "–"  # a value the records do not hold

Formatter = Callable[[float | None], str]
UncFormatter = Callable[[float | None, float | None], str]  # (value, uncertainty) -> text


def human_bytes(n: float | None) -> str:
    """Bytes as MiB/GiB text (binary units, as `ls -h` and llama.cpp print them)."""
    if n is None:
        return MISSING
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def number(value: float | None, digits: int = 4) -> str:
    """`digits` significant digits, scientific only for tiny values (KLD of near-lossless variants)."""
    if value is None:
        return MISSING
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def with_unc(value: float | None, unc: float | None, digits: int = 4) -> str:
    """`value ± unc` with both rounded to the uncertainty's second significant digit."""
    if value is None:
        return MISSING
    if unc is None or unc <= 0 or not math.isfinite(unc):
        return number(value, digits)
    decimals = 1 - math.floor(math.log10(unc))
    if decimals > 6:  # an uncertainty too small for fixed point (near-lossless variants): scientific
        return f"{number(value, digits)} ± {unc:.1e}"
    decimals = max(decimals, 0)
    return f"{value:.{decimals}f} ± {unc:.{decimals}f}"


def fixed(digits: int, suffix: str = "", divisor: float = 1.0, missing: str = "-") -> Formatter:
    """A formatter: value / divisor with `digits` decimals and `suffix` (e.g. MiB from bytes: divisor 2**20)."""

    def fmt(value: float | None) -> str:
        if value is None:
            return missing
        return f"{value / divisor + 0.0:.{digits}f}{suffix}"  # + 0.0: an exact -0.0 prints as 0

    return fmt


def fixed_unc(digits: int) -> UncFormatter:
    """A formatter of `value ± unc`, both with `digits` decimals."""
    one = fixed(digits)
    return lambda value, unc: one(value) if value is None or unc is None else f"{one(value)} ± {one(unc)}"
