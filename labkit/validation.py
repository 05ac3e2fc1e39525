"""Argument checks, in one place: each returns the value or raises an AWS-style error.

Every check names the parameter, the value given and what is allowed (the error's
message reads ``MemorySize=64 is not valid: allowed an integer from 128 to 10,240``),
so a learner can fix a call without reading the source.

* Booleans are never numbers here (``True`` is not the integer 1).
* NaN and infinities are refused unless a check explicitly allows infinity.
* ``allowed`` overrides the generated description when a parameter has its own wording.

labkit's own bounds (not AWS's) that protect a learner's kernel from a typo that would
run for hours or exhaust memory are here too, each with the reason for its value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .errors import InvalidParameterValueException

# -- labkit's own bounds -----------------------------------------------------------------------
# A workload of more than ten million events takes minutes to simulate and gigabytes of
# records: a typo (burst(10**12)) is refused before it can hang the kernel. The largest
# experiment the course runs is a few million calls.
MAX_EVENTS_PER_WORKLOAD = 10_000_000
# A year of simulated time bounds every duration argument (advance, until_s, workload length).
MAX_SIMULATED_S = 365 * 24 * 3600.0
# A closed-loop client whose calls take no simulated time at all would loop for ever within one
# instant (a handler that never waits, with a seconds= bound): stopped after this many calls.
MAX_CALLS_AT_ONE_INSTANT = 100_000
# A chain of invocations, each sent by the one before (a function invoking itself): after this
# many invocations labkit stops it as AWS's recursive loop detection stops loops through SQS, SNS and
# S3 ("after approximately 16 invocations", docs.aws.amazon.com/lambda/latest/dg/
# invocation-recursion.html, checked 2026-12-05). AWS does not document that it watches direct
# invocations between functions: this guard is labkit's, so a doubling handler ends.
MAX_INVOKE_CHAIN = 16
# A metrics table or a bar chart has one row or bar per period: more than a million periods is a
# typo (period_s=1e-9 for a minute of records) that would build gigabytes before showing anything.
MAX_PERIODS = 1_000_000
# A Kinesis stream is simulated shard by shard and a mapping polls every shard each simulated
# second: beyond this a run crawls. AWS sets no upper limit (its default quota is 20,000 shards per
# account in the largest Regions, docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html,
# checked 2026-12-05), so this bound is labkit's.
MAX_SHARDS = 10_000
# Simulated processes of one kind (closed-loop clients, a traditional server's worker processes)
# are Python objects with simpy processes of their own: more than this is a typo, not a test.
MAX_SIMULATED_PROCESSES = 100_000
# An account's concurrency limit bounds the execution environments alive at once, each a Python
# object with its own module namespace, /tmp and simpy processes: a higher limit would let a typo
# (concurrency_limit=10**9 and burst(10**7)) create millions of them. The lessons use up to 5,000.
MAX_CONCURRENCY = 100_000


def is_int(value: Any) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bounds_text(kind: str, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool, unit: str) -> str:
    def fmt(x):
        return f"{x:,}" if isinstance(x, int) or float(x).is_integer() and abs(x) >= 1000 else f"{x:g}"
    if lo is not None and hi is not None and not lo_open and not hi_open:
        return f"{kind} from {fmt(lo)} to {fmt(hi)}{unit}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {fmt(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {fmt(hi)}")
    return f"{kind} {' and '.join(parts)}{unit}" if parts else f"{kind}{unit}"


def integer(parameter: str, value: Any, lo: int | None = None, hi: int | None = None, *,
            allowed: str | None = None, unit: str = "", whole_floats: bool = False) -> int:
    """``value`` as an int within [lo, hi]; ``whole_floats`` accepts 512.0 as 512."""
    if whole_floats and isinstance(value, float) and value.is_integer():
        value = int(value)
    ok = is_int(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
    if not ok:
        raise InvalidParameterValueException(
            parameter, value, allowed or _bounds_text("an integer", lo, hi, False, False, unit))
    return value


def number(parameter: str, value: Any, lo: float | None = None, hi: float | None = None, *,
           lo_open: bool = False, hi_open: bool = False, allow_inf: bool = False,
           allowed: str | None = None, unit: str = "") -> float:
    """``value`` as a number within its bounds (``lo_open``: strictly above ``lo``); NaN is always
    refused, and infinity unless ``allow_inf``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if ok and math.isinf(value) and not allow_inf:
        ok = False
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        kind = "a number" if allow_inf else "a finite number"
        raise InvalidParameterValueException(
            parameter, value, allowed or _bounds_text(kind, lo, hi, lo_open, hi_open, unit))
    return value


def seconds(parameter: str, value: Any, *, lo: float = 0.0, lo_open: bool = False,
            hi: float = MAX_SIMULATED_S, allowed: str | None = None) -> float:
    """A duration in simulated seconds, finite and at most ``MAX_SIMULATED_S`` (a year)."""
    if allowed is None and hi == MAX_SIMULATED_S:
        allowed = (f"a finite number of seconds {'>' if lo_open else '>='} {lo:g} and at most "
                   f"{MAX_SIMULATED_S:,.0f} (a year: labkit's limit)")
    return number(parameter, value, lo, hi, lo_open=lo_open, unit=" seconds", allowed=allowed)


def choice(parameter: str, value: Any, options: Iterable[Any], *, allowed: str | None = None) -> Any:
    """``value`` if it is one of ``options``."""
    options = tuple(options)
    if value not in options:
        raise InvalidParameterValueException(parameter, value, allowed or f"one of {options}")
    return value


def boolean(parameter: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameterValueException(parameter, value, "True or False")
    return value


def event_count(parameter: str, value: Any, lo: int = 0) -> int:
    """How many events a workload makes: from ``lo`` to ``MAX_EVENTS_PER_WORKLOAD``."""
    return integer(parameter, value, lo, MAX_EVENTS_PER_WORKLOAD,
                   allowed=f"an integer from {lo} to {MAX_EVENTS_PER_WORKLOAD:,} (labkit's limit per workload)")


def period(parameter: str, value: Any, span_s: float = 0.0) -> float:
    """A sampling period in seconds (> 0, at most a year) that cuts ``span_s`` seconds of records
    into at most ``MAX_PERIODS`` periods."""
    seconds(parameter, value, lo_open=True)
    if span_s / value > MAX_PERIODS:
        raise InvalidParameterValueException(
            parameter, value, f"a number of seconds of at least {span_s / MAX_PERIODS:g} for these "
                              f"{span_s:g} s of records (at most {MAX_PERIODS:,} periods: labkit's limit)")
    return value


def delay_pair(parameter: str, value: Any, *, allowed: str | None = None) -> tuple[float, float]:
    """``(first, longest)``: a tuple of two finite numbers of seconds, ``0 < first <= longest``, at
    most ``MAX_SIMULATED_S`` (a year)."""
    ok = isinstance(value, tuple) and len(value) == 2 and all(is_number(x) for x in value)
    if not ok or not 0 < value[0] <= value[1] <= MAX_SIMULATED_S:
        raise InvalidParameterValueException(
            parameter, value, allowed or f"(first, longest) seconds with 0 < first <= longest <= "
                                         f"{MAX_SIMULATED_S:,.0f} (a year: labkit's limit)")
    return value
