"""Lesson 02 (container reuse and caching): the experiments.

Every experiment here is a **pure function**: it builds its own seeded ``Lab``,
runs one simulation and returns plain data (dicts, lists, DataFrames). The
notebook draws them; the tests call them directly. The handler modules are files
in ``handlers/`` (``*_SOURCE`` are their texts), so the notebook can show each one
as a cell of its own and the tests can deploy exactly the same code.

The lesson's dependency is a small **price service** (``lab.reference_service``)
at ``https://prices.internal``: ``GET /prices`` answers
``{"key": "prices", "value": {sku: price}, "version": v, "as_of": ...}``. Prices
go up a little with every new version of the data, so a cached copy can be
*stale*: ``staleness_s`` measures by how much.

Sections: cold and warm (``PRICE_LOOKUP_SOURCE``); caching reference data
(``cache_handler_source``, ``run_cached``, ``cache_experiment``, ``cache_sweep``,
``reset_experiment``); a client per invocation or per environment
(``client_experiment``); keep-alive (``cold_start_rate``, ``keep_alive``,
``keep_alive_curves``); the cold-start herd after a deploy (``herd_experiment``,
``herd_table``).
"""

from __future__ import annotations

import collections
import math
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labkit import validation, workload
from labkit.errors import InvalidParameterValueException, SimulationError
from labkit.lab import Lab
from labkit.records import INIT_DONE, SUCCESS, THROTTLED, InvocationRecord
from labkit.workload import Workload

from .handlers import CACHE_SOURCES, QUICK_SOURCE

if TYPE_CHECKING:
    from labkit.runtime import Function
    from labkit.services.reference import ReferenceService

# A handler: a ``def handler(event, context)`` function (its notebook cell is its module), or a module's text.
Handler = Callable[..., Any] | str

# ---------------------------------------------------------------------------------------------
# The price service and the events
# ---------------------------------------------------------------------------------------------

PRICE_SERVICE = "prices"
PRICES_URL = "https://prices.internal/prices"
PRICE_HOST = "prices.internal"
SKUS = ("espresso", "flat-white", "croissant", "tea")
_BASE_PRICES = {"espresso": 2.50, "flat-white": 3.20, "croissant": 2.10, "tea": 1.80}

# labkit defaults for this lesson, not AWS figures.
PRICE_LATENCY_S = 0.05        # one request to the price service
PRICE_VERSION_EVERY_S = 300   # the price list changes every 5 minutes


def price_data(version: int) -> dict[str, dict[str, float]]:
    """The price service's data at ``version`` (1, 2, ...): every price rises 5 cents a version."""
    return {"prices": {sku: round(p + 0.05 * (version - 1), 2) for sku, p in _BASE_PRICES.items()}}


def add_price_service(lab: Lab, *, rps_limit: float | None = None,
                      version_every_s: float | None = PRICE_VERSION_EVERY_S,
                      latency_s: float = PRICE_LATENCY_S) -> ReferenceService:
    """Create the lesson's price service in ``lab`` (reachable at ``PRICES_URL``) and return it."""
    return lab.reference_service(PRICE_SERVICE, price_data, rps_limit=rps_limit, latency_s=latency_s,
                                 version_every_s=version_every_s)


def order(i: int) -> dict[str, str]:
    """The event of call ``i``: one coffee-shop item, in turn."""
    return {"sku": SKUS[i % len(SKUS)]}


def staleness_s(service: ReferenceService, version: int, t: float) -> float:
    """How long the data ``version`` had been out of date at time ``t``: 0 while it is the
    service's current version, else the time since the next version replaced it."""
    current, as_of, _ = service.version_at(t)
    if version >= current:
        return 0.0
    # The formula needs evenly spaced versions: a service that changes version every version_every_s.
    assert service.version_every_s is not None, "staleness_s needs a service with version_every_s"
    return t - (as_of - (current - version - 1) * service.version_every_s)


def deploy(lab: Lab, handler: Handler, **config: Any) -> Function:
    """``lab.function`` for a handler given as a function or as its module's text."""
    if isinstance(handler, str):
        return lab.function(source=textwrap.dedent(handler), **config)
    return lab.function(handler, **config)


def fetches_by_request(service: ReferenceService) -> collections.Counter[str]:
    """Requests each invocation made to ``service``: request_id -> count (notebook calls left out)."""
    return collections.Counter(r.request_id for r in service.records if r.request_id is not None)


# ---------------------------------------------------------------------------------------------
# Section 3: caching reference data (globals with a TTL, /tmp, or nothing)
# ---------------------------------------------------------------------------------------------

PLACEMENTS = ("global", "tmp", "none")
# The line of a caching handler module that sets its TTL (the files in handlers/ say 60 s).
_TTL_LINE = re.compile(r"^TTL_S = .*$", flags=re.MULTILINE)


def _check_placement(placement):
    if placement not in PLACEMENTS:
        raise InvalidParameterValueException("placement", placement, f"one of {PLACEMENTS}")
    return placement


def _check_ttl(ttl_s):
    return validation.seconds("ttl_s", ttl_s)


def cache_handler_source(placement: str = "global", ttl_s: float = 60) -> str:
    """The handler module that caches the price list in ``placement`` ("global": a module-level
    variable, "tmp": a file in /tmp, "none": no cache) for ``ttl_s`` seconds: the file
    ``handlers/cache_<placement>.py`` with its ``TTL_S`` line set to ``ttl_s``."""
    _check_placement(placement)
    source = CACHE_SOURCES[placement]
    if placement == "none":
        return source
    _check_ttl(ttl_s)
    ttl_line = f"TTL_S = {ttl_s!r}".ljust(51) + "# how long a fetched price list is trusted"
    source, found = _TTL_LINE.subn(lambda _: ttl_line, source, count=1)
    if not found:   # handlers/cache_*.py changed without this function
        raise SimulationError(f"cache_handler_source: handlers/cache_{placement}.py has no TTL_S line")
    return source


def poisson_orders(rate_per_s: float, seconds: float) -> Workload:
    """Poisson traffic of ``order`` events: ``rate_per_s`` calls a second for ``seconds``."""
    return workload.poisson(rate_per_s, seconds, payload=order)


# The three traffic shapes of the hit-ratio experiment.
TRAFFIC_SHAPES = {
    "steady": "2 calls/s for 30 minutes (Poisson)",
    "bursty": "30 calls at once every 2 minutes, for 30 minutes",
    "sparse": "one call every 4 minutes on average, for 4 hours",
}


def traffic_shape(shape: str) -> Workload:
    """The workload of one of ``TRAFFIC_SHAPES``."""
    if shape == "steady":
        return poisson_orders(2, 1800)
    if shape == "bursty":
        return workload.bursts(size=30, every_s=120, count=15, payload=order)
    if shape == "sparse":
        return poisson_orders(1 / 240, 4 * 3600)
    raise InvalidParameterValueException("shape", shape, f"one of {tuple(TRAFFIC_SHAPES)}")


def run_cached(handler: Handler, traffic: Workload, *, seed: int = 1, rps_limit: float | None = None,
               version_every_s: float | None = PRICE_VERSION_EVERY_S, timeout_s: float = 3,
               warmup: Workload | None = None) -> dict[str, Any]:
    """Deploy ``handler`` (a function or module text) next to a fresh price service, send
    ``traffic`` (after ``warmup``, if given, as part of the same measurement), and measure the cache.

    Returns calls, errors, environments, cold starts, ``fetches`` (requests to the price
    service), ``refusals`` (429s), ``hit_ratio`` (share of invocations that made no request),
    ``max_staleness_s`` and ``mean_staleness_s`` over successful calls, and ``failed_by`` (error
    types of failed calls, counted).
    """
    lab = Lab(seed=seed)
    service = add_price_service(lab, rps_limit=rps_limit, version_every_s=version_every_s)
    fn = deploy(lab, handler, name="price-lookup", timeout_s=timeout_s)
    rows: list[InvocationRecord] = []
    for wl in ([warmup] if warmup is not None else []) + [traffic]:
        rows.extend(lab.invoke(fn, wl).records.invocations)
    fetched = fetches_by_request(service)
    ran = [r for r in rows if r.environment_id is not None]
    stale = [staleness_s(service, r.response["version"], r.end_s) for r in ran
             if r.outcome == SUCCESS and isinstance(r.response, dict) and "version" in r.response]
    failed = collections.Counter(r.error_type for r in rows if r.outcome != SUCCESS)
    lab.close()
    return {
        "calls": len(rows),
        "errors": sum(failed.values()),
        "environments": len({r.environment_id for r in ran}),
        "cold_starts": sum(1 for r in ran if r.cold),
        "fetches": service.calls,
        "refusals": service.refusals,
        "hit_ratio": (1 - sum(1 for r in ran if fetched[r.request_id]) / len(ran)) if ran else math.nan,
        "max_staleness_s": max(stale, default=0.0),
        "mean_staleness_s": float(np.mean(stale)) if stale else 0.0,
        "failed_by": dict(failed),
        "simulated_s": lab.now,
    }


def cache_experiment(placement: str = "global", ttl_s: float = 60, shape: str = "steady",
                     seed: int = 1) -> dict[str, Any]:
    """One cell of the hit-ratio table: ``placement`` and ``ttl_s`` under a traffic ``shape``."""
    return run_cached(cache_handler_source(placement, ttl_s), traffic_shape(shape), seed=seed)


def cache_sweep(ttls: Iterable[float] = (10, 60, 300, 900, 1800), shapes: Iterable[str] = tuple(TRAFFIC_SHAPES),
                placement: str = "global", seed: int = 1) -> pd.DataFrame:
    """``cache_experiment`` for every TTL and shape, as a DataFrame (one row each)."""
    rows = []
    for shape in shapes:
        for ttl in ttls:
            r = cache_experiment(placement, ttl, shape, seed)
            rows.append({"shape": shape, "ttl_s": ttl, "calls": r["calls"], "environments": r["environments"],
                         "fetches": r["fetches"], "hit_ratio": r["hit_ratio"],
                         "max_staleness_s": r["max_staleness_s"]})
    return pd.DataFrame(rows)


def reset_experiment(placement: str, ttl_s: float = 300, seed: int = 1) -> dict[str, Any]:
    """Steady traffic in which every 25th call runs past the 3 s timeout (Lambda resets the
    environment: globals go, /tmp stays). Returns ``run_cached``'s figures."""
    def slow_every_25th(i):
        ev = order(i)
        if i % 25 == 24:
            ev["work_s"] = 5.0
        return ev
    return run_cached(cache_handler_source(placement, ttl_s), workload.poisson(2, 300, payload=slow_every_25th),
                      seed=seed, timeout_s=3)


# ---------------------------------------------------------------------------------------------
# Section 4: a client (connection) per invocation, or one per environment
# ---------------------------------------------------------------------------------------------

def client_experiment(handler: Handler, rate_per_s: float = 20, seconds: float = 60, seed: int = 1) -> dict[str, Any]:
    """Send Poisson traffic to ``handler`` (a function or module text) and count connections:
    calls, environments, connections opened, requests to the price service, Init Duration
    and Duration percentiles (ms)."""
    lab = Lab(seed=seed)
    service = add_price_service(lab)
    fn = deploy(lab, handler, name="price-client")
    run = lab.invoke(fn, poisson_orders(rate_per_s, seconds))
    inv = run.invocations
    ok = inv[inv["outcome"] == SUCCESS]
    opened = int(sum(1 for r in ok["response"] if r["requests_on_connection"] == 1))
    init = inv["init_duration_ms"].dropna()
    out = {
        "calls": int(len(inv)),
        "errors": int((inv["outcome"] != SUCCESS).sum()),
        "environments": int(inv["environment_id"].nunique()),
        "connections_opened": opened,
        "requests_to_service": service.calls,
        "duration_p50_ms": round(float(ok["duration_ms"].quantile(0.5)), 1),
        "duration_p99_ms": round(float(ok["duration_ms"].quantile(0.99)), 1),
        "init_duration_ms": round(float(init.mean()), 1) if len(init) else math.nan,
    }
    lab.close()
    return out


# ---------------------------------------------------------------------------------------------
# Section 5: keep-alive, cold-start rate against arrival rate and idle reclaim time
# ---------------------------------------------------------------------------------------------

def cold_start_rate(rate_per_s: float, idle_s: float, seconds: float, seed: int = 1) -> dict[str, Any]:
    """Poisson calls at ``rate_per_s`` for ``seconds`` to one function whose idle environments
    are reclaimed after ``idle_s`` seconds (``Lab(idle_reclaim_s=idle_s)``).

    The very first call of a fresh function is always a cold start, whatever the traffic, so it
    is left out: ``rate`` is the share of the *other* calls that found no warm environment.
    When calls rarely overlap (one environment at a time), a call is cold exactly when the
    idle gap before it exceeds ``idle_s``, and gaps of Poisson traffic are exponential, so
    ``rate`` should be close to ``expected = exp(-rate_per_s * idle_s)``, within a few
    ``std_error`` (``sqrt(p (1 - p) / calls)``).

    Returns a dict: ``calls`` (after the first), ``cold_starts``, ``rate``, ``expected``,
    ``std_error``, ``environments``, and ``gaps_s``/``cold`` (per call after the first: the
    time since the previous call ended, and whether it was a cold start).
    """
    validation.number("rate_per_s", rate_per_s, 0, lo_open=True)
    for name, v in (("idle_s", idle_s), ("seconds", seconds)):
        validation.seconds(name, v, lo_open=True)
    lab = Lab(seed=seed, idle_reclaim_s=idle_s)
    fn = lab.function(source=QUICK_SOURCE, name="keep-alive")
    run = lab.invoke(fn, workload.poisson(rate_per_s, seconds))
    rows = sorted(run.records.invocations, key=lambda r: r.start_s)
    gaps, cold = [], []
    for prev, row in zip(rows, rows[1:], strict=False):
        gaps.append(row.arrival_s - prev.end_s)
        cold.append(bool(row.cold))
    n = len(cold)
    p = math.exp(-rate_per_s * idle_s)
    out = {
        "rate_per_s": rate_per_s, "idle_s": idle_s,
        "calls": n,
        "cold_starts": sum(cold),
        "rate": sum(cold) / n if n else math.nan,
        "expected": p,
        "std_error": math.sqrt(p * (1 - p) / n) if n else math.nan,
        "environments": len({r.environment_id for r in rows}),
        "gaps_s": gaps,
        "cold": cold,
    }
    lab.close()
    return out


def keep_alive(calls_per_min: float = 0.2, idle_min: float = 10.0, seed: int = 1) -> dict[str, Any]:
    """The widget's function: about 1,000 Poisson calls at ``calls_per_min`` to a function whose
    environments are reclaimed after ``idle_min`` minutes idle; ``cold_start_rate``'s result."""
    year_min = validation.MAX_SIMULATED_S / 60    # about 1,000 calls, and the idle time, fit in labkit's year
    validation.number("calls_per_min", calls_per_min, 1000 / year_min, lo_open=True,
                      allowed=f"a finite number > {1000 / year_min:.4f} (1,000 calls within a year: labkit's limit)")
    validation.number("idle_min", idle_min, 0, year_min, lo_open=True)
    rate = calls_per_min / 60
    return cold_start_rate(rate, idle_min * 60, 1000 / rate, seed)


def keep_alive_curves(calls_per_min: Iterable[float] = (0.05, 0.1, 0.2, 0.5, 1, 2, 5),
                      idle_mins: Iterable[float] = (5, 10, 20), seed: int = 1) -> pd.DataFrame:
    """``keep_alive`` for each arrival rate and idle reclaim time, as a DataFrame."""
    rows = []
    for idle in idle_mins:
        for cpm in calls_per_min:
            r = keep_alive(cpm, idle, seed)
            rows.append({"calls_per_min": cpm, "idle_min": idle, "calls": r["calls"], "rate": r["rate"],
                         "expected": r["expected"], "std_error": r["std_error"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Section 6: the cold-start herd after a deploy
# ---------------------------------------------------------------------------------------------

HERD = {"rate_per_s": 100, "seconds": 180, "rps_limit": 8, "switch_at_s": 5.0, "provisioned": 30}


def herd_experiment(handler: Handler, provisioned: int = 0, seed: int = 1) -> dict[str, Any]:
    """Deploy ``handler`` (a function or module text) as a new function at t = 0, with
    ``provisioned`` environments of provisioned concurrency; at ``HERD["switch_at_s"]`` all
    traffic (Poisson, ``HERD["rate_per_s"]``) moves to it for ``HERD["seconds"]``. The price
    service allows ``HERD["rps_limit"]`` requests per second.

    Returns a dict: ``per_second`` (a DataFrame: second since the deploy, requests answered,
    requests refused with 429), the service's ``requests`` and ``refusals`` before and during
    traffic, ``peak_rps`` during traffic, and the callers' view: ``calls``, ``errors``,
    ``cold_starts``, ``environments``, ``duration_p99_ms`` and ``slowest_ms`` (Init Duration +
    Duration of the slowest call); ``provisioned_ready`` (provisioned environments whose Init
    succeeded) and ``max_concurrency`` (the most calls in flight at once).
    """
    validation.integer("provisioned", provisioned, 0)
    lab = Lab(seed=seed)
    service = add_price_service(lab, rps_limit=HERD["rps_limit"])
    opts = dict(name="price-lookup", timeout_s=10, provisioned_concurrency=provisioned)
    fn = deploy(lab, handler, **opts)
    switch = HERD["switch_at_s"]
    if lab.now < switch:
        lab.advance(switch - lab.now)
    t_traffic = lab.now
    provisioning = list(lab.account.lifecycle)   # the allocation, before any run
    run = lab.invoke(fn, poisson_orders(HERD["rate_per_s"], HERD["seconds"]))
    s = run.summary()
    inv = run.invocations
    ran = inv[inv["outcome"] != THROTTLED]
    waited = ran["duration_ms"] + ran["init_duration_ms"].fillna(0)
    end = int(math.ceil(t_traffic + HERD["seconds"]))
    ok = np.zeros(end, int)
    refused = np.zeros(end, int)
    for rec in service.records:
        k = int(rec.time_s)
        if k < end:
            (refused if rec.outcome == "429" else ok)[k] += 1
    during = [r for r in service.records if r.time_s >= t_traffic]
    per_s = pd.DataFrame({"second": np.arange(end), "answered": ok, "refused": refused})
    in_traffic = per_s[per_s["second"] >= int(t_traffic)]
    out = {
        "provisioned": provisioned,
        "traffic_from_s": t_traffic,
        "per_second": per_s,
        "requests_before_traffic": len(service.records) - len(during),
        "refusals_before_traffic": sum(1 for r in service.records if r.time_s < t_traffic and r.outcome == "429"),
        "requests_during_traffic": len(during),
        "refusals_during_traffic": sum(1 for r in during if r.outcome == "429"),
        "peak_rps": int((in_traffic["answered"] + in_traffic["refused"]).max()),
        "calls": s["calls"],
        "errors": s["errors"],
        "cold_starts": s["cold_starts"],
        "environments": s["environments"],
        # Provisioned environments whose Init succeeded (an Init that fails during allocation,
        # e.g. after four 429s, leaves that environment out of service), and the peak in flight.
        "provisioned_ready": sum(1 for e in provisioning
                                 if e.function == fn.name and e.event == INIT_DONE and e.request_id is None),
        "max_concurrency": s["max_concurrency"],
        "duration_p99_ms": round(float(waited.quantile(0.99)), 0),
        "slowest_ms": round(float(waited.max()), 0),
    }
    lab.close()
    return out


def herd_table(results: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One printable row per experiment of ``herd_experiment`` (``results``: label -> result)."""
    rows = []
    for label, r in results.items():
        rows.append({"variant": label,
                     "429s before traffic": r["refusals_before_traffic"],
                     "429s during traffic": r["refusals_during_traffic"],
                     "peak requests/s": r["peak_rps"],
                     "failed calls": r["errors"],
                     "cold starts": r["cold_starts"],
                     "p99 wait (ms)": int(r["duration_p99_ms"])})
    return pd.DataFrame(rows)
