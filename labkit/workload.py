"""Traffic shapes: when requests arrive and what event each one carries.

An *open-loop* workload fixes arrival times in advance (callers do not wait
for each other): ``constant``, ``poisson``, ``burst``, ``bursts``, ``ramp``,
``replay``, ``parallel`` and ``combine``. A *closed-loop* workload has N
clients, each sending its next request only after the previous one returned:
``closed_loop`` and ``sequential``.

Every workload draws randomness from the generator the Lab hands it, so the same
seed gives the same arrivals. ``payload`` is ``None`` (each event is
``{"n": i}``), a constant (copied per event), or a function of the request
number ``i`` (and optionally a ``random.Random``): ``payload=lambda i: {"order": i}``.
"""

import copy
import inspect
import math
from dataclasses import dataclass, field

from . import validation
from .errors import InvalidParameterValueException

# Each closed-loop client is a simulated process: more than this is a typo, not a test.
MAX_CLIENTS = validation.MAX_SIMULATED_PROCESSES


def _check_number(name, value, lo=0.0, lo_inclusive=True):
    if name in ("seconds", "at_s", "spread_s", "every_s", "think_s", "timestamps[]"):   # a time: at most a year
        return validation.seconds(name, value, lo=lo, lo_open=not lo_inclusive)
    return validation.number(name, value, lo, lo_open=not lo_inclusive)


def _check_count(name, value, lo=0):
    hi = validation.MAX_EVENTS_PER_WORKLOAD
    return validation.integer(name, value, lo, hi,
                              allowed=f"an integer from {lo} to {hi:,} (labkit's limit per workload)")


def _check_expected(events):
    """Refuse a workload whose arrivals would exceed labkit's limit (a typo, not an experiment)."""
    if events > validation.MAX_EVENTS_PER_WORKLOAD:
        raise InvalidParameterValueException(
            "rate_per_s * seconds", f"{events:,.0f} events",
            f"at most {validation.MAX_EVENTS_PER_WORKLOAD:,} events per workload (labkit's limit)")


def payload_fn(payload):
    """``payload`` as a function ``(i, rng) -> event``: None gives ``{"n": i}``, a function of ``i``
    (or of ``i`` and ``rng``) is called, any other value is deep-copied for each event."""
    if payload is None:
        return lambda i, rng: {"n": i}
    if callable(payload):
        try:
            n = len(inspect.signature(payload).parameters)
        except (TypeError, ValueError):
            n = 1
        return payload if n >= 2 else (lambda i, rng: payload(i))
    return lambda i, rng: copy.deepcopy(payload)


@dataclass
class Workload:
    """Base: ``events(rng)`` yields ``(offset_s, event)`` in time order for open-loop traffic."""

    payload: object = field(default=None, repr=False)

    closed = False

    def offsets(self, rng):
        raise NotImplementedError

    def events(self, rng):
        make = payload_fn(self.payload)
        for i, t in enumerate(self.offsets(rng)):
            yield t, make(i, rng)

    @property
    def horizon_s(self):
        """How long the arrivals last (for progress reporting)."""
        return 0.0

    def __add__(self, other):
        return combine(self, other)


@dataclass
class _Times(Workload):
    times: tuple = ()

    def offsets(self, rng):
        return list(self.times)

    @property
    def horizon_s(self):
        return max(self.times, default=0.0)


@dataclass
class _Poisson(Workload):
    rate_per_s: float = 1.0
    seconds: float = 1.0

    def offsets(self, rng):
        out, t = [], 0.0
        while True:
            t += rng.expovariate(self.rate_per_s)
            if t >= self.seconds:
                return out
            out.append(t)

    @property
    def horizon_s(self):
        return self.seconds


@dataclass
class _Ramp(Workload):
    start_rate: float = 0.0
    end_rate: float = 1.0
    seconds: float = 1.0
    random_arrivals: bool = True

    def _rate(self, t):
        return self.start_rate + (self.end_rate - self.start_rate) * t / self.seconds

    def offsets(self, rng):
        peak = max(self.start_rate, self.end_rate)
        if peak <= 0:
            return []
        if self.random_arrivals:   # thinning of a Poisson process at the peak rate
            out, t = [], 0.0
            while True:
                t += rng.expovariate(peak)
                if t >= self.seconds:
                    return out
                if rng.random() * peak < self._rate(t):
                    out.append(t)
        # Deterministic: arrival k (from 0) where the cumulative rate reaches k, so a flat
        # ramp is ``constant`` (first arrival at 0) and the ramp holds (a + b) / 2 * T arrivals.
        a, b, T = self.start_rate, self.end_rate, self.seconds
        total = (a + b) / 2 * T
        out = []
        for k in range(int(total + 1e-9)):
            if a == b:
                out.append(k / a)
                continue
            slope = (b - a) / T   # solve a t + slope t^2 / 2 = k
            out.append((-a + math.sqrt(a * a + 2 * slope * k)) / slope)
        return [t for t in out if t < T]

    @property
    def horizon_s(self):
        return self.seconds


@dataclass
class _Combined(Workload):
    parts: tuple = ()

    def events(self, rng):
        merged = []
        for k, part in enumerate(self.parts):
            merged.extend((t, k, i, ev) for i, (t, ev) in enumerate(part.events(rng)))
        merged.sort(key=lambda x: x[:3])   # time, then part, then order within the part
        return [(t, ev) for t, _, _, ev in merged]

    @property
    def horizon_s(self):
        return max((p.horizon_s for p in self.parts), default=0.0)


@dataclass
class ClosedLoop(Workload):
    """N clients; each waits for its answer (and ``think_s``) before calling again."""

    clients: int = 1
    requests_per_client: "int | None" = None
    seconds: "float | None" = None
    think_s: float = 0.0

    closed = True

    @property
    def horizon_s(self):
        return self.seconds or 0.0


# -- constructors ------------------------------------------------------------------------

def constant(rate_per_s, seconds, payload=None):
    """Evenly spaced arrivals: one every ``1 / rate_per_s`` seconds, starting at 0."""
    _check_number("rate_per_s", rate_per_s, 0, lo_inclusive=False)
    _check_number("seconds", seconds)
    _check_expected(rate_per_s * seconds)
    n = int(math.floor(seconds * rate_per_s - 1e-9)) + 1 if seconds > 0 else 0
    return _Times(payload=payload, times=tuple(i / rate_per_s for i in range(n)))


def poisson(rate_per_s, seconds, payload=None):
    """Poisson arrivals (exponential gaps) at ``rate_per_s`` for ``seconds``."""
    _check_number("rate_per_s", rate_per_s, 0, lo_inclusive=False)
    _check_number("seconds", seconds)
    _check_expected(rate_per_s * seconds)
    return _Poisson(payload=payload, rate_per_s=rate_per_s, seconds=seconds)


def burst(n, at_s=0.0, spread_s=0.0, payload=None):
    """``n`` requests at ``at_s``, spread evenly over ``spread_s`` seconds (0: all at once)."""
    _check_count("n", n)
    _check_number("at_s", at_s)
    _check_number("spread_s", spread_s)
    step = spread_s / n if n else 0.0
    return _Times(payload=payload, times=tuple(at_s + i * step for i in range(n)))


def parallel(n, payload=None):
    """``n`` requests at the same instant (the 'parallel invokes' experiment)."""
    return burst(n, payload=payload)


def bursts(size, every_s, count, spread_s=0.0, payload=None):
    """``count`` bursts of ``size`` requests, one burst every ``every_s`` seconds."""
    _check_count("size", size)
    _check_number("every_s", every_s, 0, lo_inclusive=False)
    _check_count("count", count)
    _check_number("spread_s", spread_s)
    _check_expected(size * count)
    step = spread_s / size if size else 0.0
    # Sorted: bursts spread over more than ``every_s`` overlap, and arrivals must come in time order.
    return _Times(payload=payload,
                  times=tuple(sorted(b * every_s + i * step for b in range(count) for i in range(size))))


def ramp(start_rate, end_rate, seconds, random_arrivals=True, payload=None):
    """Arrival rate changing linearly from ``start_rate`` to ``end_rate`` over ``seconds``."""
    _check_number("start_rate", start_rate)
    _check_number("end_rate", end_rate)
    _check_number("seconds", seconds, 0, lo_inclusive=False)
    _check_expected((start_rate + end_rate) / 2 * seconds)
    return _Ramp(payload=payload, start_rate=start_rate, end_rate=end_rate, seconds=seconds,
                 random_arrivals=random_arrivals)


def replay(timestamps, payloads=None):
    """Arrivals at the given offsets in seconds (sorted for you); optional payload per arrival."""
    ts = list(timestamps)
    _check_expected(len(ts))
    for t in ts:
        _check_number("timestamps[]", t)
    if payloads is not None:
        payloads = list(payloads)
        if len(payloads) != len(ts):
            raise InvalidParameterValueException("payloads", f"{len(payloads)} items", f"one per timestamp ({len(ts)})")
        order = sorted(range(len(ts)), key=lambda i: ts[i])
        ts = [ts[i] for i in order]
        ps = [payloads[i] for i in order]
        return _Times(payload=lambda i: copy.deepcopy(ps[i]), times=tuple(ts))
    return _Times(times=tuple(sorted(ts)))


def combine(*workloads):
    """Several open-loop workloads merged into one stream."""
    for w in workloads:
        if not isinstance(w, Workload) or w.closed:
            raise InvalidParameterValueException("workloads", w, "open-loop workloads")
    return _Combined(parts=tuple(workloads))


def closed_loop(clients, requests_per_client=None, seconds=None, think_s=0.0, payload=None):
    """``clients`` callers in a loop: call, wait for the answer, think, call again.

    Stop after ``requests_per_client`` calls each, or when ``seconds`` have passed
    (a call is not started after that), whichever comes first.
    """
    validation.integer("clients", clients, 1, MAX_CLIENTS,
                       allowed=f"an integer from 1 to {MAX_CLIENTS:,} (labkit's limit)")
    if requests_per_client is None and seconds is None:
        raise InvalidParameterValueException("requests_per_client/seconds", None, "at least one of them")
    if requests_per_client is not None:
        _check_count("requests_per_client", requests_per_client)
    if seconds is not None:
        _check_number("seconds", seconds)
    _check_number("think_s", think_s)
    if requests_per_client is not None:
        _check_expected(clients * requests_per_client)
    return ClosedLoop(payload=payload, clients=clients, requests_per_client=requests_per_client,
                      seconds=seconds, think_s=think_s)


def sequential(n, gap_s=0.0, payload=None):
    """``n`` calls one after another: each starts when the previous has returned (+ ``gap_s``)."""
    return closed_loop(1, requests_per_client=n, think_s=gap_s, payload=payload)
