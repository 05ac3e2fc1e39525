"""Lesson 04 (downstream connection pooling): the experiments.

Pure functions behind the notebook's experiments and its widget. Every function builds
its own seeded Lab, so results repeat exactly.

* ``new_lab`` creates the shop's database (a MySQL-style server with ``max_connections``);
  ``order_traffic`` is the traffic ramp every experiment receives.
* ``run_remedy(name, ...)`` sends that ramp through one architecture: the traditional
  server (5 processes x a pool of 10), Lambda with no remedy, Lambda with a pool of 10
  per environment, reserved concurrency, an SQS queue with MaximumConcurrency, or an
  RDS-Proxy-style proxy. It returns a ``RemedyRun`` with one row per request.
  ``comparison`` turns several into the lesson's table.
* ``deploy_herd`` is the cold-start variant: every environment of a new version opens
  its connection and loads its reference data at once.
* ``peak_connections_and_errors``: the widget (a smaller ramp).
* ``pool_size_demo``: ten calls at once with pools of 1 and 10 connections.

The handler modules are files in ``handlers/`` (``DIRECT_SOURCE``, ``POOLED_SOURCE``,
... are their texts); ``pooled_handler_source`` sets a pooled module's pool size and host.

Scale: the source article's server has 5 x 10 = 50 connections while Lambda may run
1,000 environments; here the database takes 100 connections and the ramp reaches
about 150 environments, which is the same mismatch at a size that runs in seconds.
Database figures (handshake, CPU per statement, the price list's 50 ms) are labkit
assumptions, not AWS measurements.
"""

from __future__ import annotations

import math
import random
import re
import textwrap
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import labkit as lk
from labkit import facts, validation
from labkit.errors import InvalidParameterValueException, SimulationError
from labkit.lab import Lab
from labkit.records import SUCCEEDED, SUCCESS
from labkit.run import Run
from labkit.workload import Workload

from .handlers import (
    DIRECT_SOURCE,
    POOLED_QUEUE_WORKER_SOURCE,
    POOLED_SOURCE,
    PROXIED_SOURCE,
    QUEUE_WORKER_SOURCE,
    REFERENCE_SOURCE,
)

if TYPE_CHECKING:
    from labkit.runtime import Function
    from labkit.services.database import DatabaseServer

# A handler: a ``def handler(event, context)`` function (its notebook cell is its module), or a module's text.
Handler = Callable[..., Any] | str

# ---------------------------------------------------------------------------------------------
# The shop's database
# ---------------------------------------------------------------------------------------------

DB_NAME = "shop-db"
DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"
PROXY_NAME = "shop-proxy"
PROXY_HOST = "shop-proxy.proxy-c0labkitsim0.us-east-1.rds.amazonaws.com"
DB_USER, DB_PASSWORD, DB_SCHEMA = "shop", "s3cret", "shop"
MAX_CONNECTIONS = facts.DB_DEFAULT_MAX_CONNECTIONS   # 100, labkit's assumption for a small RDS instance
PRODUCTS = 50
WORK_S = 0.15                  # each request's other work (the handler sleeps this long)
REFERENCE_ROWS = 500           # the price list that the cold-start variant loads
REFERENCE_LOAD_CPU_S = 0.05    # labkit assumption: reading the whole price list costs 50 ms of database CPU

# The traffic ramp of the main comparison: 0 to 800 orders per second over 20 seconds.
RAMP_START, RAMP_END, RAMP_SECONDS = 0, 800, 20
LATE_AFTER_S = 1.0             # a request answered (or processed) later than this after it was sent was delayed

# The remedies' settings in the comparison.
SERVER_PROCESSES, SERVER_POOL_SIZE = 5, 10     # the article's server: 5 processes x a pool of 10
ADMIN_HEADROOM = 10                            # connections kept free for people and tools (migrations, a console)
RESERVED = MAX_CONNECTIONS - ADMIN_HEADROOM    # reserved concurrency: one connection per environment
QUEUE_MAX_CONCURRENCY = RESERVED               # SQS ScalingConfig.MaximumConcurrency
QUEUE_BATCH_SIZE = 1               # one order per invocation: the delay is the queue's alone
PROXY_MAX_CONNECTIONS_PERCENT = RESERVED * 100 // MAX_CONNECTIONS
FUNCTION_TIMEOUT_S = 5
VISIBILITY_TIMEOUT_S = facts.SQS_DEFAULT_VISIBILITY_TIMEOUT_S   # also 6 x the function's timeout, as AWS recommends
PROXY_BORROW_TIMEOUT_S = 3      # ConnectionBorrowTimeout: shorter than the function's timeout
MEMORY_MB = 512


def query_cpu(sql: str, args: Any) -> float:
    """Database CPU seconds of one statement: a full read of the price list is expensive,
    anything else is a small indexed statement (labkit's default cost)."""
    text = " ".join(str(sql).split()).upper()
    if "FROM PRICES" in text and "WHERE" not in text:
        return REFERENCE_LOAD_CPU_S
    return facts.DB_QUERY_CPU_S


def new_lab(seed: int = 1, *, max_connections: int = MAX_CONNECTIONS,
            held_by_others: int = 0) -> tuple[Lab, DatabaseServer]:
    """A fresh ``Lab(seed=seed)`` with the shop's database: tables ``stock`` (one row per
    product) and ``prices`` (the price list). ``held_by_others`` connections are opened
    from outside Lambda first and stay open (another application using the same database).
    Returns ``(lab, db)``."""
    lab = lk.Lab(seed=seed)
    db = lab.database(DB_NAME, max_connections=max_connections, user=DB_USER, password=DB_PASSWORD,
                      database=DB_SCHEMA, query_cpu_s=query_cpu)
    validation.integer("held_by_others", held_by_others, 0, db.max_connections)
    assert db.host == DB_HOST
    db.sql("CREATE TABLE stock (product_id INTEGER PRIMARY KEY, quantity INTEGER)")
    db.sql("CREATE TABLE prices (product_id INTEGER PRIMARY KEY, price INTEGER)")
    db.sql("INSERT INTO stock VALUES " + ", ".join(f"({p}, 1000000)" for p in range(1, PRODUCTS + 1)))
    db.sql("INSERT INTO prices VALUES " + ", ".join(f"({p}, {100 + p % 900})" for p in range(1, REFERENCE_ROWS + 1)))
    for _ in range(held_by_others):
        db.connect(DB_USER, DB_PASSWORD, DB_SCHEMA, owner="other-app", holder="monolith")
    return lab, db


def order(i: int, rng: Any = None) -> dict[str, int]:
    """Order ``i``: one unit of product ``i % PRODUCTS + 1``."""
    return {"order": i, "product": i % PRODUCTS + 1}


def order_traffic(start_rate: float = RAMP_START, end_rate: float = RAMP_END,
                  seconds: float = RAMP_SECONDS) -> Workload:
    """The traffic ramp: orders arriving at random, at a rate growing linearly from
    ``start_rate`` to ``end_rate`` per second over ``seconds``."""
    return lk.workload.ramp(start_rate, end_rate, seconds, payload=order)


# ---------------------------------------------------------------------------------------------
# Handler modules (files in handlers/; the notebook shows the same code in cells of their own)
# ---------------------------------------------------------------------------------------------

def place_order(event: dict[str, Any], conn: Any) -> dict[str, Any]:
    """The traditional server's request handler: the same statement and the same 150 ms of work,
    on a connection borrowed from the process's pool for the whole request."""
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(WORK_S)
    return {"order": event["order"], "status": "placed"}


def _with_pool_size(source, pool_size):
    """A pooled handler module's text (it says ``POOL_SIZE = 10``) with ``POOL_SIZE = pool_size``."""
    validation.integer("pool_size", pool_size, 1)
    if "POOL_SIZE = 10 " not in source:   # handlers/pooled*.py changed without this function
        raise SimulationError("a pooled handler module no longer sets POOL_SIZE = 10")
    return source.replace("POOL_SIZE = 10 ", f"POOL_SIZE = {pool_size} ")


def pooled_source(pool_size: int) -> str:
    """``POOLED_SOURCE`` with ``POOL_SIZE = pool_size``."""
    return _with_pool_size(POOLED_SOURCE, pool_size)


def handler_name(source: str) -> str:
    """The entry point of a handler module's text: its first top-level ``def NAME(event, context)``
    (each handler module of this lesson names its own, e.g. ``pooled_handler``), else ``handler``."""
    found = re.search(r"^def (\w+)\(event, context\):", source, flags=re.MULTILINE)
    return found.group(1) if found else "handler"


def deploy(lab: Lab, code: Handler, name: str, **config: Any) -> Function:
    """Deploy ``code`` (a handler function, or its module's text) in ``lab``."""
    config.setdefault("memory_mb", MEMORY_MB)
    config.setdefault("timeout_s", FUNCTION_TIMEOUT_S)
    if isinstance(code, str):
        code = textwrap.dedent(code)
        return lab.function(source=code, handler_name=handler_name(code), name=name, **config)
    return lab.function(code, name=name, **config)

# ---------------------------------------------------------------------------------------------
# One architecture under the ramp
# ---------------------------------------------------------------------------------------------

REMEDIES = ("server", "no remedy", "pool of 10", "reserved concurrency", "queue", "proxy")

REMEDY_LABELS = {
    "server": "server: 5 processes x pool of 10",
    "no remedy": "Lambda: one connection per environment",
    "pool of 10": "Lambda: a pool of 10 per environment",
    "reserved concurrency": f"Lambda + reserved concurrency {RESERVED}",
    "queue": f"SQS queue + MaximumConcurrency {QUEUE_MAX_CONCURRENCY}",
    "proxy": f"Lambda + proxy ({PROXY_MAX_CONNECTIONS_PERCENT}% of max_connections)",
}

REQUEST_COLUMNS = ["request", "sent_s", "start_s", "end_s", "ok", "error"]


class RemedyRun:
    """One architecture's run of a workload.

    ``requests``: one row per request, times in seconds since the traffic started:
    ``sent_s``; ``start_s`` when the work that succeeded began (NaN if none did);
    ``end_s`` when the caller had its answer or the message was processed; ``ok``;
    ``error`` (what the caller got instead, else None). ``db``: the database
    (``db.metrics()``, ``db.connections`` ...); ``run`` the Lambda ``Run`` or the
    server's ``ServerRun``; ``proxy``, ``queue``, ``mapping`` when used.
    """

    def __init__(self, name: str, lab: Lab, db: DatabaseServer, run: Any, requests: pd.DataFrame, t0: float, *,
                 function: Function | None = None, proxy: Any = None, queue: Any = None, mapping: Any = None,
                 server: Any = None) -> None:
        self.name, self.lab, self.db, self.run = name, lab, db, run
        self.requests, self.t0 = requests, t0
        self.function, self.proxy, self.queue, self.mapping, self.server = function, proxy, queue, mapping, server

    def __repr__(self) -> str:
        ok = int(self.requests["ok"].sum())
        return f"<RemedyRun {self.name}: {ok}/{len(self.requests)} requests succeeded>"

    @property
    def label(self) -> str:
        return REMEDY_LABELS.get(self.name, self.name)

    @property
    def t1(self) -> float:
        return float(np.nanmax(self.requests["end_s"].to_numpy(float))) if len(self.requests) else 0.0

    def latency_s(self) -> np.ndarray:
        """End-to-end latency (s) of each request that succeeded."""
        r = self.requests[self.requests["ok"]]
        return (r["end_s"] - r["sent_s"]).to_numpy(float)

    def summary(self) -> dict[str, Any]:
        """Headline figures: connections, refusals, failed requests, throttles, p99, delay, cost."""
        req = self.requests
        lat = self.latency_s()
        c = self.db.counters()
        lambda_run = self.run if isinstance(self.run, Run) else None
        s = lambda_run.summary() if lambda_run is not None else None
        return {
            "remedy": self.name,
            "requests": len(req),
            "peak_db_connections": c["peak_connections"],
            "refused_connections": c["connections_refused"],
            "failed_requests": int((~req["ok"]).sum()),
            "throttles": s["throttles"] if s else 0,
            "latency_p99_s": round(float(np.percentile(lat, 99)), 2) if len(lat) else math.nan,
            "delayed": int((lat > LATE_AFTER_S).sum()),
            "all_done_s": round(self.t1, 1),
            "query_p99_ms": c["latency_p99_ms"],
            "lambda_cost_usd": s["cost_usd"] if s else math.nan,
            "max_concurrency": s["max_concurrency"] if s else math.nan,
        }


def _sync_requests(run):
    """Per synchronous call (retries folded in): sent, start of the successful attempt, end, ok."""
    inv = run.invocations
    t0 = run.t0
    inv = inv.sort_values(["event_id", "attempt"], kind="stable")
    first = inv.groupby("event_id", sort=False).first()
    last = inv.groupby("event_id", sort=False).last()
    ok = last["outcome"] == SUCCESS
    err = last["error_type"].where(~ok, None)
    req = pd.DataFrame({
        "request": first.index,
        "sent_s": first["arrival_s"].to_numpy(float) - t0,
        "start_s": np.where(ok, last["start_s"].to_numpy(float) - t0, np.nan),
        "end_s": last["end_s"].to_numpy(float) - t0,
        "ok": ok.to_numpy(bool),
        "error": err.to_numpy(object),
    })
    return req.sort_values("sent_s", kind="stable").reset_index(drop=True)


def _server_requests(result):
    r = result.requests
    t0 = result.t0
    ok = (r["outcome"] == SUCCESS).to_numpy(bool)
    return pd.DataFrame({
        "request": r["event_id"], "sent_s": r["arrival_s"].to_numpy(float) - t0,
        "start_s": np.where(ok, r["start_s"].to_numpy(float) - t0, np.nan),
        "end_s": r["end_s"].to_numpy(float) - t0, "ok": ok,
        "error": r["error_type"].where(~r["outcome"].eq(SUCCESS), None).to_numpy(object),
    }).sort_values("sent_s", kind="stable").reset_index(drop=True)


def _queue_requests(run, queue, mapping):
    start_of = mapping.processing_starts()
    st = queue.states()
    t0 = run.t0
    ok = (st["state"] == SUCCEEDED).to_numpy(bool)
    return pd.DataFrame({
        "request": st["message_id"], "sent_s": st["sent_s"].to_numpy(float) - t0,
        "start_s": np.array([start_of.get(m, math.nan) for m in st["message_id"]], float) - t0,
        "end_s": np.array([math.nan if d is None else d for d in st["settled_s"]], float) - t0,
        "ok": ok, "error": np.where(ok, None, st["state"].to_numpy(object)),
    }).sort_values("sent_s", kind="stable").reset_index(drop=True)


def run_remedy(name: str, handler: Handler | None = None, *, workload: Workload | None = None,
               seed: int = 1, max_connections: int = MAX_CONNECTIONS, held_by_others: int = 0,
               reserved_concurrency: int | None = None, pool_size: int | None = None,
               maximum_concurrency: int | None = QUEUE_MAX_CONCURRENCY, batch_size: int = QUEUE_BATCH_SIZE,
               proxy_percent: int = PROXY_MAX_CONNECTIONS_PERCENT, borrow_timeout_s: float = PROXY_BORROW_TIMEOUT_S,
               retry: bool = True) -> RemedyRun:
    """Send ``workload`` (default: ``order_traffic()``) through the architecture ``name``
    (one of ``REMEDIES``) in a fresh Lab, and return a ``RemedyRun``.

    ``handler`` replaces the remedy's handler (a function, or module text; for
    ``"server"`` a function ``(event, conn)``). Synchronous callers retry throttles as
    the AWS SDK's standard mode does (``retry=False``: no retries). Settings:
    ``reserved_concurrency`` (default ``RESERVED`` for "reserved concurrency", else
    none), ``pool_size`` (for "pool of 10": default 10), ``maximum_concurrency`` and
    ``batch_size`` (queue), ``proxy_percent`` and ``borrow_timeout_s`` (proxy)."""
    if name not in REMEDIES:
        raise InvalidParameterValueException("remedy", name, f"one of {REMEDIES}")
    workload = order_traffic() if workload is None else workload
    lab, db = new_lab(seed, max_connections=max_connections, held_by_others=held_by_others)
    sdk = lk.SdkRetry() if retry else None
    if name == "server":
        server = lab.traditional_server(db, handler or place_order, processes=SERVER_PROCESSES,
                                        pool_size=SERVER_POOL_SIZE)
        result = server.serve(workload)
        return RemedyRun(name, lab, db, result, _server_requests(result), result.t0, server=server)
    if name == "reserved concurrency" and reserved_concurrency is None:
        reserved_concurrency = RESERVED
    config = {"reserved_concurrency": reserved_concurrency}
    if name == "queue":
        fn = deploy(lab, handler or QUEUE_WORKER_SOURCE, "place-orders-worker", **config)
        queue = lab.sqs_queue("orders", visibility_timeout_s=VISIBILITY_TIMEOUT_S)
        mapping = lab.event_source_mapping(fn, queue, batch_size=batch_size, maximum_concurrency=maximum_concurrency)
        run = lab.send(queue, workload)
        return RemedyRun(name, lab, db, run, _queue_requests(run, queue, mapping), run.t0, function=fn,
                         queue=queue, mapping=mapping)
    proxy = None
    if name == "proxy":
        proxy = lab.db_proxy(db, PROXY_NAME, max_connections_percent=proxy_percent,
                             connection_borrow_timeout_s=borrow_timeout_s)
        assert proxy.host == PROXY_HOST
        code = handler or PROXIED_SOURCE
    elif name == "pool of 10":
        code = handler or pooled_source(10 if pool_size is None else pool_size)
    else:
        code = handler or DIRECT_SOURCE
    fn = deploy(lab, code, "place-order", **config)
    run = lab.invoke(fn, workload, retry=sdk)
    return RemedyRun(name, lab, db, run, _sync_requests(run), run.t0, function=fn, proxy=proxy)


def pooled_handler_source(pool_size: int = 1, *, host: str = DB_HOST, batch: bool = False) -> str:
    """A handler module with a DBUtils pool of ``pool_size`` connections per environment
    (opened in Init) to ``host``; ``batch=True`` gives the SQS worker (a loop over
    ``event["Records"]``). With ``pool_size=1`` it behaves like ``DIRECT_SOURCE``."""
    src = _with_pool_size(POOLED_QUEUE_WORKER_SOURCE if batch else POOLED_SOURCE, pool_size)
    return src.replace(f'"{DB_HOST}"', f'"{host}"')


# ---------------------------------------------------------------------------------------------
# The comparison table and its plots
# ---------------------------------------------------------------------------------------------

def comparison(results: Iterable[RemedyRun]) -> pd.DataFrame:
    """One row per ``RemedyRun``: the lesson's comparison table.

    ``peak connections`` and ``refused``: on the database. ``failed``: requests that
    never succeeded (a refused connection, or throttled on every attempt). ``p99 (s)``:
    end-to-end latency of the requests that succeeded, from sent to answered (or, for the
    queue, processed). ``delayed``: requests that succeeded more than ``LATE_AFTER_S``
    after they were sent. ``Lambda cost``: Lambda's request and duration charges only."""
    rows = []
    for r in results:
        s = r.summary()
        cost = s["lambda_cost_usd"]
        rows.append({
            "remedy": r.label, "peak connections": s["peak_db_connections"], "refused": s["refused_connections"],
            "failed": s["failed_requests"], "throttles": s["throttles"], "p99 (s)": s["latency_p99_s"],
            "delayed": s["delayed"], "all done (s)": s["all_done_s"],
            "Lambda cost ($)": "-" if isinstance(cost, float) and math.isnan(cost) else f"{cost:.4f}",
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The cold-start variant: a deploy makes every environment connect and load at once
# ---------------------------------------------------------------------------------------------

HERD_RATE = 200          # orders per second, steady
HERD_WARMUP_S = 10       # v1 warms up on a ramp from 0 to HERD_RATE ...
HERD_STEADY_S = 5        # ... then serves HERD_RATE for a while
HERD_AFTER_S = 10        # traffic after the deploy
HERD_SHIFT_S = 8         # a gradual shift moves the traffic to v2 linearly over this long
HERD_SHIFTS = ("all at once", "gradually")


class HerdRun:
    """A deploy of a new version under steady traffic: ``before`` (the old version's runs),
    ``after`` (the Run after the deploy), ``t_deploy`` (Lab time of the deploy), ``db``,
    ``requests`` (after the deploy; times in seconds since the deploy)."""

    def __init__(self, shift: str, lab: Lab, db: DatabaseServer, v1: Function, v2: Function, before: list[Run],
                 after: Run, t_deploy: float) -> None:
        self.shift, self.lab, self.db, self.v1, self.v2 = shift, lab, db, v1, v2
        self.before, self.after, self.t_deploy = before, after, t_deploy
        self.requests = _sync_requests(after)

    def __repr__(self) -> str:
        ok = int(self.requests["ok"].sum())
        return f"<HerdRun {self.shift}: {ok}/{len(self.requests)} orders placed after the deploy>"

    def summary(self) -> dict[str, Any]:
        """What the deploy did: new environments and connections, refusals, failed orders, p99, CPU."""
        req = self.requests
        lat = (req["end_s"] - req["sent_s"])[req["ok"]].to_numpy(float)
        inv = self.after.invocations
        conns = self.db.connections
        v2 = inv[inv["function"] == self.v2.name]
        cpu = self.db.metrics(0.5, t0=self.t_deploy, t1=self.t_deploy + HERD_AFTER_S)["cpu_utilization"]
        refused = self.db.refused
        return {
            "shift": self.shift,
            "new environments": int(v2.loc[v2["cold"], "environment_id"].nunique()),
            "v2 connections": int((conns["function"] == self.v2.name).sum()),
            "old connections still open": int(((conns["function"] == self.v1.name) & conns["closed_s"].isna()).sum()),
            "peak connections": self.db.counters()["peak_connections"],
            "refused": int((refused["time_s"] >= self.t_deploy).sum()),
            "failed orders": int((~req["ok"]).sum()),
            "p99 (s)": round(float(np.percentile(lat, 99)), 2) if len(lat) else math.nan,
            "peak CPU (%)": int(round(float(cpu.max()) * 100)),
        }


def _arrivals(rate, seconds, rng):
    out, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= seconds:
            return out
        out.append(t)


def deploy_herd(shift: str = "all at once", handler: Handler = REFERENCE_SOURCE, *, rate: float = HERD_RATE,
                seed: int = 1) -> HerdRun:
    """Version 1 of ``handler`` warms up and serves ``rate`` orders per second; then version 2
    is deployed and the traffic moves to it ``"all at once"`` or ``"gradually"`` (linearly over
    ``HERD_SHIFT_S``). Both versions connect to the shop's database directly. Returns a
    ``HerdRun``. The arrivals after the deploy are the same for both shifts."""
    if shift not in HERD_SHIFTS:
        raise InvalidParameterValueException("shift", shift, f"one of {HERD_SHIFTS}")
    lab, db = new_lab(seed)
    v1 = deploy(lab, handler, "place-order-v1")
    before = [lab.invoke(v1, lk.workload.ramp(0, rate, HERD_WARMUP_S, payload=order)),
              lab.invoke(v1, lk.workload.poisson(rate, HERD_STEADY_S, payload=order))]
    v2 = deploy(lab, handler, "place-order-v2")
    rng = random.Random(f"{seed}:deploy")
    times = _arrivals(rate, HERD_AFTER_S, rng)
    share = [1.0 if shift == "all at once" else min(1.0, t / HERD_SHIFT_S) for t in times]
    to_v2 = [rng.random() < w for w in share]
    n0 = 1_000_000   # order numbers after the deploy
    parts: dict[bool, tuple[list[float], list[dict[str, int]]]] = {True: ([], []), False: ([], [])}
    for i, (t, new) in enumerate(zip(times, to_v2, strict=True)):
        parts[new][0].append(t)
        parts[new][1].append(order(n0 + i))
    traffic = [(v2, lk.workload.replay(*parts[True]))]
    if parts[False][0]:
        traffic.append((v1, lk.workload.replay(*parts[False])))
    t_deploy = lab.now
    after = lab.simulate(traffic, retry=lk.SdkRetry())
    return HerdRun(shift, lab, db, v1, v2, before, after, t_deploy)


def herd_table(herds: Iterable[HerdRun]) -> pd.DataFrame:
    """One row per ``HerdRun``: what the deploy did to the database."""
    return pd.DataFrame([h.summary() for h in herds])


# ---------------------------------------------------------------------------------------------
# Widget: reserved concurrency, pool size and remedy -> connections and errors
# ---------------------------------------------------------------------------------------------

WIDGET_MAX_CONNECTIONS = 30
WIDGET_RAMP = (0, 200, 8)          # a smaller ramp, so that each slider position runs in a blink
WIDGET_REMEDIES = ("none", "proxy", "queue")
WIDGET_QUEUE_MAX_CONCURRENCY = 25
# The notebook's sliders. Pool sizes stop at 2: with the queue, a bigger pool gets most workers
# refused, and each refused message returns after the visibility timeout, again and again, so
# the run stretches over many simulated minutes (pool 3 with reserved concurrency 15: over
# 10 minutes) and a slider position takes over a second instead of a fraction of one.
WIDGET_RESERVED = (None, 10, 15, 20, 25, 30, 40)
WIDGET_POOL_SIZES = (1, 2)


def peak_connections_and_errors(reserved_concurrency: int | None = None, pool_size: int = 1, remedy: str = "none",
                                seed: int = 1) -> dict[str, Any]:
    """A small ramp (``WIDGET_RAMP``) against a database of ``WIDGET_MAX_CONNECTIONS``.

    The function opens ``pool_size`` connections per environment in Init; ``remedy`` is
    ``"none"`` (straight to the database), ``"proxy"`` (through a proxy allowed 90% of
    the connections) or ``"queue"`` (SQS, MaximumConcurrency ``WIDGET_QUEUE_MAX_CONCURRENCY``);
    ``reserved_concurrency`` is the function's (None: no reservation). Returns a dict
    of headline figures and the time series the plot draws."""
    if remedy not in WIDGET_REMEDIES:
        raise InvalidParameterValueException("remedy", remedy, f"one of {WIDGET_REMEDIES}")
    name = {"none": "no remedy", "proxy": "proxy", "queue": "queue"}[remedy]
    host = PROXY_HOST if remedy == "proxy" else DB_HOST
    handler = pooled_handler_source(pool_size, host=host, batch=remedy == "queue")
    r = run_remedy(name, handler, workload=order_traffic(*WIDGET_RAMP), seed=seed,
                   max_connections=WIDGET_MAX_CONNECTIONS, reserved_concurrency=reserved_concurrency,
                   maximum_concurrency=WIDGET_QUEUE_MAX_CONCURRENCY)
    s = r.summary()
    steps = r.db.connection_steps()
    conc = r.run.concurrency()
    return {
        "remedy": remedy, "reserved_concurrency": reserved_concurrency, "pool_size": pool_size,
        "max_connections": WIDGET_MAX_CONNECTIONS, "requests": s["requests"],
        "peak_connections": s["peak_db_connections"], "refused": s["refused_connections"],
        "failed": s["failed_requests"], "throttles": s["throttles"], "latency_p99_s": s["latency_p99_s"],
        "max_concurrency": s["max_concurrency"],
        "connections": pd.DataFrame({"time_s": steps["time_s"] - r.t0, "open": steps["open_connections"]}),
        "concurrency": pd.DataFrame({"time_s": conc["time_s"] - r.t0, "in_flight": conc["concurrency"]}),
        "t_end": r.t1,
    }


def pool_size_demo(pool_sizes: Iterable[int] = (1, 10), calls: int = 10, seed: int = 1) -> pd.DataFrame:
    """``calls`` orders at the same moment to the pooled handler, once per pool size: how many
    connections the environments opened, and how many of them ever ran a statement."""
    rows = []
    for size in pool_sizes:
        lab, db = new_lab(seed)
        fn = deploy(lab, pooled_source(size), f"pool-{size}")
        run = lab.invoke(fn, lk.workload.parallel(calls, payload=order))
        conns = db.connections
        rows.append({"pool size": size, "environments": run.summary()["environments"],
                     "connections opened": len(conns), "connections used": int((conns["queries"] > 0).sum()),
                     "orders placed": run.summary()["succeeded"]})
    return pd.DataFrame(rows)
