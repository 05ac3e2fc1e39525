"""What every simulated service shares: latency, the call record, and value display.

Timing rule, the same for every service: a call from simulated handler code
takes ``latency_s`` (plus a seeded jitter, if configured) of simulated time,
and the service acts on it **atomically at the end of that time**. Two calls
made at once therefore see the service as it was at the end of their own
latency, and a read-then-write that spans two calls can be overtaken by other
invocations in between (a lost update). Outside a simulation (a notebook
cell setting up data) a call takes no time and applies at the Lab's current
instant.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import bridge, validation
from ..errors import SimulationError
from ..records import SERVICE_CALL_COLUMNS, ServiceCall

if TYPE_CHECKING:
    from ..runtime import Account


def check_latency(latency_s: float, jitter_s: float) -> tuple[float, float]:
    for name, v in (("latency_s", latency_s), ("jitter_s", jitter_s)):
        validation.seconds(name, v)
    return float(latency_s), float(jitter_s)


class Latency:
    """``latency_s`` plus ``uniform(0, jitter_s)`` drawn from its own seeded stream."""

    __slots__ = ("latency_s", "jitter_s", "_rng")

    def __init__(self, latency_s: float, jitter_s: float, seed_key: str) -> None:
        self.latency_s, self.jitter_s = check_latency(latency_s, jitter_s)
        self._rng = random.Random(seed_key)

    def draw(self) -> float:
        if self.jitter_s:
            return self.latency_s + self._rng.random() * self.jitter_s
        return self.latency_s


class Clock:
    """Simulated time of one Lab (``account``), or 0 for a service used without a Lab; and the
    Lab's order of service calls: ``next_seq()`` numbers them. Every clock of one Lab shares one
    counter, so records of different services made at one instant keep the order in which they
    were made; a clock without a Lab has a counter of its own."""

    def __init__(self, account: Account | None = None) -> None:
        self.account = account
        self._seq: Iterator[int] = itertools.count() if account is None else account.call_seq

    def now(self) -> float:
        return self.account.env.now if self.account is not None else 0.0

    def next_seq(self) -> int:
        """The next number in this Lab's order of service calls (0, 1, 2, ...)."""
        return next(self._seq)

    def spend(self, latency: Latency | None) -> str | None:
        """Spend one call's latency if simulated handler code is running; return the request id
        of that invocation (None outside a simulation or when unknown). ``latency`` may be None
        only for a service that simulated code never calls."""
        act = bridge.current()
        if act is None:
            return None
        if self.account is not None and act.lab is not self.account:
            raise SimulationError("a handler called a simulated service that belongs to another Lab")
        assert latency is not None, "a service that simulated code calls has a latency"
        seconds = latency.draw()
        if seconds > 0:
            bridge.sleep(seconds)
        return getattr(act, "request_id", None)


class CallRecord:
    """One call to a simulated service, as the service saw it.

    ``start_s`` when the caller sent it, ``time_s`` when the service acted on it;
    ``request_id`` of the calling invocation (None from a notebook); ``service``
    (``"dynamodb"`` or ``"http"``), ``resource`` (table or service name),
    ``operation`` (``"GetItem"``, ``"GET"``, ...), ``target`` (item key or path),
    ``outcome`` (``"ok"``, an error code, or an HTTP status as text) and ``detail``
    (what was read or written). ``describe()`` renders it in one line. ``seq`` orders
    records made at one instant: the number the service's clock gave it
    (``clock.next_seq()``), in the order the Lab's services made their records.
    """

    __slots__ = ("start_s", "time_s", "request_id", "service", "resource", "operation", "target",
                 "outcome", "detail", "_fmt", "seq")

    def __init__(self, start_s: float, time_s: float, request_id: str | None, service: str, resource: str,
                 operation: str, target: Any, outcome: str, detail: Any, fmt: Callable[[CallRecord], str],
                 *, seq: int) -> None:
        self.start_s, self.time_s, self.request_id = start_s, time_s, request_id
        self.service, self.resource, self.operation = service, resource, operation
        self.target, self.outcome, self.detail = target, outcome, detail
        self._fmt = fmt
        self.seq = seq

    def describe(self) -> str:
        return self._fmt(self)

    def as_row(self) -> ServiceCall:
        """The call as a row of ``calls`` (a ``labkit.records.ServiceCall``)."""
        return ServiceCall(self.start_s, self.time_s, self.request_id, self.service, self.resource, self.operation,
                           self.target, self.outcome, self.describe())

    def as_dict(self) -> dict[str, Any]:
        return self.as_row()._asdict()

    def __repr__(self) -> str:
        return f"<CallRecord {self.time_s:.3f}s {self.describe()}>"


RECORD_COLUMNS = SERVICE_CALL_COLUMNS     # the columns of every service's ``calls``


def records_frame(records: Iterable[CallRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.as_row() for r in records], columns=list(RECORD_COLUMNS))


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {k: _plain(v[k]) for k in sorted(v)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "value") and isinstance(v.value, bytes):   # boto3 Binary
        return f"<{len(v.value)} bytes>"
    return v


def show(value: Any, limit: int = 90) -> str:
    """A short JSON-like rendering of a value (Decimals as plain numbers) for logs and timelines."""
    try:
        text = json.dumps(_plain(value), ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
