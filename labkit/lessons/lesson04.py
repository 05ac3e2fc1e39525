"""Lesson 04 support: downstream connection pooling.

Pure functions behind the notebook's experiments, its widget and its exercises. Every
function builds its own seeded Lab, so results repeat exactly.

* ``new_lab`` creates the shop's database (a MySQL-style server with ``max_connections``);
  ``order_traffic`` is the traffic ramp every experiment receives.
* ``run_remedy(name, ...)`` sends that ramp through one architecture: the traditional
  server (5 processes x a pool of 10), Lambda with no remedy, Lambda with a pool of 10
  per environment, reserved concurrency, an SQS queue with MaximumConcurrency, or an
  RDS-Proxy-style proxy. It returns a ``RemedyRun`` with one row per request.
  ``comparison`` turns several into the lesson's table; ``plot_side_by_side`` and
  ``plot_connections`` draw them.
* ``deploy_herd`` is the cold-start variant: every environment of a new version opens
  its connection and loads its reference data at once.
* ``peak_connections_and_errors`` / ``plot_peak_connections``: the widget (a smaller ramp).
* ``pool_size_demo``: ten calls at once with pools of 1 and 10 connections.
* Exercise 1 (``settings_exercise``): reserved concurrency and pool size for a ramp.
  Exercise 2 (``remedy_exercise``): the remedy for two described workloads.

Scale: the source article's server has 5 x 10 = 50 connections while Lambda may run
1,000 environments; here the database takes 100 connections and the ramp reaches
about 150 environments, which is the same mismatch at a size that runs in seconds.
Database figures (handshake, CPU per statement, the price list's 50 ms) are labkit
assumptions, not AWS measurements.
"""

import functools
import math
import re
import textwrap

import numpy as np
import pandas as pd

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException, SimulationError
from labkit.exercises import Exercise, checker, correct, not_attempted, wrong
from labkit.plots import STYLE, figure_style, legend_outside
from labkit.run import Run

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


def query_cpu(sql, args):
    """Database CPU seconds of one statement: a full read of the price list is expensive,
    anything else is a small indexed statement (labkit's default cost)."""
    text = " ".join(str(sql).split()).upper()
    if "FROM PRICES" in text and "WHERE" not in text:
        return REFERENCE_LOAD_CPU_S
    return facts.DB_QUERY_CPU_S


def new_lab(seed=1, *, max_connections=MAX_CONNECTIONS, held_by_others=0):
    """A fresh ``Lab(seed=seed)`` with the shop's database: tables ``stock`` (one row per
    product) and ``prices`` (the price list). ``held_by_others`` connections are opened
    from outside Lambda first and stay open (another application using the same database).
    Returns ``(lab, db)``."""
    lab = lk.Lab(seed=seed)
    db = lab.database(DB_NAME, max_connections=max_connections, user=DB_USER, password=DB_PASSWORD,
                      database=DB_SCHEMA, query_cpu_s=query_cpu)
    assert db.host == DB_HOST
    db.sql("CREATE TABLE stock (product_id INTEGER PRIMARY KEY, quantity INTEGER)")
    db.sql("CREATE TABLE prices (product_id INTEGER PRIMARY KEY, price INTEGER)")
    db.sql("INSERT INTO stock VALUES " + ", ".join(f"({p}, 1000000)" for p in range(1, PRODUCTS + 1)))
    db.sql("INSERT INTO prices VALUES " + ", ".join(f"({p}, {100 + p % 900})" for p in range(1, REFERENCE_ROWS + 1)))
    for _ in range(held_by_others):
        db.connect(DB_USER, DB_PASSWORD, DB_SCHEMA, owner="other-app", holder="monolith")
    return lab, db


def order(i, rng=None):
    """Order ``i``: one unit of product ``i % PRODUCTS + 1``."""
    return {"order": i, "product": i % PRODUCTS + 1}


def order_traffic(start_rate=RAMP_START, end_rate=RAMP_END, seconds=RAMP_SECONDS):
    """The traffic ramp: orders arriving at random, at a rate growing linearly from
    ``start_rate`` to ``end_rate`` per second over ``seconds``."""
    return lk.workload.ramp(start_rate, end_rate, seconds, payload=order)


# ---------------------------------------------------------------------------------------------
# Handler modules (the notebook shows the same code in cells of their own)
# ---------------------------------------------------------------------------------------------

DIRECT_SOURCE = '''\
import pymysql
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"   # on AWS: an environment variable

# Init: one connection per execution environment, reused by every call it serves.
conn = pymysql.connect(host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def handler(event, context):
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)   # the rest of the request: payment, e-mail, response (150 ms)
    return {"order": event["order"], "status": "placed"}
'''

POOLED_SOURCE = '''\
import pymysql
from dbutils.pooled_db import PooledDB
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"
POOL_SIZE = 10   # connections per execution environment, opened in Init like a server's pool

pool = PooledDB(pymysql, mincached=POOL_SIZE, maxconnections=POOL_SIZE, blocking=True,
                host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def pooled_handler(event, context):
    with pool.connection() as conn, conn.cursor() as cur:   # borrow one; given back at the end of the block
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)
    return {"order": event["order"], "status": "placed"}
'''

PROXIED_SOURCE = '''\
import pymysql
import labkit as lk

PROXY_HOST = "shop-proxy.proxy-c0labkitsim0.us-east-1.rds.amazonaws.com"   # the proxy's endpoint

conn = pymysql.connect(host=PROXY_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def proxied_handler(event, context):
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)
    return {"order": event["order"], "status": "placed"}
'''

QUEUE_WORKER_SOURCE = '''\
import json

import pymysql
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"

conn = pymysql.connect(host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def worker_handler(event, context):
    for record in event["Records"]:          # a batch of up to 10 orders from SQS
        order = json.loads(record["body"])
        with conn.cursor() as cur:
            cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (order["product"],))
        lk.sleep(0.15)
    return {"placed": len(event["Records"])}
'''

REFERENCE_SOURCE = '''\
import pymysql
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"

conn = pymysql.connect(host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)
PRICES = None   # the price list: loaded once per environment, by its first call


def handler_with_prices(event, context):
    global PRICES
    if PRICES is None:
        with conn.cursor() as cur:
            cur.execute("SELECT product_id, price FROM prices")   # the whole price list
            PRICES = dict(cur.fetchall())
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)
    return {"order": event["order"], "price": PRICES[event["product"]]}
'''


def place_order(event, conn):
    """The traditional server's request handler: the same statement and the same 150 ms of work,
    on a connection borrowed from the process's pool for the whole request."""
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(WORK_S)
    return {"order": event["order"], "status": "placed"}


def pooled_source(pool_size):
    """``POOLED_SOURCE`` with ``POOL_SIZE = pool_size``."""
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise InvalidParameterValueException("pool_size", pool_size, "an integer >= 1")
    return POOLED_SOURCE.replace("POOL_SIZE = 10 ", f"POOL_SIZE = {pool_size} ")


def handler_name(source):
    """The entry point of a handler module's text: its first top-level ``def NAME(event, context)``
    (each handler module of this lesson names its own, e.g. ``pooled_handler``), else ``handler``."""
    found = re.search(r"^def (\w+)\(event, context\):", source, flags=re.MULTILINE)
    return found.group(1) if found else "handler"


def _deploy(lab, code, name, **config):
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

    def __init__(self, name, lab, db, run, requests, t0, *, function=None, proxy=None, queue=None, mapping=None,
                 server=None):
        self.name, self.lab, self.db, self.run = name, lab, db, run
        self.requests, self.t0 = requests, t0
        self.function, self.proxy, self.queue, self.mapping, self.server = function, proxy, queue, mapping, server

    def __repr__(self):
        ok = int(self.requests["ok"].sum())
        return f"<RemedyRun {self.name}: {ok}/{len(self.requests)} requests succeeded>"

    @property
    def label(self):
        return REMEDY_LABELS.get(self.name, self.name)

    @property
    def t1(self):
        return float(np.nanmax(self.requests["end_s"].to_numpy(float))) if len(self.requests) else 0.0

    def latency_s(self):
        """End-to-end latency (s) of each request that succeeded."""
        r = self.requests[self.requests["ok"]]
        return (r["end_s"] - r["sent_s"]).to_numpy(float)

    def summary(self):
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
    ok = last["outcome"] == "success"
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
    ok = (r["outcome"] == "success").to_numpy(bool)
    return pd.DataFrame({
        "request": r["event_id"], "sent_s": r["arrival_s"].to_numpy(float) - t0,
        "start_s": np.where(ok, r["start_s"].to_numpy(float) - t0, np.nan),
        "end_s": r["end_s"].to_numpy(float) - t0, "ok": ok,
        "error": r["error_type"].where(~r["outcome"].eq("success"), None).to_numpy(object),
    }).sort_values("sent_s", kind="stable").reset_index(drop=True)


def _queue_requests(run, queue, mapping):
    start_of = mapping.processing_starts()
    st = queue.states()
    t0 = run.t0
    ok = (st["state"] == "succeeded").to_numpy(bool)
    return pd.DataFrame({
        "request": st["message_id"], "sent_s": st["sent_s"].to_numpy(float) - t0,
        "start_s": np.array([start_of.get(m, math.nan) for m in st["message_id"]], float) - t0,
        "end_s": np.array([math.nan if d is None else d for d in st["settled_s"]], float) - t0,
        "ok": ok, "error": np.where(ok, None, st["state"].to_numpy(object)),
    }).sort_values("sent_s", kind="stable").reset_index(drop=True)


def run_remedy(name, handler=None, *, workload=None, seed=1, max_connections=MAX_CONNECTIONS, held_by_others=0,
               reserved_concurrency=None, pool_size=None, maximum_concurrency=QUEUE_MAX_CONCURRENCY,
               batch_size=QUEUE_BATCH_SIZE, proxy_percent=PROXY_MAX_CONNECTIONS_PERCENT,
               borrow_timeout_s=PROXY_BORROW_TIMEOUT_S, retry=True):
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
        fn = _deploy(lab, handler or QUEUE_WORKER_SOURCE, "place-orders-worker", **config)
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
    fn = _deploy(lab, code, "place-order", **config)
    run = lab.invoke(fn, workload, retry=sdk)
    return RemedyRun(name, lab, db, run, _sync_requests(run), run.t0, function=fn, proxy=proxy)


def pooled_handler_source(pool_size=1, *, host=DB_HOST, batch=False):
    """A handler module with a DBUtils pool of ``pool_size`` connections per environment
    (opened in Init) to ``host``; ``batch=True`` gives the SQS worker (a loop over
    ``event["Records"]``). With ``pool_size=1`` it behaves like ``DIRECT_SOURCE``."""
    src = pooled_source(pool_size).replace(f'"{DB_HOST}"', f'"{host}"')
    if batch:
        src = src.replace("import pymysql\n", "import json\n\nimport pymysql\n", 1)
        src = src.replace('''def pooled_handler(event, context):
    with pool.connection() as conn, conn.cursor() as cur:   # borrow one; given back at the end of the block
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)
    return {"order": event["order"], "status": "placed"}''', '''def pooled_handler(event, context):
    for record in event["Records"]:
        order = json.loads(record["body"])
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (order["product"],))
        lk.sleep(0.15)
    return {"placed": len(event["Records"])}''')
        if 'event["Records"]' not in src:   # POOLED_SOURCE changed without this function
            raise SimulationError("pooled_handler_source: the SQS variant no longer matches POOLED_SOURCE")
    return src


# ---------------------------------------------------------------------------------------------
# The comparison table and its plots
# ---------------------------------------------------------------------------------------------

def comparison(results):
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


def _steps_xy(times, values, t0, t_end):
    values = np.asarray(values, float)
    x = np.concatenate([[0.0], np.asarray(times, float) - t0, [t_end]])
    y = np.concatenate([[0], values, [values[-1] if len(values) else 0]])
    return x, y


def _latency_by_second(requests, period_s=1.0):
    """p50 and p99 end-to-end latency (s) of the successful requests, by the second they were sent."""
    ok = requests[requests["ok"]]
    if not len(ok):
        return pd.DataFrame(columns=["time_s", "p50", "p99"])
    lat = ok["end_s"] - ok["sent_s"]
    k = np.floor(ok["sent_s"].to_numpy(float) / period_s)
    g = pd.DataFrame({"k": k, "lat": lat.to_numpy(float)}).groupby("k")["lat"]
    out = pd.DataFrame({"p50": g.quantile(0.5), "p99": g.quantile(0.99)}).reset_index()
    out["time_s"] = out["k"] * period_s + period_s / 2
    return out[["time_s", "p50", "p99"]]


def _db_series(r, period_s=1.0):
    m = r.db.metrics(period_s, t0=r.t0, t1=r.t0 + max(r.t1, period_s))
    m["time_s"] = m["time_s"] - r.t0
    return m


def plot_side_by_side(results, title="The same traffic ramp, two architectures"):
    """Columns: one per ``RemedyRun``. Rows: database connections against ``max_connections``;
    refused connections per second; query latency (p99, ms) per second; end-to-end latency
    of the requests (p50 and p99 by the second they were sent, log scale). Shared axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    c = STYLE["colors"]
    n = len(results)
    t_end = max(r.t1 for r in results) * 1.02
    with figure_style(True):
        fig, axes = plt.subplots(4, n, figsize=(4.6 * n + 2.4, 9.0), sharex=True, sharey="row",
                                 layout="constrained", squeeze=False)
        for k, r in enumerate(results):
            col = axes[:, k]
            steps = r.db.connection_steps()
            x, y = _steps_xy(steps["time_s"], steps["open_connections"], r.t0, t_end)
            col[0].step(x, y, where="post", color=c["invocations"], lw=1.6, label="open connections")
            col[0].axhline(r.db.max_connections, color=c["limit"], ls="--", lw=1.1,
                           label=f"max_connections = {r.db.max_connections}")
            if r.server is not None:
                col[0].axhline(r.server.max_connections, color=c["provisioned"], ls=":", lw=1.4,
                               label=f"server bound: {SERVER_PROCESSES} x {SERVER_POOL_SIZE} = "
                                     f"{r.server.max_connections}")
            col[0].set_title(r.label, fontsize=10)
            m = _db_series(r)
            col[1].bar(m["time_s"] + 0.5, m["refused"], width=0.9, color=c["throttles"], label="refused (error 1040)")
            col[2].plot(m["time_s"] + 0.5, m["latency_p99_ms"], color=c["init"], lw=1.6, marker=".", ms=4,
                        label="query latency p99")
            lat = _latency_by_second(r.requests)
            col[3].plot(lat["time_s"], lat["p50"], color=c["invocations"], lw=1.4, label="p50")
            col[3].plot(lat["time_s"], lat["p99"], color=c["cold"], lw=1.6, label="p99")
            col[3].set_yscale("log")
            col[3].yaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]))
            col[3].yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            col[3].yaxis.set_minor_formatter(NullFormatter())
            col[3].set_xlabel("seconds since the ramp started (x: when the request was sent)" if k == 0 else
                              "seconds since the ramp started")
            col[3].set_xlim(0, t_end)
        axes[0, 0].set_ylabel("database connections")
        axes[1, 0].set_ylabel("refused per second")
        axes[2, 0].set_ylabel("query p99 (ms)")
        axes[3, 0].set_ylabel("end-to-end latency (s)")
        axes[0, 0].set_ylim(0, max(r.db.max_connections for r in results) * 1.15)
        for row in range(4):
            handles, labels = [], []
            for k in range(n):
                for h, lab in zip(*axes[row, k].get_legend_handles_labels()):
                    if lab not in labels:
                        handles.append(h)
                        labels.append(lab)
            axes[row, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.suptitle(title, fontsize=12)
    return axes


def plot_connections(results, ncols=3):
    """Small multiples, one panel per ``RemedyRun``: database connections over time against
    ``max_connections`` and, for Lambda, invocations in flight (execution environments busy)."""
    import matplotlib.pyplot as plt
    c = STYLE["colors"]
    n = len(results)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    t_end = max(r.t1 for r in results) * 1.02
    top = max(max(r.db.max_connections, r.summary()["max_concurrency"] if r.function is not None else 0)
              for r in results) * 1.1
    with figure_style(True):
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.0 * nrows), sharex=True, sharey=True,
                                 layout="constrained", squeeze=False)
        for ax, r in zip(axes.flat, results):
            if r.function is not None:
                steps = r.run.concurrency()
                x, y = _steps_xy(steps["time_s"], steps["concurrency"], r.t0, t_end)
                ax.step(x, y, where="post", color=c["idle"], lw=1.0, label="invocations in flight")
            steps = r.db.connection_steps()
            x, y = _steps_xy(steps["time_s"], steps["open_connections"], r.t0, t_end)
            ax.step(x, y, where="post", color=c["invocations"], lw=1.8, label="database connections")
            ax.axhline(r.db.max_connections, color=c["limit"], ls="--", lw=1.1, label="max_connections")
            s = r.summary()
            ax.set_title(f"{r.label}\npeak {s['peak_db_connections']} connections, "
                         f"{s['refused_connections']:,} refused",
                         fontsize=9)
            ax.set_xlim(0, t_end)
            ax.set_ylim(0, top)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for ax in axes[-1, :]:
            ax.set_xlabel("seconds since the ramp started")
        for ax in axes[:, 0]:
            ax.set_ylabel("count")
        handles, labels = [], []
        for ax in axes.flat[:n]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9, frameon=False)
    return axes


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

    def __init__(self, shift, lab, db, v1, v2, before, after, t_deploy):
        self.shift, self.lab, self.db, self.v1, self.v2 = shift, lab, db, v1, v2
        self.before, self.after, self.t_deploy = before, after, t_deploy
        self.requests = _sync_requests(after)

    def __repr__(self):
        ok = int(self.requests["ok"].sum())
        return f"<HerdRun {self.shift}: {ok}/{len(self.requests)} orders placed after the deploy>"

    def summary(self):
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


def deploy_herd(shift="all at once", handler=REFERENCE_SOURCE, *, rate=HERD_RATE, seed=1):
    """Version 1 of ``handler`` warms up and serves ``rate`` orders per second; then version 2
    is deployed and the traffic moves to it ``"all at once"`` or ``"gradually"`` (linearly over
    ``HERD_SHIFT_S``). Both versions connect to the shop's database directly. Returns a
    ``HerdRun``. The arrivals after the deploy are the same for both shifts."""
    import random
    if shift not in HERD_SHIFTS:
        raise InvalidParameterValueException("shift", shift, f"one of {HERD_SHIFTS}")
    lab, db = new_lab(seed)
    v1 = _deploy(lab, handler, "place-order-v1")
    before = [lab.invoke(v1, lk.workload.ramp(0, rate, HERD_WARMUP_S, payload=order)),
              lab.invoke(v1, lk.workload.poisson(rate, HERD_STEADY_S, payload=order))]
    v2 = _deploy(lab, handler, "place-order-v2")
    rng = random.Random(f"{seed}:deploy")
    times = _arrivals(rate, HERD_AFTER_S, rng)
    share = [1.0 if shift == "all at once" else min(1.0, t / HERD_SHIFT_S) for t in times]
    to_v2 = [rng.random() < w for w in share]
    n0 = 1_000_000   # order numbers after the deploy
    parts = {True: ([], []), False: ([], [])}
    for i, (t, new) in enumerate(zip(times, to_v2)):
        parts[new][0].append(t)
        parts[new][1].append(order(n0 + i))
    traffic = [(v2, lk.workload.replay(*parts[True]))]
    if parts[False][0]:
        traffic.append((v1, lk.workload.replay(*parts[False])))
    t_deploy = lab.now
    after = lab.simulate(traffic, retry=lk.SdkRetry())
    return HerdRun(shift, lab, db, v1, v2, before, after, t_deploy)


def herd_table(herds):
    """One row per ``HerdRun``: what the deploy did to the database."""
    return pd.DataFrame([h.summary() for h in herds])


def plot_herd(herds, before_s=5.0):
    """Columns: one per ``HerdRun``. Rows: open connections by version (stacked) against
    ``max_connections``; database CPU; refused connections. Time 0 is the deploy."""
    import matplotlib.pyplot as plt
    c = STYLE["colors"]
    n = len(herds)
    period = 0.25
    with figure_style(True):
        fig, axes = plt.subplots(3, n, figsize=(4.8 * n + 2.4, 7.0), sharex=True, sharey="row",
                                 layout="constrained", squeeze=False)
        for k, h in enumerate(herds):
            col = axes[:, k]
            t0, t1 = h.t_deploy - before_s, h.t_deploy + HERD_AFTER_S
            grid = np.linspace(t0, t1, 2001)
            conns = h.db.connections
            levels = []
            for fn in (h.v1, h.v2):
                mine = conns[conns["function"] == fn.name]
                opened = mine["opened_s"].to_numpy(float)
                closed = mine["closed_s"].fillna(np.inf).to_numpy(float)
                levels.append(((opened[None, :] <= grid[:, None]) & (closed[None, :] > grid[:, None])).sum(axis=1))
            col[0].stackplot(grid - h.t_deploy, levels[0], levels[1], step="post",
                             colors=[c["idle"], c["invocations"]], alpha=0.85,
                             labels=["held by version 1 (old)", "opened by version 2 (new)"])
            col[0].axhline(h.db.max_connections, color=c["limit"], ls="--", lw=1.1,
                           label=f"max_connections = {h.db.max_connections}")
            col[0].axvline(0, color=c["limit"], lw=0.8, ls=":")
            col[0].set_title(f"traffic moves to version 2 {h.shift}", fontsize=10)
            m = h.db.metrics(period, t0=t0, t1=t1)
            x = m["time_s"] - h.t_deploy
            col[1].step(x, m["cpu_utilization"] * 100, where="post", color=c["init"], lw=1.6, label="database CPU")
            col[1].axvline(0, color=c["limit"], lw=0.8, ls=":")
            col[2].bar(x + period / 2, m["refused"] / period, width=period * 0.9, color=c["throttles"],
                       label="refused connections")
            col[2].axvline(0, color=c["limit"], lw=0.8, ls=":", label="the deploy")
            col[2].set_xlabel("seconds since the deploy")
            col[2].set_xlim(-before_s, HERD_AFTER_S)
        axes[0, 0].set_ylabel("database connections")
        axes[1, 0].set_ylabel("CPU busy (%)")
        axes[1, 0].set_ylim(0, 105)
        axes[2, 0].set_ylabel("refused per second")
        axes[0, 0].set_ylim(0, herds[0].db.max_connections * 1.15)
        for row in range(3):
            legend_outside(axes[row, -1])
        fig.suptitle("A deploy under steady traffic: every new environment connects and loads the price list",
                     fontsize=12)
    return axes


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


def peak_connections_and_errors(reserved_concurrency=None, pool_size=1, remedy="none", seed=1):
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


def plot_peak_connections(data, ax):
    """Database connections and invocations in flight over time, ``max_connections``, and the
    headline figures in a box."""
    c = STYLE["colors"]
    t_end = max(data["t_end"], WIDGET_RAMP[2]) * 1.02
    x, y = _steps_xy(data["concurrency"]["time_s"], data["concurrency"]["in_flight"], 0.0, t_end)
    ax.step(x, y, where="post", color=c["idle"], lw=1.0, label="invocations in flight")
    x, y = _steps_xy(data["connections"]["time_s"], data["connections"]["open"], 0.0, t_end)
    ax.step(x, y, where="post", color=c["invocations"], lw=1.8, label="database connections")
    ax.axhline(data["max_connections"], color=c["limit"], ls="--", lw=1.1, label="max_connections")
    p99 = data["latency_p99_s"]
    text = (f"peak connections: {data['peak_connections']} / {data['max_connections']}\n"
            f"refused: {data['refused']:,}   failed requests: {data['failed']:,}\n"
            f"throttles: {data['throttles']:,}   p99: {'-' if p99 != p99 else f'{p99:.2f} s'}")
    bad = data["refused"] or data["failed"]
    ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=8,
            bbox=dict(boxstyle="round", fc="white", ec=c["throttles"] if bad else c["provisioned"], lw=1.2))
    ax.set_xlim(0, t_end)
    ax.set_ylim(0, max(data["max_connections"] * 2.2, data["max_concurrency"] * 1.1))
    ax.set_xlabel("seconds since the ramp started")
    ax.set_ylabel("count")
    ax.set_title("Connections and invocations in flight")
    ax.legend(loc="upper right", fontsize=7)
    return ax


def pool_size_demo(pool_sizes=(1, 10), calls=10, seed=1):
    """``calls`` orders at the same moment to the pooled handler, once per pool size: how many
    connections the environments opened, and how many of them ever ran a statement."""
    rows = []
    for size in pool_sizes:
        lab, db = new_lab(seed)
        fn = _deploy(lab, pooled_source(size), f"pool-{size}")
        run = lab.invoke(fn, lk.workload.parallel(calls, payload=order))
        conns = db.connections
        rows.append({"pool size": size, "environments": run.summary()["environments"],
                     "connections opened": len(conns), "connections used": int((conns["queries"] > 0).sum()),
                     "orders placed": run.summary()["succeeded"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Exercise 1: reserved concurrency and pool size for a ramp
# ---------------------------------------------------------------------------------------------

EX1_RAMP = (0, 400, 20)        # orders per second, from 0 to 400 over 20 s
EX1_HELD_BY_OTHERS = 30        # the old monolith keeps 30 connections open all day
EX1_P99_BOUND_S = 1.0
SETTINGS_KEYS = ("reserved_concurrency", "pool_size")
SETTINGS_PLACEHOLDER = {"reserved_concurrency": ..., "pool_size": ...}


def settings_trial(settings, seed=1):
    """The exercise's ramp (``EX1_RAMP``) through the pooled handler, with
    ``settings = {"reserved_concurrency": R or None, "pool_size": N}``, against the shop's
    database (``MAX_CONNECTIONS``, of which ``EX1_HELD_BY_OTHERS`` are held by another
    application). Callers retry throttles like the AWS SDK. Returns a ``RemedyRun``."""
    if isinstance(settings, dict) and any(v is Ellipsis for v in settings.values()):
        raise InvalidParameterValueException("settings", settings, "fill in both values of my_settings first "
                                             "(replace each ...)")
    _check_settings(settings)
    return run_remedy("no remedy", pooled_handler_source(settings["pool_size"]), workload=order_traffic(*EX1_RAMP),
                      seed=seed, held_by_others=EX1_HELD_BY_OTHERS,
                      reserved_concurrency=settings["reserved_concurrency"])


def settings_report(run):
    """The figures the check looks at, as a one-line text."""
    s = run.summary()
    return (f"database: peak {s['peak_db_connections']} of {MAX_CONNECTIONS} connections "
            f"(the other application holds {EX1_HELD_BY_OTHERS}), {s['refused_connections']} refused | "
            f"orders: {s['requests']}, failed {s['failed_requests']}, throttles {s['throttles']}, "
            f"p99 {s['latency_p99_s']:.2f} s")


def _check_settings(settings):
    if not isinstance(settings, dict):
        raise InvalidParameterValueException("settings", type(settings).__name__, f"a dict with keys {SETTINGS_KEYS}")
    keys = set(settings)
    if keys != set(SETTINGS_KEYS):
        raise InvalidParameterValueException("settings", sorted(keys), f"exactly the keys {SETTINGS_KEYS}")
    r, n = settings["reserved_concurrency"], settings["pool_size"]
    if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 0):
        raise InvalidParameterValueException("reserved_concurrency", r, "None (no reservation) or a whole number >= 0")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameterValueException("pool_size", n, "a whole number >= 1")


@checker(placeholder=SETTINGS_PLACEHOLDER)
def check_settings(answer):
    """No refused connection, no failed order, p99 within the bound, under the exercise's ramp."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Fill in both values of the dict (replace each ...), run that cell, then check again.")
    try:
        _check_settings(answer)
    except InvalidParameterValueException as e:
        return wrong(f"That is not a setting Lambda and DBUtils would accept: {e}")
    r, n = answer["reserved_concurrency"], answer["pool_size"]
    if r == 0:
        return wrong("A reserved concurrency of 0 throttles every call: the database would be safe because no "
                     "order at all gets through.")
    try:
        run = settings_trial(answer)
    except InvalidParameterValueException as e:
        return wrong(f"Lambda would reject this reservation: {e}")
    s = run.summary()
    refused, failed, p99 = s["refused_connections"], s["failed_requests"], s["latency_p99_s"]
    if refused:
        if n > 1:
            return wrong(f"The database refused {refused:,} connections. Each execution environment opened {n} "
                         "connections in Init, but an environment handles one event at a time, so it only ever "
                         "uses one of them: the rest sit idle while other environments are refused.")
        if r is None:
            return wrong(f"The database refused {refused:,} connections. Without a reservation nothing limits how "
                         "many environments Lambda starts for the ramp, and each one opens a connection of its own.")
        return wrong(f"The database refused {refused:,} connections. Your reservation lets Lambda run more "
                     "environments than the database has connections left for this function: count what the "
                     "other application already holds.")
    if failed or not p99 <= EX1_P99_BOUND_S:
        why = (f"{failed:,} orders failed after every retry was throttled" if failed else
               f"p99 was {p99:.2f} s, above the {EX1_P99_BOUND_S:g} s bound: throttled calls waited for their retries")
        if n > 1:
            return wrong(f"No connection was refused, but {why}. With {n} connections per environment, the "
                         "connections left allow too few environments for this traffic.")
        return wrong(f"No connection was refused, but {why}. The reservation is too small for the traffic at the "
                     "top of the ramp.")
    return correct(f"Not one refused connection and no failed order, with p99 {p99:.2f} s "
                   f"(peak {s['peak_db_connections']} connections on the database, the other application's "
                   f"{EX1_HELD_BY_OTHERS} included).")


SETTINGS_HINTS = (
    "Two budgets meet here. The database: how many connections are left for your function once the other "
    "application has its share? The traffic: how many invocations are in flight at the top of the ramp?",
    "An execution environment handles one event at a time, so with a pool of 1 each environment needs exactly "
    "one connection, and reserved concurrency caps the environments. Little's law gives the environments the "
    "traffic needs: requests per second x seconds per request (about 0.16 s here, a little more on cold starts).",
    f"Use pool_size 1. The connections left are {MAX_CONNECTIONS} - {EX1_HELD_BY_OTHERS}; the top of the ramp "
    f"needs about {EX1_RAMP[1]} x 0.16 environments. Pick a reservation between the two, closer to the first: "
    "every unit you give up near the top turns into throttles and slower retries.",
)

SETTINGS_SOLUTION = f'''
my_settings = {{
    "reserved_concurrency": {MAX_CONNECTIONS - EX1_HELD_BY_OTHERS},   # {MAX_CONNECTIONS} - {EX1_HELD_BY_OTHERS}: every connection left, one each
    "pool_size": 1,               # one event at a time per environment: one connection is all it uses
}}
q1.check(my_settings)
'''

settings_exercise = Exercise("reserve-for-the-database", check_settings, hints=SETTINGS_HINTS,
                             solution=SETTINGS_SOLUTION, title="Protect the database, keep p99")


# ---------------------------------------------------------------------------------------------
# Exercise 2: the remedy for a described workload
# ---------------------------------------------------------------------------------------------

CHOICES = ("none", "pool", "reserved concurrency", "queue", "proxy")
_ALIASES = {"none": "none", "no remedy": "none", "pool": "pool", "pool of 10": "pool", "connection pool": "pool",
            "reserved": "reserved concurrency", "reserved concurrency": "reserved concurrency",
            "queue": "queue", "sqs": "queue", "sqs queue": "queue", "proxy": "proxy", "rds proxy": "proxy"}
_RUN_NAME = {"none": "no remedy", "pool": "pool of 10", "reserved concurrency": "reserved concurrency",
             "queue": "queue", "proxy": "proxy"}

WORKLOADS = {
    "flash-sale API": {
        "story": "The checkout API during a flash sale: orders ramp from 0 to 800 per second in 10 seconds. Each "
                 "customer waits for the confirmation; the web page does not retry (a throttle is an error page).",
        "cap": 90, "retry": False, "needs_answer": True,
        "requirements": ("no failed order", "p99 end-to-end latency under 1 s",
                         "the customer gets the confirmation in the same request"),
    },
    "stock import": {
        "story": "A supplier's stock file: 3,000 updates arrive within 2 seconds, sent by an importer that retries "
                 "throttles like the AWS SDK. Nobody waits for the answers, but the shop uses the same database.",
        "cap": 50, "retry": True, "needs_answer": False,
        "requirements": ("no update lost", "all done within 2 minutes",
                         "the database's CPU stays under 50% in every second",
                         "at most 50 database connections"),
    },
}
CPU_LIMIT = 0.5
IMPORT_DEADLINE_S = 120


def workload_traffic(workload):
    if workload == "flash-sale API":
        return order_traffic(0, 800, 10)
    return lk.workload.burst(3000, spread_s=2.0, payload=order)


def remedy_settings(workload):
    """What each remedy means for ``workload`` (the settings ``try_remedy`` uses)."""
    cap = WORKLOADS[workload]["cap"]
    return pd.DataFrame([
        {"remedy": "none", "settings": "one connection per environment, opened in Init"},
        {"remedy": "pool", "settings": "a DBUtils pool of 10 connections per environment, opened in Init"},
        {"remedy": "reserved concurrency", "settings": f"reserved concurrency {cap} (one connection per environment)"},
        {"remedy": "queue", "settings": f"requests go to an SQS queue; MaximumConcurrency {cap}, batch size 1"},
        {"remedy": "proxy", "settings": f"an RDS-Proxy-style proxy allowed {cap}% of max_connections"},
    ])


def normalise_choice(choice):
    """A remedy name from ``CHOICES`` (case and a few aliases forgiven), or None."""
    if not isinstance(choice, str):
        return None
    return _ALIASES.get(" ".join(choice.lower().replace("-", " ").replace("_", " ").split()))


@functools.lru_cache(maxsize=None)
def try_remedy(workload, remedy, seed=1):
    """Run ``workload`` (a key of ``WORKLOADS``) with ``remedy`` (one of ``CHOICES``) and check
    the workload's requirements. Returns a dict: the measured figures and ``verdicts``, a
    list of ``(requirement, met, what was measured)``."""
    if workload not in WORKLOADS:
        raise InvalidParameterValueException("workload", workload, f"one of {tuple(WORKLOADS)}")
    choice = normalise_choice(remedy)
    if choice is None:
        raise InvalidParameterValueException("remedy", remedy, f"one of {CHOICES}")
    w = WORKLOADS[workload]
    cap = w["cap"]
    r = run_remedy(_RUN_NAME[choice], workload=workload_traffic(workload), seed=seed, retry=w["retry"],
                   reserved_concurrency=cap if choice == "reserved concurrency" else None,
                   maximum_concurrency=cap, proxy_percent=cap)
    s = r.summary()
    cpu = float(r.db.metrics(1.0, t0=r.t0)["cpu_utilization"].max())
    out = {"workload": workload, "remedy": choice, "requests": s["requests"], "failed": s["failed_requests"],
           "refused": s["refused_connections"], "throttles": s["throttles"], "p99_s": s["latency_p99_s"],
           "all_done_s": s["all_done_s"], "peak_connections": s["peak_db_connections"],
           "peak_cpu": round(cpu, 2), "max_concurrency": s["max_concurrency"]}
    lost = f"{s['failed_requests']:,} of {s['requests']:,} failed" + \
        (f" ({s['refused_connections']:,} refused connections, {s['throttles']:,} throttles)"
         if s["failed_requests"] else "")
    if workload == "flash-sale API":
        verdicts = [
            ("no failed order", s["failed_requests"] == 0, lost),
            ("p99 end-to-end latency under 1 s", s["latency_p99_s"] < 1.0, f"p99 {s['latency_p99_s']:.2f} s"),
            ("the customer gets the confirmation in the same request", choice != "queue",
             "no: the caller only hears that SQS accepted the message" if choice == "queue" else "yes"),
        ]
    else:
        verdicts = [
            ("no update lost", s["failed_requests"] == 0, lost),
            ("all done within 2 minutes", s["all_done_s"] <= IMPORT_DEADLINE_S, f"done after {s['all_done_s']:g} s"),
            ("the database's CPU stays under 50% in every second", cpu < CPU_LIMIT, f"peak {cpu:.0%}"),
            ("at most 50 database connections", s["peak_db_connections"] <= cap,
             f"peak {s['peak_db_connections']}"),
        ]
    out["verdicts"] = verdicts
    return out


def trial_report(result):
    """``try_remedy``'s result as text: one line per requirement, ✔ or ✘, with what was measured."""
    lines = [f"{result['workload']} with {result['remedy']}:"]
    for req, met, measured in result["verdicts"]:
        lines.append(f"  {'✔' if met else '✘'} {req}: {measured}")
    return "\n".join(lines)


def show_choices(choice):
    """Print ``trial_report`` for each workload of ``choice`` (a dict workload -> remedy)."""
    if not isinstance(choice, dict) or any(v is Ellipsis or v is None for v in choice.values()):
        print("Fill in my_choice first: one remedy per workload, from " + ", ".join(CHOICES) + ".")
        return
    for workload, remedy in choice.items():
        if workload not in WORKLOADS:
            print(f"{workload!r} is not one of the workloads: {', '.join(WORKLOADS)}.")
        elif normalise_choice(remedy) is None:
            print(f"{remedy!r} is not one of the remedies: {', '.join(CHOICES)}.")
        else:
            print(trial_report(try_remedy(workload, normalise_choice(remedy))))


REMEDY_PLACEHOLDER = {w: ... for w in WORKLOADS}

_WHY_NOT = {
    ("flash-sale API", "none"): "Nothing limits the connections: the ramp needs more environments than the "
                                "database has connections, and the extra ones are refused.",
    ("flash-sale API", "pool"): "A pool inside each environment makes it worse: every environment opens ten "
                                "connections and uses one.",
    ("flash-sale API", "reserved concurrency"): "The cap protects the database, but at the top of the ramp the "
                                                "extra calls are throttled, and this caller does not retry.",
    ("flash-sale API", "queue"): "A queue answers 'accepted' and processes the order later: the customer cannot "
                                 "get the confirmation in the same request, and the backlog delays it by seconds.",
    ("stock import", "none"): "The burst starts hundreds of environments at once, far more than the database "
                              "has connections.",
    ("stock import", "pool"): "Ten connections per environment: the database is full after a handful of "
                              "environments.",
    ("stock import", "reserved concurrency"): "The reservation caps the connections, but a burst this size keeps "
                                              "being throttled, and the importer's few retries run out.",
    ("stock import", "proxy"): "The proxy keeps the connections down, but it lets the whole burst reach the "
                               "database at once (and lets Lambda start as many environments as the burst asks "
                               "for): the shop shares that CPU.",
}


@checker(placeholder=REMEDY_PLACEHOLDER)
def check_remedy_choice(answer):
    """The remedy that meets every requirement of each workload."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Choose a remedy for each workload (replace each ...), run that cell, then check again.")
    if not isinstance(answer, dict):
        return wrong("Give a dict: workload -> remedy, like the one in the exercise cell "
                     f"(got a {type(answer).__name__}).")
    missing = [w for w in WORKLOADS if w not in answer]
    if missing:
        return wrong(f"Choose a remedy for every workload: {', '.join(repr(w) for w in missing)} is missing.")
    problems = []
    for workload in WORKLOADS:
        choice = normalise_choice(answer[workload])
        if choice is None:
            return wrong(f"{answer[workload]!r} (for {workload!r}) is not one of the remedies: {', '.join(CHOICES)}.")
        result = try_remedy(workload, choice)
        failed = [f"'{req}' ({measured})" for req, met, measured in result["verdicts"] if not met]
        if failed:
            problems.append(f"{workload} with {choice}: not met: {'; '.join(failed)}. "
                            f"{_WHY_NOT.get((workload, choice), '')}".rstrip())
    if problems:
        return wrong(" | ".join(problems))
    return correct("Both choices meet every requirement. The API needs its answer now, so the fix has to absorb "
                   "the environments without refusing anyone: the proxy. The import can wait, so a queue turns "
                   "its burst into a steady flow the database barely notices.")


REMEDY_HINTS = (
    "Read each workload's requirements first: who waits for the answer, and what must the database be spared? "
    "Then run lesson04.show_choices(my_choice) and read which requirement fails.",
    "Reserved concurrency and a queue both cap the connections, in different ways: one says no to the extra "
    "calls (a throttle), the other makes them wait. A proxy caps the database connections but lets every call "
    "through at once. A pool inside an environment caps nothing across environments.",
    "The flash-sale customers wait and are not retried: nothing may be refused or throttled, and the answer is "
    "needed now. The import can wait two minutes, but must not take the shop's CPU or connections.",
)

REMEDY_SOLUTION = '''
my_choice = {
    "flash-sale API": "proxy",   # every call gets through at once; the proxy shares a few connections
    "stock import": "queue",     # nobody waits: SQS + MaximumConcurrency turns the burst into a steady flow
}
lesson04.show_choices(my_choice)
q2.check(my_choice)
'''

remedy_exercise = Exercise("choose-the-remedy", check_remedy_choice, hints=REMEDY_HINTS, solution=REMEDY_SOLUTION,
                           title="The remedy for the workload")


def prediction_note(prediction, answer, tolerance=0.0):
    """The line a prediction cell prints: the answer, and how the prediction compares.
    ``tolerance``: a relative margin within which a numeric prediction counts as right
    (0.15 = within 15%), for answers no one could hit exactly."""
    if prediction is None:
        return f"Answer: {answer}. (You made no prediction: set my_prediction and run both cells again.)"
    if prediction == answer:
        return f"Answer: {answer}. Your prediction was right."
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (prediction, answer))
    if numbers and tolerance and abs(prediction - answer) <= tolerance * abs(answer):
        return f"Answer: {answer}. You predicted {prediction}: close enough (within {tolerance:.0%})."
    return f"Answer: {answer}. You predicted {prediction}. The output above shows why."


__all__ = [
    "DB_HOST", "PROXY_HOST", "MAX_CONNECTIONS", "DIRECT_SOURCE", "POOLED_SOURCE", "PROXIED_SOURCE",
    "QUEUE_WORKER_SOURCE", "REFERENCE_SOURCE", "handler_name", "place_order", "pooled_source",
    "pooled_handler_source", "new_lab", "order", "order_traffic", "REMEDIES", "RemedyRun", "run_remedy",
    "comparison", "plot_side_by_side", "plot_connections", "deploy_herd", "HerdRun", "herd_table", "plot_herd",
    "peak_connections_and_errors", "plot_peak_connections", "WIDGET_RESERVED", "WIDGET_POOL_SIZES",
    "pool_size_demo", "settings_trial", "settings_report", "check_settings", "settings_exercise", "WORKLOADS",
    "CHOICES", "remedy_settings", "try_remedy", "trial_report", "show_choices", "check_remedy_choice",
    "remedy_exercise", "prediction_note",
]
