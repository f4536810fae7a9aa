"""float16 <-> float32 for probability rows, bit-identical to numpy's astype and several times faster.

numpy converts halves element by element (no SIMD path in its wheels for most x86 CPUs): on 2 cores, converting
the base's probabilities took longer than the forward pass that produced them (measured: 184-358 ms per
64 × 49k block to float16, 51 ms back). The base cache stores p as float16, so both passes convert every row.
"""

from __future__ import annotations

import numpy as np

# every half's float32 value, indexed by its bits: 256 KiB, stays in cache
_HALF_TO_FLOAT = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
_MIN_NORMAL = np.float32(2.0**-14)  # the smallest normal half; below it halves are multiples of 2**-24
_REBIAS = np.uint32((127 - 15) << 10)  # float32's exponent bias minus float16's, in half-bit position


def to_float32(halves: np.ndarray) -> np.ndarray:
    """A float32 copy of a float16 array (any values)."""
    return _HALF_TO_FLOAT[np.ascontiguousarray(halves, dtype=np.float16).view(np.uint16)]


def to_float16(values: np.ndarray) -> np.ndarray:
    """float16 of finite float32 values in [0, 65504] (probabilities), rounded to nearest even as numpy rounds."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    bits = values.view(np.uint32)
    # normal halves: round the mantissa from 23 to 10 bits, ties to even (a carry rolls into the exponent)
    out = bits + np.uint32(0x0FFF)
    out += (bits >> np.uint32(13)) & np.uint32(1)
    out >>= np.uint32(13)
    out -= _REBIAS
    # subnormal halves: the value in units of 2**-24, an exact scaling, rounded half to even by rint
    small = np.rint(np.minimum(values, _MIN_NORMAL) * np.float32(2.0**24)).astype(np.uint32)
    return np.where(values < _MIN_NORMAL, small, out).astype(np.uint16).view(np.float16)
