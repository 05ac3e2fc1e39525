"""Step functions over simulated time, and percentiles: the arithmetic that the inspection of
the simulated database, proxy and traditional server shares."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np


class Steps(NamedTuple):
    """A step function of time: ``values[i]`` holds from ``times[i]`` until ``times[i + 1]``."""

    times: list[float]
    values: list[int]


class Span(Protocol):
    """Anything open from ``opened_s`` until ``closed_s`` (None while still open): a connection."""

    @property
    def opened_s(self) -> float: ...

    @property
    def closed_s(self) -> float | None: ...


def open_steps(spans: Sequence[Span]) -> Steps:
    """How many of ``spans`` are open over time (one step after each change; at one instant
    closes count before opens)."""
    events = [(c.opened_s, 1) for c in spans] + [(c.closed_s, -1) for c in spans if c.closed_s is not None]
    events.sort()     # by time, then closes (-1) before opens (+1) at one instant
    times: list[float] = []
    values: list[int] = []
    n = 0
    for t, d in events:
        n += d
        if times and times[-1] == t:
            values[-1] = n
        else:
            times.append(t)
            values.append(n)
    return Steps(times, values)


def max_in(times: Sequence[float], values: Sequence[int], a: float, b: float) -> int:
    """Maximum of a step function on [a, b]: its value at a, and every step inside."""
    i = bisect.bisect_right(times, a) - 1
    peak = values[i] if i >= 0 else 0
    j = i + 1
    while j < len(times) and times[j] <= b:
        peak = max(peak, values[j])
        j += 1
    return peak


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, rounded to 3 decimals (None if empty)."""
    if not values:
        return None
    return round(float(np.percentile(values, q)), 3)


__all__ = ["Steps", "Span", "open_steps", "max_in", "percentile"]
