"""The fast half conversions give numpy's own results bit for bit: every half, every rounding tie, probabilities."""

from __future__ import annotations

import numpy as np

from quantwb.evaluate.half_floats import to_float16, to_float32


def test_every_half_widens_to_numpys_float32() -> None:
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)  # NaNs and infinities included
    assert np.array_equal(to_float32(halves).view(np.uint32), halves.astype(np.float32).view(np.uint32))


def test_narrowing_rounds_as_numpy_does_at_every_tie_and_between() -> None:
    finite = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)  # 0 to 65504, subnormals first
    ties = (finite[:-1] + finite[1:]) / 2  # exactly halfway: ties to even decide
    values = np.concatenate([finite, ties]).astype(np.float32)
    values = np.concatenate([values, np.nextafter(values, 0), np.nextafter(values, np.inf)])
    rng = np.random.default_rng(0)
    probabilities = np.exp(-rng.uniform(0, 30, 10**6)).astype(np.float32)  # what the base pass stores
    values = np.concatenate([values[values <= 65504], probabilities, [np.float32(0.0)]])
    assert np.array_equal(to_float16(values).view(np.uint16), values.astype(np.float16).view(np.uint16))


def test_shapes_and_strides_are_kept() -> None:
    block = np.linspace(0, 1, 6 * 7, dtype=np.float32).reshape(6, 7)[:, 1:5]  # a non-contiguous view
    assert to_float16(block).shape == (6, 4) and np.array_equal(to_float16(block), block.astype(np.float16))
    assert np.array_equal(to_float32(block.astype(np.float16)), block.astype(np.float16).astype(np.float32))
