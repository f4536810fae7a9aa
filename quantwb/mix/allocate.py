"""Choose one option per group to minimize the predicted KLD rise under a byte budget (a multiple-choice knapsack).

Solved exactly by dynamic programming over the bytes above each group's cheapest option, counted in a fixed
unit: costs round up and the budget rounds down, so the answer always fits. The unit depends only on the
options (never on the budget), so a larger budget can only keep or lower the predicted rise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_STEPS = 200_000  # budget resolution: the unit is the byte range of all options / MAX_STEPS


@dataclass(frozen=True)
class Item:
    """One option of one group: what it costs (bytes) and what it is predicted to add to the mean KLD (nats)."""

    cost: int
    rise: float


def allocate(groups: list[list[Item]], budget: int) -> list[int] | None:
    """Index of the chosen item per group, minimizing Σ rise with Σ cost ≤ budget; None if nothing fits."""
    floors = [min(item.cost for item in items) for items in groups]
    room = budget - sum(floors)
    if room < 0:
        return None
    span = sum(max(item.cost for item in items) - floor for items, floor in zip(groups, floors, strict=True))
    unit = max(1, math.ceil(span / MAX_STEPS))
    steps = min(room // unit, math.ceil(span / unit))
    best = np.zeros(steps + 1)  # best[b]: least rise of the groups so far within b units above their floors
    picks = np.zeros((len(groups), steps + 1), dtype=np.int16)
    for index, (items, floor) in enumerate(zip(groups, floors, strict=True)):
        new = np.full(steps + 1, np.inf)
        for choice, item in enumerate(items):
            units = math.ceil((item.cost - floor) / unit)
            if units > steps:
                continue
            candidate = np.full(steps + 1, np.inf)
            candidate[units:] = best[: steps + 1 - units] + item.rise
            better = candidate < new
            new[better] = candidate[better]
            picks[index, better] = choice
        best = new
    chosen, left = [], steps
    for index in range(len(groups) - 1, -1, -1):
        choice = int(picks[index, left])
        chosen.append(choice)
        left -= math.ceil((groups[index][choice].cost - floors[index]) / unit)
    return chosen[::-1]
