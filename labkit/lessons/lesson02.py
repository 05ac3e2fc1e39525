"""Lesson 02 (container reuse and caching): experiments, widget functions and exercises.

Every experiment here is a **pure function**: it builds its own seeded ``Lab``,
runs one simulation and returns plain data (dicts, lists, DataFrames). The
notebook draws them; the tests call them directly. Handler modules are kept
as text (``*_SOURCE``) so the notebook can show each one as a cell of its own
and the tests can deploy exactly the same code.

The lesson's dependency is a small **price service** (``lab.reference_service``)
at ``https://prices.internal``: ``GET /prices`` answers
``{"key": "prices", "value": {sku: price}, "version": v, "as_of": ...}``. Prices
go up a little with every new version of the data, so a cached copy can be
*stale*: ``staleness_s`` measures by how much.
"""

import collections
import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import workload
from ..errors import InvalidParameterValueException
from ..exercises import (Exercise, Scenario, checker, correct, smallest_failure, wrong)
from ..lab import Lab
from ..records import INIT_DONE, SUCCESS
from ..plots import OKABE_ITO, STYLE, figure_style
from ..sandbox import HandlerCode

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


def price_data(version):
    """The price service's data at ``version`` (1, 2, ...): every price rises 5 cents a version."""
    return {"prices": {sku: round(p + 0.05 * (version - 1), 2) for sku, p in _BASE_PRICES.items()}}


def add_price_service(lab, *, rps_limit=None, version_every_s=PRICE_VERSION_EVERY_S, latency_s=PRICE_LATENCY_S):
    """Create the lesson's price service in ``lab`` (reachable at ``PRICES_URL``) and return it."""
    return lab.reference_service(PRICE_SERVICE, price_data, rps_limit=rps_limit, latency_s=latency_s,
                                 version_every_s=version_every_s)


def order(i):
    """The event of call ``i``: one coffee-shop item, in turn."""
    return {"sku": SKUS[i % len(SKUS)]}


def staleness_s(service, version, t):
    """How long the data ``version`` had been out of date at time ``t``: 0 while it is the
    service's current version, else the time since the next version replaced it."""
    current, as_of, _ = service.version_at(t)
    if version >= current:
        return 0.0
    return t - (as_of - (current - version - 1) * service.version_every_s)


def deploy(lab, handler, **config):
    """``lab.function`` for a handler given as a function or as its module's text."""
    if isinstance(handler, str):
        return lab.function(source=textwrap.dedent(handler), **config)
    return lab.function(handler, **config)


def fetches_by_request(service):
    """Requests each invocation made to ``service``: request_id -> count (notebook calls left out)."""
    return collections.Counter(r.request_id for r in service.records if r.request_id is not None)


# ---------------------------------------------------------------------------------------------
# Section 1: cold and warm, Init once per environment
# ---------------------------------------------------------------------------------------------

PRICE_LOOKUP_SOURCE = '''\
import json
import random
import time
import urllib.request

PRICES_URL = "https://prices.internal/prices"

ENVIRONMENT_ID = f"{random.getrandbits(32):08x}"   # chosen once per environment, during Init
calls_here = 0                                       # calls this environment has served


def load_prices():
    """GET the price list from the price service (one HTTP request)."""
    with urllib.request.urlopen(PRICES_URL) as response:
        return json.loads(response.read())


if __name__ == "lambda_function":   # Init, in Lambda; skipped in the notebook's own kernel (see above)
    PRICES = load_prices()


def handler(event, context):
    global calls_here
    calls_here += 1
    time.sleep(0.1)                  # the rest of the work: 100 ms
    sku = event["sku"]
    return {"environment": ENVIRONMENT_ID, "calls_here": calls_here,
            "price": PRICES["value"][sku], "version": PRICES["version"]}
'''

# ---------------------------------------------------------------------------------------------
# Section 3: caching reference data (globals with a TTL, /tmp, or nothing)
# ---------------------------------------------------------------------------------------------

PLACEMENTS = ("global", "tmp", "none")

_CACHE_HEAD = '''\
import json
{extra_import}import time
import urllib.request

PRICES_URL = "https://prices.internal/prices"
'''

_CACHE_GLOBAL = '''\
{ttl_line}

cache = {{"prices": None, "fetched_at": None}}       # module level: lives as long as the environment


def get_prices():
    """The cached price list, fetched again once it is TTL_S seconds old."""
    now = time.time()
    if cache["prices"] is None or now - cache["fetched_at"] >= TTL_S:
        with urllib.request.urlopen(PRICES_URL) as response:
            cache["prices"] = json.loads(response.read())
        cache["fetched_at"] = now
    return cache["prices"]
'''

_CACHE_TMP = '''\
{ttl_line}
CACHE_FILE = "/tmp/prices.json"                    # this environment's own /tmp


def get_prices():
    """The price list saved in /tmp, fetched again once it is TTL_S seconds old."""
    now = time.time()
    if os.path.exists(CACHE_FILE):
        with open(CACHE_FILE) as f:
            saved = json.load(f)
        if now - saved["fetched_at"] < TTL_S:
            return saved["prices"]
    with urllib.request.urlopen(PRICES_URL) as response:
        prices = json.loads(response.read())
    with open(CACHE_FILE, "w") as f:
        json.dump({{"prices": prices, "fetched_at": now}}, f)
    return prices
'''

_CACHE_NONE = '''\

def get_prices():
    """No cache: one request to the price service for every call."""
    with urllib.request.urlopen(PRICES_URL) as response:
        return json.loads(response.read())
'''

_CACHE_HANDLER = '''\


def handler(event, context):
    prices = get_prices()
    time.sleep(event.get("work_s", 0.1))            # the rest of the work: 100 ms unless the event says
    sku = event["sku"]
    return {"sku": sku, "price": prices["value"][sku], "version": prices["version"]}
'''


def _check_placement(placement):
    if placement not in PLACEMENTS:
        raise InvalidParameterValueException("placement", placement, f"one of {PLACEMENTS}")
    return placement


def _check_ttl(ttl_s):
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not math.isfinite(ttl_s) or ttl_s < 0:
        raise InvalidParameterValueException("ttl_s", ttl_s, "a finite number of seconds >= 0")
    return ttl_s


def cache_handler_source(placement="global", ttl_s=60):
    """The handler module that caches the price list in ``placement`` ("global": a module-level
    variable, "tmp": a file in /tmp, "none": no cache) for ``ttl_s`` seconds."""
    _check_placement(placement)
    if placement != "none":
        _check_ttl(ttl_s)
    body = {"global": _CACHE_GLOBAL, "tmp": _CACHE_TMP, "none": _CACHE_NONE}[placement]
    head = _CACHE_HEAD.format(extra_import="import os\n" if placement == "tmp" else "")
    ttl_line = f"TTL_S = {ttl_s!r}".ljust(51) + "# how long a fetched price list is trusted"
    return head + "\n" + body.format(ttl_line=ttl_line) + _CACHE_HANDLER


def _traffic(rate_per_s, seconds):
    return workload.poisson(rate_per_s, seconds, payload=order)


# The three traffic shapes of the hit-ratio experiment.
TRAFFIC_SHAPES = {
    "steady": "2 calls/s for 30 minutes (Poisson)",
    "bursty": "30 calls at once every 2 minutes, for 30 minutes",
    "sparse": "one call every 4 minutes on average, for 4 hours",
}


def traffic_shape(shape):
    """The workload of one of ``TRAFFIC_SHAPES``."""
    if shape == "steady":
        return _traffic(2, 1800)
    if shape == "bursty":
        return workload.bursts(size=30, every_s=120, count=15, payload=order)
    if shape == "sparse":
        return _traffic(1 / 240, 4 * 3600)
    raise InvalidParameterValueException("shape", shape, f"one of {tuple(TRAFFIC_SHAPES)}")


def run_cached(handler, traffic, *, seed=1, rps_limit=None, version_every_s=PRICE_VERSION_EVERY_S,
               timeout_s=3, warmup=None):
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
    rows = []
    for wl in ([warmup] if warmup is not None else []) + [traffic]:
        rows.extend(lab.invoke(fn, wl).records.invocations)
    fetched = fetches_by_request(service)
    ran = [r for r in rows if r.environment_id is not None]
    stale = [staleness_s(service, r.response["version"], r.end_s) for r in ran
             if r.outcome == SUCCESS and isinstance(r.response, dict) and "version" in r.response]
    failed = collections.Counter(r.error_type for r in rows if r.outcome != SUCCESS)
    lab.account.close()
    return {
        "calls": len(rows),
        "errors": sum(failed.values()),
        "environments": len({r[6] for r in ran}),
        "cold_starts": sum(1 for r in ran if r[8]),
        "fetches": service.calls,
        "refusals": service.refusals,
        "hit_ratio": (1 - sum(1 for r in ran if fetched[r[0]]) / len(ran)) if ran else math.nan,
        "max_staleness_s": max(stale, default=0.0),
        "mean_staleness_s": float(np.mean(stale)) if stale else 0.0,
        "failed_by": dict(failed),
        "simulated_s": lab.now,
    }


def cache_experiment(placement="global", ttl_s=60, shape="steady", seed=1):
    """One cell of the hit-ratio table: ``placement`` and ``ttl_s`` under a traffic ``shape``."""
    return run_cached(cache_handler_source(placement, ttl_s), traffic_shape(shape), seed=seed)


def cache_sweep(ttls=(10, 60, 300, 900, 1800), shapes=tuple(TRAFFIC_SHAPES), placement="global", seed=1):
    """``cache_experiment`` for every TTL and shape, as a DataFrame (one row each)."""
    rows = []
    for shape in shapes:
        for ttl in ttls:
            r = cache_experiment(placement, ttl, shape, seed)
            rows.append({"shape": shape, "ttl_s": ttl, "calls": r["calls"], "environments": r["environments"],
                         "fetches": r["fetches"], "hit_ratio": r["hit_ratio"],
                         "max_staleness_s": r["max_staleness_s"]})
    return pd.DataFrame(rows)


_SHAPE_COLORS = {"steady": OKABE_ITO["blue"], "bursty": OKABE_ITO["vermillion"], "sparse": OKABE_ITO["bluish_green"]}
_SHAPE_MARKERS = {"steady": "o", "bursty": "s", "sparse": "^"}


def plot_cache_sweep(df, axes=None):
    """Two panels from ``cache_sweep``: hit ratio against TTL, and the worst staleness against TTL.
    Draws into ``axes`` (two Axes) or a new figure; returns the Axes."""
    with figure_style(axes is None):
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
        _draw_cache_sweep(df, axes)
    return axes


def _draw_cache_sweep(df, axes):
    left, right = axes
    for shape, g in df.groupby("shape", sort=False):
        style = dict(color=_SHAPE_COLORS.get(shape), marker=_SHAPE_MARKERS.get(shape), lw=1.6, label=shape)
        left.plot(g["ttl_s"], 100 * g["hit_ratio"], **style)
        right.plot(g["ttl_s"], g["max_staleness_s"] / 60, **style)
    ttls = sorted(df["ttl_s"].unique())
    right.plot(ttls, [t / 60 for t in ttls], color=STYLE["colors"]["limit"], ls=":", lw=1.2,
               label="staleness = TTL")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(ttls)
        ax.set_xticklabels([_fmt_seconds(t) for t in ttls])
        ax.minorticks_off()
        ax.set_xlabel("cache TTL")
    left.set_ylim(-3, 103)
    left.set_ylabel("hit ratio (% of calls served from the cache)")
    left.set_title("Hit ratio: the traffic shape matters more than the TTL")
    right.set_ylabel("worst staleness served (minutes)")
    right.set_title("Staleness: a cached copy can be as old as its TTL")
    right.legend(loc="upper left", title="traffic")
    return axes


def _fmt_seconds(s):
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s // 60:g} min"
    return f"{s:g} s"


def reset_experiment(placement, ttl_s=300, seed=1):
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

_CLIENT_CLASS = '''\
import json
import time
import urllib.request

PRICES_URL = "https://prices.internal/prices"
HANDSHAKE_S = 0.1          # modelled cost of opening a connection (TCP and TLS round trips)


class PriceClient:
    """A client for the price service; creating one opens a new connection."""

    def __init__(self):
        time.sleep(HANDSHAKE_S)      # connect before the first request can go out
        self.requests = 0

    def price(self, sku):
        self.requests += 1
        with urllib.request.urlopen(PRICES_URL) as response:
            return json.loads(response.read())["value"][sku]
'''

CLIENT_PER_CALL_SOURCE = _CLIENT_CLASS + '''

def handler(event, context):
    client = PriceClient()           # a new client, so a new connection, for every event
    price = client.price(event["sku"])
    return {"sku": event["sku"], "price": price, "requests_on_connection": client.requests}
'''

CLIENT_IN_INIT_SOURCE = _CLIENT_CLASS + '''

if __name__ == "lambda_function":    # Init: one client, one connection, per environment
    client = PriceClient()


def handler(event, context):
    price = client.price(event["sku"])
    return {"sku": event["sku"], "price": price, "requests_on_connection": client.requests}
'''


def client_experiment(handler, rate_per_s=20, seconds=60, seed=1):
    """Send Poisson traffic to ``handler`` (a function or module text) and count connections:
    calls, environments, connections opened, requests to the price service, Init Duration
    and Duration percentiles (ms)."""
    lab = Lab(seed=seed)
    service = add_price_service(lab)
    fn = deploy(lab, handler, name="price-client")
    run = lab.invoke(fn, _traffic(rate_per_s, seconds))
    inv = run.invocations
    ok = inv[inv["outcome"] == "success"]
    opened = int(sum(1 for r in ok["response"] if r["requests_on_connection"] == 1))
    init = inv["init_duration_ms"].dropna()
    out = {
        "calls": int(len(inv)),
        "errors": int((inv["outcome"] != "success").sum()),
        "environments": int(inv["environment_id"].nunique()),
        "connections_opened": opened,
        "requests_to_service": service.calls,
        "duration_p50_ms": round(float(ok["duration_ms"].quantile(0.5)), 1),
        "duration_p99_ms": round(float(ok["duration_ms"].quantile(0.99)), 1),
        "init_duration_ms": round(float(init.mean()), 1) if len(init) else math.nan,
    }
    lab.account.close()
    return out


# ---------------------------------------------------------------------------------------------
# Section 5: keep-alive, cold-start rate against arrival rate and idle reclaim time
# ---------------------------------------------------------------------------------------------

_QUICK_SOURCE = '''\
def handler(event, context):
    return "ok"
'''


def cold_start_rate(rate_per_s, idle_s, seconds, seed=1):
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
    for name, v in (("rate_per_s", rate_per_s), ("idle_s", idle_s), ("seconds", seconds)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise InvalidParameterValueException(name, v, "a finite number > 0")
    lab = Lab(seed=seed, idle_reclaim_s=idle_s)
    fn = lab.function(source=_QUICK_SOURCE, name="keep-alive")
    run = lab.invoke(fn, workload.poisson(rate_per_s, seconds))
    rows = sorted(run.records.invocations, key=lambda r: r.start_s)
    gaps, cold = [], []
    for prev, row in zip(rows, rows[1:]):
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
    lab.account.close()
    return out


def keep_alive(calls_per_min=0.2, idle_min=10.0, seed=1):
    """The widget's function: about 1,000 Poisson calls at ``calls_per_min`` to a function whose
    environments are reclaimed after ``idle_min`` minutes idle; ``cold_start_rate``'s result."""
    for name, v in (("calls_per_min", calls_per_min), ("idle_min", idle_min)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise InvalidParameterValueException(name, v, "a number > 0")
    rate = calls_per_min / 60
    return cold_start_rate(rate, idle_min * 60, 1000 / rate, seed)


def plot_keep_alive(data, ax):
    """The idle gaps before each call (minutes), warm and cold apart, with the reclaim time."""
    gaps = np.asarray(data["gaps_s"]) / 60
    cold = np.asarray(data["cold"], bool)
    idle_min = data["idle_s"] / 60
    # Bins a tenth of the reclaim time wide, so the reclaim time falls on a bin edge.
    width = idle_min / 10
    top = max(2.2 * idle_min, float(np.quantile(gaps, 0.98)) if len(gaps) else 1.0)
    edges = np.arange(0, top + width, width)
    top = float(edges[-1])
    c = STYLE["colors"]
    ax.hist(np.clip(gaps[~cold], 0, top), bins=edges, color=c["warm"], alpha=0.8,
            label=f"warm: {int((~cold).sum())}")
    ax.hist(np.clip(gaps[cold], 0, top), bins=edges, color=c["cold"], alpha=0.8,
            label=f"cold start: {int(cold.sum())}")
    ax.axvline(idle_min, color=c["limit"], ls="--", lw=1.4, label=f"idle reclaim: {idle_min:g} min")
    ax.set_xlim(0, top)
    ax.set_xlabel("idle time before the call (minutes; the last bar collects longer gaps)")
    ax.set_ylabel("calls")
    ax.set_title(f"cold starts: {100 * data['rate']:.1f}% simulated, "
                 f"{100 * data['expected']:.1f}% = e^(-λT) expected")
    ax.legend(loc="upper right")
    return ax


def keep_alive_curves(calls_per_min=(0.05, 0.1, 0.2, 0.5, 1, 2, 5), idle_mins=(5, 10, 20), seed=1):
    """``keep_alive`` for each arrival rate and idle reclaim time, as a DataFrame."""
    rows = []
    for idle in idle_mins:
        for cpm in calls_per_min:
            r = keep_alive(cpm, idle, seed)
            rows.append({"calls_per_min": cpm, "idle_min": idle, "calls": r["calls"], "rate": r["rate"],
                         "expected": r["expected"], "std_error": r["std_error"]})
    return pd.DataFrame(rows)


def plot_keep_alive_curves(df, ax=None):
    """Cold-start rate against arrival rate, one colour per idle reclaim time: simulated
    points (with two standard errors) on the curve e^(-λT). Returns the Axes."""
    with figure_style(ax is None):
        if ax is None:
            _, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
        _draw_keep_alive_curves(df, ax)
    return ax


def _draw_keep_alive_curves(df, ax):
    colors = [OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"]]
    lo, hi = df["calls_per_min"].min(), df["calls_per_min"].max()
    x = np.geomspace(lo / 1.3, hi * 1.3, 200)
    for k, (idle, g) in enumerate(df.groupby("idle_min")):
        color = colors[k % len(colors)]
        ax.plot(x, 100 * np.exp(-x / 60 * idle * 60), color=color, lw=1.4, label=f"e^(-λT), T = {idle:g} min")
        ax.errorbar(g["calls_per_min"], 100 * g["rate"], yerr=200 * g["std_error"], fmt="o", ms=5,
                    color=color, capsize=2, label=f"simulated, T = {idle:g} min")
    ax.set_xscale("log")
    ticks = sorted(df["calls_per_min"].unique())
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("arrival rate λ (calls per minute, log scale)")
    ax.set_ylabel("calls that were cold starts (%)")
    ax.set_title("Keep-alive: the cold-start rate falls as calls come often enough to beat the idle reclaim")
    ax.set_ylim(-3, 103)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


# ---------------------------------------------------------------------------------------------
# Section 6: the cold-start herd after a deploy
# ---------------------------------------------------------------------------------------------

_HERD_HEAD = '''\
import json
import random
import time
import urllib.error
import urllib.request

PRICES_URL = "https://prices.internal/prices"
TTL_S = 60


def fetch_prices(tries=4):
    """GET the price list; after a 429, pause for a random time and try again."""
    for attempt in range(1, tries + 1):
        try:
            with urllib.request.urlopen(PRICES_URL) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            if e.code != 429 or attempt == tries:
                raise
            time.sleep(random.uniform(0, 0.25 * 2 ** attempt))   # "full jitter" backoff
'''

HERD_FIXED_TTL_SOURCE = _HERD_HEAD + '''

if __name__ == "lambda_function":                    # Init (see section 1)
    prices, fetched_at = fetch_prices(), time.time()


def handler(event, context):
    global prices, fetched_at
    if time.time() - fetched_at >= TTL_S:            # expired: refresh on this call
        prices, fetched_at = fetch_prices(), time.time()
    time.sleep(0.2)                                  # the rest of the work
    sku = event["sku"]
    return {"sku": sku, "price": prices["value"][sku], "version": prices["version"]}
'''

HERD_JITTERED_SOURCE = _HERD_HEAD + '''

def next_refresh():
    """A random moment in the second half of the TTL: environments that loaded
    together spread their refreshes out instead of all refreshing together."""
    return time.time() + TTL_S * random.uniform(0.5, 1.0)


if __name__ == "lambda_function":                    # Init (see section 1)
    prices, refresh_at = fetch_prices(), next_refresh()


def handler(event, context):
    global prices, refresh_at
    if time.time() >= refresh_at:                    # due: refresh on this call (lazily)
        try:
            prices, refresh_at = fetch_prices(tries=1), next_refresh()
        except urllib.error.HTTPError:               # refused: keep the copy we have, retry soon
            refresh_at = time.time() + random.uniform(1, 5)
    time.sleep(0.2)                                  # the rest of the work
    sku = event["sku"]
    return {"sku": sku, "price": prices["value"][sku], "version": prices["version"]}
'''

# The deploy: a new function gets all the traffic ``SWITCH_AT_S`` after it is created.
HERD = {"rate_per_s": 100, "seconds": 180, "rps_limit": 8, "switch_at_s": 5.0, "provisioned": 30}


def herd_experiment(handler, provisioned=0, seed=1):
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
    if isinstance(provisioned, bool) or not isinstance(provisioned, int) or provisioned < 0:
        raise InvalidParameterValueException("provisioned", provisioned, "an integer >= 0")
    lab = Lab(seed=seed)
    service = add_price_service(lab, rps_limit=HERD["rps_limit"])
    opts = dict(name="price-lookup", timeout_s=10, provisioned_concurrency=provisioned)
    fn = deploy(lab, handler, **opts)
    switch = HERD["switch_at_s"]
    if lab.now < switch:
        lab.advance(switch - lab.now)
    t_traffic = lab.now
    provisioning = list(lab.account.lifecycle)   # the allocation, before any run
    run = lab.invoke(fn, _traffic(HERD["rate_per_s"], HERD["seconds"]))
    s = run.summary()
    inv = run.invocations
    ran = inv[inv["outcome"] != "throttled"]
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
    lab.account.close()
    return out


def herd_table(results):
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


def plot_herd(results, axes=None):
    """One panel per experiment (``results``: title -> ``herd_experiment`` result): requests per
    second at the price service (answered and refused), the service's limit, and the time before
    the traffic moved to the new function. The y axis stops at a few times the limit, so the
    refreshes stay readable; taller bars are cut and their peak written on the panel."""
    with figure_style(axes is None):
        if axes is None:
            _, axes = plt.subplots(len(results), 1, figsize=(10, 2.1 * len(results)), sharex=True,
                                   layout="constrained", squeeze=False)
            axes = axes[:, 0]
        _draw_herd(results, axes)
    return axes


def _draw_herd(results, axes):
    c = STYLE["colors"]
    limit = HERD["rps_limit"]
    top = 4 * limit
    for ax, (label, r) in zip(axes, results.items()):
        ps = r["per_second"]
        total = ps["answered"] + ps["refused"]
        ax.bar(ps["second"], ps["answered"], width=1.0, align="edge", color=c["warm"], lw=0, label="answered (200)")
        ax.bar(ps["second"], ps["refused"], width=1.0, align="edge", bottom=ps["answered"], color=c["throttles"],
               lw=0, label="refused (429)")
        ax.axhline(limit, color=c["limit"], ls="--", lw=1.2, label=f"service limit: {limit:g} requests/s")
        ax.axvspan(0, r["traffic_from_s"], color=c["idle"], alpha=0.2, lw=0, label="before traffic moves over")
        peak = int(total.max())
        if peak > top:
            at = int(ps["second"][total.idxmax()])
            ax.annotate(f"cut: up to {peak} requests/s", xy=(at + 0.5, top), xytext=(at + 4, 0.8 * top),
                        fontsize=8, color="#222222", arrowprops=dict(arrowstyle="->", color="#444444", lw=0.8))
        ax.set_xlim(0, len(ps))
        ax.set_ylim(0, top)
        ax.set_ylabel("requests/s")
        ax.set_title(label, fontsize=10, loc="left")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[-1].set_xlabel("seconds since the new version was deployed")


# ---------------------------------------------------------------------------------------------
# Exercise 1: cache placement and TTL
# ---------------------------------------------------------------------------------------------

CACHE_TASK = {
    "peak_rate_per_s": 10,      # calls/s, reached after a one-minute ramp
    "ramp_s": 60,
    "steady_s": 240,
    "rps_limit": 5,             # the price service's limit, requests/s
    "version_every_s": 60,      # prices change every minute
    "max_staleness_s": 90,      # no price may be more than this out of date
}
CACHE_CHECK_SEEDS = (1, 2, 3)

CACHE_PLACEHOLDER = {"placement": ..., "ttl_s": ...}

CACHE_HINTS = (
    "Two limits pull in opposite directions. Every cache miss is a request to the price service, and "
    "a copy kept longer can be served after the prices have changed. Which of your three choices "
    "makes no requests it can avoid, and which keeps data too long?",
    "Each execution environment keeps its own copy (globals and /tmp both belong to one "
    "environment), so the service sees about (environments in use) / TTL refreshes per second. "
    "A copy is served until its TTL runs out, so a price can be out of date for up to about the TTL.",
    "Look at the steady run in section 3 for how many environments a few calls per second keep "
    "busy, then pick a TTL that keeps (environments / TTL) well below the service's limit and "
    "stays below the staleness bound.",
)

CACHE_SOLUTION = '''\
my_cache = {"placement": "global", "ttl_s": 30}
# Any TTL from about 10 s up to (just under) the staleness bound works here, and "tmp" as well as
# "global": this traffic keeps 7 or 8 environments busy, so a 30 s TTL means about one refresh
# every 4 seconds (the limit is 5 per second), and no copy is served more than 30 s after it was
# fetched (bound: 90 s). Much shorter TTLs refresh so often that the environments' refreshes
# sometimes bunch up above the limit.
'''


def cache_task_traffic():
    """Exercise 1's traffic: a one-minute ramp up to the peak rate, then the peak rate."""
    t = CACHE_TASK
    return workload.ramp(0, t["peak_rate_per_s"], t["ramp_s"], payload=order), \
        _traffic(t["peak_rate_per_s"], t["steady_s"])


def _describe_cache_answer(answer):
    if not isinstance(answer, dict):
        return None, f"Give your answer as a dict with two keys, placement and ttl_s, not {answer!r}."
    missing = [k for k in ("placement", "ttl_s") if k not in answer]
    if missing:
        return None, f"Your dict needs the key{'s' if len(missing) > 1 else ''} {', '.join(missing)}."
    placement, ttl = answer["placement"], answer["ttl_s"]
    if placement is ... or (ttl is ... and placement != "none"):
        return None, "Replace both ... in my_cache with your choices."
    if placement not in PLACEMENTS:
        return None, f"placement must be one of {', '.join(repr(p) for p in PLACEMENTS)}; got {placement!r}."
    if placement != "none" and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))
                                or not math.isfinite(ttl) or ttl <= 0):
        return None, f"ttl_s must be a number of seconds greater than 0; got {ttl!r}."
    return (placement, ttl), None


def run_cache_task(placement, ttl_s, seed=1):
    """Exercise 1's scenario for one seed; ``run_cached``'s figures."""
    ramp, steady = cache_task_traffic()
    return run_cached(cache_handler_source(placement, ttl_s), steady, warmup=ramp, seed=seed,
                      rps_limit=CACHE_TASK["rps_limit"], version_every_s=CACHE_TASK["version_every_s"])


def _calls(n):
    return f"{n:,} call" if n == 1 else f"{n:,} calls"


@checker(placeholder=CACHE_PLACEHOLDER)
def check_cache_choice(answer):
    """Exercise 1: the service never refuses a request, and no price is served too stale."""
    choice, problem = _describe_cache_answer(answer)
    if problem:
        return wrong(problem)
    placement, ttl = choice
    t = CACHE_TASK
    bound = t["max_staleness_s"]
    worst = None
    for seed in CACHE_CHECK_SEEDS:
        r = run_cache_task(placement, ttl, seed)
        if r["refusals"] or r["max_staleness_s"] > bound:
            worst = r
            break
    if worst is None:
        extra = ""
        if placement == "tmp":
            extra = (" Here /tmp and a global behave the same; /tmp would also keep the copy through a "
                     "reset after a timeout, and suits data too big to hold in memory.")
        return correct(f"The price service never refused a request ({r['fetches']:,} requests in "
                       f"{r['calls']:,} calls) and no price was more than {r['max_staleness_s']:.0f} s out of "
                       f"date.{extra}")
    r = worst
    minutes = r["simulated_s"] / 60
    if placement == "none":
        return wrong(f"With no cache every call asks the price service: it got {r['fetches']:,} requests in "
                     f"{minutes:.0f} minutes, far above its limit of {t['rps_limit']} per second, and refused "
                     f"{r['refusals']:,} of them with 429 Too Many Requests, so {_calls(r['errors'])} failed. "
                     "Keep the price list somewhere that outlives one invocation.")
    if r["refusals"]:
        return wrong(f"Your cache refreshes too often: the price service got {r['fetches']:,} requests and "
                     f"refused {r['refusals']:,} of them with 429 Too Many Requests ({_calls(r['errors'])} "
                     f"failed). Every execution environment ({r['environments']} of them here) refreshes its "
                     "own copy each time its TTL runs out.")
    return wrong(f"The service was happy ({r['fetches']} requests, none refused), but customers were shown "
                 f"prices up to {r['max_staleness_s']:.0f} s out of date; the bound is {bound} s. A cached "
                 "copy keeps being served until its TTL runs out, however long ago the prices changed.")


cache_exercise = Exercise("cache-placement-and-ttl", check_cache_choice, hints=CACHE_HINTS,
                          solution=CACHE_SOLUTION, title="Cache placement and TTL")


# ---------------------------------------------------------------------------------------------
# Exercise 2: one caller's data leaking into the next warm invocation
# ---------------------------------------------------------------------------------------------

BASKET_SOURCE = '''\
import json
import urllib.request

PRICES_URL = "https://prices.internal/prices"
PRICES = None       # the price list: the same for every customer, fine to keep between calls
basket = []         # the items of the order being priced


def handler(event, context):
    global PRICES
    if PRICES is None:                               # first call in this environment
        with urllib.request.urlopen(PRICES_URL) as response:
            PRICES = json.loads(response.read())["value"]
    for item in event["items"]:
        if item not in PRICES:
            raise ValueError(f"unknown item: {item}")
        basket.append(item)
    total = round(sum(PRICES[item] for item in basket), 2)
    return {"customer": event["customer"], "items": basket, "total": total}
'''

BASKET_SOLUTION = '''\
import json
import urllib.request

PRICES_URL = "https://prices.internal/prices"
PRICES = None       # shared data: the same for every customer, so it may stay between calls


def handler(event, context):
    global PRICES
    if PRICES is None:                               # first call in this environment
        with urllib.request.urlopen(PRICES_URL) as response:
            PRICES = json.loads(response.read())["value"]
    basket = []                                      # this caller's data: local to this invocation
    for item in event["items"]:
        if item not in PRICES:
            raise ValueError(f"unknown item: {item}")
        basket.append(item)
    total = round(sum(PRICES[item] for item in basket), 2)
    return {"customer": event["customer"], "items": basket, "total": total}
'''

# The orders the checker sends, in this order (call i gets ORDERS[i % len(ORDERS)]).
ORDERS = (
    {"customer": "ada", "items": ["espresso", "croissant"]},
    {"customer": "grace", "items": ["tea"]},
    {"customer": "alan", "items": ["flat-white", "unicorn-latte"]},   # an unknown item: this call fails
    {"customer": "edsger", "items": ["espresso"]},
    {"customer": "ada", "items": ["tea"]},                            # ada again
    {"customer": "barbara", "items": ["croissant", "flat-white"]},
)
LEAK_SCENARIOS = (Scenario(1, 1), Scenario(1, 2), Scenario(1, 4), Scenario(1, 6), Scenario(3, 4),
                  Scenario(2, 6, seed=2))

BASKET_HINTS = (
    "An execution environment serves one call at a time, but it serves many calls one after another, "
    "and module-level variables stay as the last call left them. Which module-level variable holds "
    "data that belongs to one caller?",
    "The price list is the same for every customer: keeping it between calls is a good cache. The "
    "basket belongs to one order: it must start empty for every call, whether the call before it "
    "succeeded or failed.",
    "Make the basket a local variable of handler (basket = [] inside the function), and delete the "
    "module-level one. Clearing a global at the end of the handler is not enough: a call that "
    "raises never gets there.",
)


# Lambda turns the response into JSON the moment the handler returns, so a caller's answer cannot
# change afterwards. labkit's runtime records the returned object itself; a handler that returns a
# module-level list (as the leaky basket does) would see its recorded answers change with later
# calls. Until the runtime serialises responses, the exercise's handler modules get this wrapper.
_SERIALISE_RESPONSE = """

import json as _json_returned_by_lambda
_handler_as_written = {name}


def {name}(event, context):
    return _json_returned_by_lambda.loads(_json_returned_by_lambda.dumps(_handler_as_written(event, context)))
"""


def _serialising(handler):
    """The module text of ``handler`` (a function or module text) with responses JSON-serialised on return."""
    if isinstance(handler, str):
        return textwrap.dedent(handler) + _SERIALISE_RESPONSE.format(name="handler")
    code = HandlerCode.from_callable(handler)
    return code.source + _SERIALISE_RESPONSE.format(name=code.handler_name)


def _order_event(i):
    import copy
    return copy.deepcopy(ORDERS[i % len(ORDERS)])


def _basket_setup(lab):
    add_price_service(lab, version_every_s=None)


def _leak_source_call(trial, i, env, extra):
    """The earlier call on ``env`` that ``extra`` most likely came from: the most recent one whose
    order holds all of ``extra``, else the most recent one that shares an item with it."""
    earlier = [j for j in range(i - 1, -1, -1) if trial.row(j).environment_id == env]
    for j in earlier:
        items = trial.events[j]["items"]
        if all(items.count(x) >= extra.count(x) for x in set(extra)):
            return j
    for j in earlier:
        if any(x in trial.events[j]["items"] for x in extra):
            return j
    return None


def _verify_baskets(trial):
    prices = price_data(1)["prices"]
    envs = {trial.row(i).environment_id for i in range(trial.calls)}
    for i in range(trial.calls):
        r, ev = trial.row(i), trial.events[i]
        if r.outcome != "success":
            if all(x in prices for x in ev["items"]):
                return (f"Call #{i + 1} ({ev['customer']}, {ev['items']}) failed with {r.error_type}: "
                        f"{r.error_message}", [i + 1])
            continue
        resp = r.response
        if not isinstance(resp, dict) or "items" not in resp or "total" not in resp:
            return (f"Call #{i + 1} returned {resp!r}; the handler should still return a dict with "
                    "customer, items and total.", [i + 1])
        got = list(resp["items"])
        mine = list(ev["items"])
        extra = list(got)                            # what came back that this call did not order
        for x in mine:
            if x in extra:
                extra.remove(x)
        if extra:
            j = _leak_source_call(trial, i, r.environment_id, extra)
            env = r.environment_id
            if j is None:
                return (f"Call #{i + 1} ({ev['customer']}) got items it never ordered: {sorted(set(extra))}.",
                        [i + 1])
            other = trial.events[j]
            if other["customer"] == ev["customer"]:
                return (f"{ev['customer']} ordered twice on environment {env} (calls #{j + 1} and #{i + 1}), and "
                        f"the second order came back with the first one's items too: {got}. Data kept in a "
                        "module-level variable, even one keyed by customer, outlives the invocation.",
                        [j + 1, i + 1])
            if trial.row(j).outcome != "success":
                return (f"Call #{j + 1} ({other['customer']}) failed part-way, and the items it had already "
                        f"added stayed behind in the module-level basket: the next call on environment {env}, "
                        f"#{i + 1} ({ev['customer']}), was charged for them ({got}). Clearing shared state only "
                        "when a call succeeds leaves a failed call's data for the next caller.",
                        [j + 1, i + 1])
            return (f"Caller {other['customer']} then caller {ev['customer']} on environment {env}: "
                    f"{ev['customer']} saw {other['customer']}'s data. Call #{i + 1} ordered {mine} but got "
                    f"back {got}. The warm environment kept the module-level basket from call #{j + 1}.",
                    [j + 1, i + 1])
        if sorted(got) != sorted(mine):
            return (f"Call #{i + 1} ({ev['customer']}) ordered {mine} but got back {got}.", [i + 1])
        expected = round(sum(prices[x] for x in mine), 2)
        total = resp["total"]
        if isinstance(total, bool) or not isinstance(total, (int, float)) or abs(total - expected) > 0.005:
            return (f"Call #{i + 1} ({ev['customer']}, {mine}) returned a total of {total!r}; its items cost "
                    f"{expected}.", [i + 1])
    fetches = trial.lab.services.http[PRICE_HOST].calls
    if fetches > len(envs):
        return (f"No order leaked, but the price list was fetched {fetches} times for {trial.calls} calls on "
                f"{len(envs)} environment{'s' if len(envs) > 1 else ''}. The price list is the same for every "
                "customer, so keep caching it between calls; only the caller's own data must not outlive "
                "the call.")
    return None


@checker(placeholder=BASKET_SOURCE,
         not_attempted_message="This is still the starter handler: change it, run its cell, then run this "
                               "check again.")
def check_basket(answer):
    """Exercise 2: no caller's items show up in another call's response, on any warm environment."""
    failure = smallest_failure(_serialising(answer), _verify_baskets, LEAK_SCENARIOS, setup=_basket_setup,
                               event=_order_event, allow_errors=True)
    if failure is not None:
        return wrong(failure.message, failure.report())
    return correct("Every order came back with exactly its own items and total, call after call on the same "
                   "warm environment, and the price list was still fetched only once per environment.")


basket_exercise = Exercise("no-leaks-between-callers", check_basket, hints=BASKET_HINTS,
                           solution=BASKET_SOLUTION, title="Don't leak one caller's data into the next")


def basket_demo(handler, orders=2):
    """Send the first ``orders`` of ``ORDERS`` one after another to ``handler`` (a function or module
    text) and return what each customer got back, as a DataFrame."""
    lab = Lab(seed=1)
    _basket_setup(lab)
    fn = lab.function(source=_serialising(handler), name="basket")
    run = lab.invoke(fn, [_order_event(i) for i in range(orders)])
    rows = []
    for row in sorted(run.records.invocations, key=lambda r: r.start_s):
        resp = row.response
        ok = row.outcome == SUCCESS
        rows.append({"environment": row.environment_id, "start": row.start_type,
                     "customer": resp["customer"] if ok else "-",
                     "items returned": resp["items"] if ok else f"{row.error_type}: {row.error_message}",
                     "total": resp["total"] if ok else None})
    lab.account.close()
    return pd.DataFrame(rows)


__all__ = [
    "PRICES_URL", "SKUS", "price_data", "add_price_service", "order", "staleness_s", "deploy", "fetches_by_request",
    "PRICE_LOOKUP_SOURCE", "PLACEMENTS", "cache_handler_source", "TRAFFIC_SHAPES", "traffic_shape",
    "run_cached", "cache_experiment", "cache_sweep", "plot_cache_sweep", "reset_experiment",
    "CLIENT_PER_CALL_SOURCE", "CLIENT_IN_INIT_SOURCE", "client_experiment",
    "cold_start_rate", "keep_alive", "plot_keep_alive", "keep_alive_curves", "plot_keep_alive_curves",
    "HERD_FIXED_TTL_SOURCE", "HERD_JITTERED_SOURCE", "HERD", "herd_experiment", "herd_table", "plot_herd",
    "CACHE_TASK", "check_cache_choice", "cache_exercise", "run_cache_task",
    "BASKET_SOURCE", "BASKET_SOLUTION", "ORDERS", "check_basket", "basket_exercise", "basket_demo",
]
