"""Weight bits and group size for the HF methods: the checks on what was asked, and the group size that fits."""

from __future__ import annotations

from dataclasses import dataclass, replace

from quantwb import defaults
from quantwb.errors import InputError, UnsupportedError
from quantwb.quantize.base import QuantSpec

KERNEL_GROUP_SIZES = (128, 64, 32, 16)  # sizes that vLLM/Marlin/exllama kernels accept, largest first


@dataclass(frozen=True)
class GroupChoice:
    """The group size asked for, the one used, and why they differ (empty when equal)."""

    requested: int
    chosen: int
    note: str = ""


def check_bits(method: str, bits: int | None, allowed: tuple[int, ...]) -> int:
    if bits not in allowed:
        raise InputError(f"{method}: --bits {bits} is not supported (choose {', '.join(map(str, allowed))})")
    return bits


def check_group_size(method: str, group_size: int | None) -> int:
    """-1 means one group per output channel; otherwise a positive size."""
    if group_size is None:
        return defaults.GROUP_SIZE
    if group_size != -1 and group_size < 1:
        raise InputError(f"{method}: --group-size must be positive or -1 (per channel), got {group_size}")
    return group_size


def normalized(spec: QuantSpec, allowed_bits: tuple[int, ...], default_symmetric: bool) -> QuantSpec:
    """`spec` with bits and group size checked and defaults filled in (group 128, the method's symmetry)."""
    check_bits(spec.method, spec.bits, allowed_bits)
    symmetric = default_symmetric if spec.symmetric is None else spec.symmetric
    return replace(spec, group_size=check_group_size(spec.method, spec.group_size), symmetric=symmetric)


def fixed(spec: QuantSpec, bits: int) -> QuantSpec:
    """A fixed-scheme method's spec (W8A8, FP8): symmetric per-channel `bits`-bit weights; other bits or groups refused."""
    if spec.bits not in (None, bits) or spec.group_size not in (None, -1):
        raise InputError(f"{spec.method}: the {spec.scheme} scheme fixes {bits}-bit weights per channel; "
                         "bits and group size do not apply")
    return replace(spec, bits=bits, group_size=-1, symmetric=True)


def choose_group_size(requested: int, in_features: dict[str, int]) -> GroupChoice:
    """Keep `requested` if it divides every quantized layer's input size; else the largest kernel size that does.

    A group must tile a weight row exactly; a size that does not would make a checkpoint kernels reject.
    """
    if requested == -1:
        return GroupChoice(-1, -1)
    bad = {name: n for name, n in in_features.items() if n % requested}
    if not bad:
        return GroupChoice(requested, requested)
    # Tried in order: the kernel sizes below the request, largest first (a smaller group never costs accuracy).
    tried = [g for g in KERNEL_GROUP_SIZES if g < requested]
    fits = [g for g in tried if all(n % g == 0 for n in in_features.values())]
    example = ", ".join(f"{name} ({n})" for name, n in list(bad.items())[:3])
    if not fits:
        dividing = [g for g in KERNEL_GROUP_SIZES if all(n % g == 0 for n in in_features.values())]
        tried_text = f"neither does any smaller kernel size ({', '.join(map(str, tried))})" if tried else \
            f"no kernel size is smaller ({', '.join(map(str, KERNEL_GROUP_SIZES))})"
        choose = f"--group-size {' or '.join(map(str, dividing))} or -1 (per channel)" if dividing else "--group-size -1 (per channel)"
        raise UnsupportedError(
            f"--group-size {requested} does not divide the input size of {len(bad)} layers, e.g. {example}, "
            f"and {tried_text}; use {choose}"
        )
    note = (
        f"group size {requested} does not divide the input size of {len(bad)} layers (e.g. {example}); "
        f"used {fits[0]}, the largest size that divides all of them"
    )
    return GroupChoice(requested, fits[0], note)
