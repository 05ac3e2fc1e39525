"""Connection pools: one inside an execution environment, and the traditional server baseline.

**In a Lambda environment** handler code uses DBUtils' pool, as it would on AWS
(``pip install DBUtils``); inside simulated code ``from dbutils.pooled_db import
PooledDB`` gives ``PooledDB`` below::

    import pymysql
    from dbutils.pooled_db import PooledDB

    pool = PooledDB(pymysql, maxconnections=1, host=HOST, user="admin", password="secret")

    def handler(event, context):
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone()[0]

Semantics follow DBUtils 3: ``mincached`` connections are opened when the pool
is created (in init, so they are held for the environment's whole life);
``maxcached`` caps the idle ones kept (0: no cap; extra ones are closed when
returned); ``maxconnections`` caps connections in use at once (0: no cap);
when that cap is reached ``blocking=True`` waits for one to come back and
``blocking=False`` raises ``TooManyConnections``. ``pool.connection()`` takes
the oldest idle connection (or opens one); ``close()`` on it (or leaving a
``with`` block, or dropping it) gives it back.

Why size 1 is the usual right answer in Lambda: an environment runs one event
at a time, so a handler that borrows one connection per event never has two in
use; a bigger pool cannot be used, and whatever it opens ahead (``mincached``)
is held idle against the database's ``max_connections`` in every environment.

**The traditional server** (``TraditionalServer``) is the source article's
baseline: ``processes`` worker processes (5), each with a pool of
``pool_size`` connections (10), so never more than 50 connections. Requests
are spread round-robin over the processes; a request borrows a connection from
its process's pool (waiting first-come when all are busy, up to
``pool_timeout_s``, then failing with ``PoolTimeout``), runs ``handler(event,
conn)`` in simulated time, and gives the connection back. Connections open on
demand and stay open. The pool's wait is the backpressure the article
describes. Every request is registered in the Lab's ledger and ends
``succeeded`` or ``failed``, and is recorded in ``server.records``
(``SERVER_COLUMNS``), so a lesson can compare it like with like with a Lambda
run.
"""

import itertools
import math
import random
import types
from collections import deque
from dataclasses import dataclass

from .. import bridge, facts, progress
from ..errors import InvalidParameterValueException, SimulationError
from ..drivers import Tracker
from ..records import ERROR, FAILED, SUCCEEDED, SUCCESS
from ..runtime import CODE_OK, Activation
from ..workload import Workload
from . import db_client
from .database import DatabaseError, _pct, _steps


# ---------------------------------------------------------------------------------------------
# DBUtils PooledDB (handler side)
# ---------------------------------------------------------------------------------------------

class PooledDBError(Exception):
    """General PooledDB error."""


class InvalidConnectionError(PooledDBError):
    """Database connection is invalid."""


class NotSupportedError(PooledDBError):
    """DB-API module not supported by PooledDB."""


class TooManyConnections(PooledDBError):
    """Too many database connections were opened."""


class PooledDedicatedDBConnection:
    """A connection borrowed from a ``PooledDB``; ``close()`` gives it back to the pool."""

    def __init__(self, pool, con):
        self._pool, self._con = pool, con

    def close(self):
        if self._con is not None:
            con, self._con = self._con, None
            self._pool.cache(con)

    def __getattr__(self, name):
        if self._con is None:
            raise InvalidConnectionError("the connection was given back to the pool")
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (as DBUtils: never raise from a finalizer)
            pass


class PooledDB:
    """``dbutils.pooled_db.PooledDB``: a pool of DB-API connections inside one process."""

    def __init__(self, creator, mincached=0, maxcached=0, maxshared=0, maxconnections=0, blocking=False,
                 maxusage=None, setsession=None, reset=True, failures=None, ping=1, *args, **kwargs):
        if not callable(getattr(creator, "connect", None)) and not callable(creator):
            raise NotSupportedError("Database module is not thread-safe.")
        for name, v in (("mincached", mincached), ("maxcached", maxcached), ("maxconnections", maxconnections)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InvalidParameterValueException(name, v, "an integer >= 0")
        self._creator, self._args, self._kwargs = creator, args, kwargs
        self._blocking = blocking
        if maxcached and maxcached < mincached:
            maxcached = mincached
        self._maxcached = maxcached
        if maxconnections and maxconnections < maxcached:
            maxconnections = maxcached
        self._maxconnections = maxconnections
        self._idle_cache = []
        self._connections = 0
        self._waiters = deque()
        idle = [self.dedicated_connection() for _ in range(mincached)]
        while idle:
            idle.pop().close()

    def steady_connection(self):
        connect = getattr(self._creator, "connect", self._creator)
        return connect(*self._args, **self._kwargs)

    def connection(self, shareable=True):
        """Borrow a connection (pymysql has threadsafety 1, so connections are never shared)."""
        return self.dedicated_connection()

    def dedicated_connection(self):
        while self._maxconnections and self._connections >= self._maxconnections:
            act = bridge.current()
            if not self._blocking or act is None:
                raise TooManyConnections()
            ev = act.env.event()
            self._waiters.append(ev)
            bridge.wait(ev)
        try:
            con = self._idle_cache.pop(0)
        except IndexError:
            con = self.steady_connection()
        self._connections += 1
        return PooledDedicatedDBConnection(self, con)

    def cache(self, con):
        """Take back a connection: keep it idle (up to ``maxcached``) or close it."""
        if not self._maxcached or len(self._idle_cache) < self._maxcached:
            self._idle_cache.append(con)
        else:
            con.close()
        self._connections -= 1
        while self._waiters:
            w = self._waiters.popleft()
            if not w.triggered:
                w.succeed()
                break

    def close(self):
        """Close every idle connection."""
        while self._idle_cache:
            con = self._idle_cache.pop(0)
            try:
                con.close()
            except Exception:  # noqa: BLE001
                pass

    def __repr__(self):
        return (f"<PooledDB (simulated): {self._connections} in use, {len(self._idle_cache)} idle, "
                f"maxconnections={self._maxconnections or 'unlimited'}>")


def _dbutils_modules():
    pooled = types.ModuleType("dbutils.pooled_db", "DBUtils' PooledDB in the simulator")
    for cls in (PooledDB, PooledDBError, InvalidConnectionError, NotSupportedError, TooManyConnections,
                PooledDedicatedDBConnection):
        setattr(pooled, cls.__name__, cls)
    top = types.ModuleType("dbutils", "DBUtils in the simulator")
    top.__version__ = "3.1.0"
    top.pooled_db = pooled
    return {"dbutils": top, "dbutils.pooled_db": pooled}


DBUTILS_MODULES = _dbutils_modules()


def install_kernel_modules():
    """If DBUtils is not installed, make ``from dbutils.pooled_db import PooledDB`` work in the kernel."""
    import importlib.util
    import sys
    if "dbutils" in sys.modules or importlib.util.find_spec("dbutils") is not None:
        return
    sys.modules.update(DBUTILS_MODULES)


# ---------------------------------------------------------------------------------------------
# The traditional server baseline
# ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class ServerRequest:
    """One request to the traditional server: arrival, start (connection in hand), end, the
    wait for a connection and the whole latency, its outcome and response."""

    request_id: str
    event_id: str
    process: str
    arrival_s: float
    start_s: float = math.nan
    end_s: float = math.nan
    wait_ms: float = math.nan
    latency_ms: float = math.nan
    outcome: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    response: object = None

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, c) for c in SERVER_COLUMNS)


SERVER_COLUMNS = tuple(ServerRequest.__dataclass_fields__)


class PoolTimeout(Exception):
    """No pooled connection came back in time (like SQLAlchemy's ``QueuePool limit ... timed out``)."""


def default_request(event, conn):
    """Run the event's ``sql`` (default ``SELECT 1``) and return the number of rows."""
    sql = event.get("sql", "SELECT 1") if isinstance(event, dict) else "SELECT 1"
    with conn.cursor() as cur:
        return cur.execute(sql)


class _Borrowed(db_client.Connection):
    """A pooled connection lent to one request: ``close()`` is refused (the pool owns it)."""

    def close(self):
        raise SimulationError("this connection belongs to the server's pool: do not close it in the handler")


class _Process:
    def __init__(self, name):
        self.name = name
        self.idle = []           # db_client connections free to borrow
        self.count = 0           # connections open or opening
        self.waiters = deque()


class TraditionalServer:
    """``processes`` worker processes with a pool of ``pool_size`` connections each, no Lambda.

    ``handler(event, conn)`` is the request's work: plain Python that uses ``conn``
    (a pymysql-shaped connection; do not close it) and ``lk.sleep`` for other work.
    """

    def __init__(self, dispatcher, database, *, handler=None, processes=5, pool_size=10,
                 pool_timeout_s=facts.SERVER_POOL_TIMEOUT_S, name="server"):
        for pname, v in (("processes", processes), ("pool_size", pool_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterValueException(pname, v, "an integer >= 1")
        if pool_timeout_s is not None and (isinstance(pool_timeout_s, bool) or not isinstance(pool_timeout_s, (int, float))
                                           or not pool_timeout_s > 0):
            raise InvalidParameterValueException("pool_timeout_s", pool_timeout_s, "None (wait forever) or seconds > 0")
        if handler is not None and not callable(handler):
            raise InvalidParameterValueException("handler", handler, "a function handler(event, conn)")
        if getattr(database, "account", None) is not dispatcher.account:
            raise SimulationError("the database belongs to another Lab")
        self.dispatcher, self.database, self.account = dispatcher, database, dispatcher.account
        self.ledger = dispatcher.ledger
        self.env = dispatcher.env
        self.handler = handler or default_request
        self.name = name
        self.pool_size, self.pool_timeout_s = pool_size, pool_timeout_s
        self.processes = [_Process(f"{name}-p{k + 1}") for k in range(processes)]
        self._next = itertools.count()
        self._ids = random.Random(f"{dispatcher.seed}:server:{name}")
        self.records = []        # ServerRequest records
        self.logs = {}           # request_id -> printed lines

    def __repr__(self):
        return (f"<traditional server {self.name}: {len(self.processes)} processes x pool of {self.pool_size} "
                f"-> {self.database.name}>")

    @property
    def max_connections(self):
        """The bound the architecture guarantees: processes x pool size."""
        return len(self.processes) * self.pool_size

    # -- pool of one process -----------------------------------------------------------------
    def _acquire(self, proc):
        env = self.env
        start = env.now
        while True:
            if proc.idle:
                return proc.idle.pop()
            if proc.count < self.pool_size:
                proc.count += 1
                db = self.database
                try:
                    session = db.connect(db.user, db.password, db.database, owner="server", holder=proc.name)
                except DatabaseError as e:
                    proc.count -= 1
                    raise db_client.translate(e) from None
                except BaseException:
                    proc.count -= 1
                    raise
                conn = _Borrowed(host=db.host, defer_connect=True)
                conn._session = session
                return conn
            left = math.inf if self.pool_timeout_s is None else start + self.pool_timeout_s - env.now
            if left <= 0:
                raise PoolTimeout(f"QueuePool limit of size {self.pool_size} overflow 0 reached, connection "
                                  f"timed out, timeout {self.pool_timeout_s:.2f}")
            ev = env.event()
            proc.waiters.append(ev)
            bridge.wait(ev if left == math.inf else env.any_of([ev, env.timeout(left)]))
            if not ev.triggered:
                proc.waiters.remove(ev)

    def _give_back(self, proc, conn):
        if conn._session is None or conn._session.closed_s is not None:
            proc.count -= 1
        else:
            proc.idle.append(conn)
        while proc.waiters:
            w = proc.waiters.popleft()
            if not w.triggered:
                w.succeed()
                break

    def _serve_one(self, proc, event, rec):
        conn = self._acquire(proc)
        rec.start_s = self.env.now
        try:
            return self.handler(event, conn)
        finally:
            self._give_back(proc, conn)

    def _request(self, event, event_id, tracker):
        env, acct = self.env, self.account
        proc = self.processes[next(self._next) % len(self.processes)]
        rid = "%032x" % self._ids.getrandbits(128)
        rid = f"{rid[:8]}-{rid[8:12]}-{rid[12:16]}-{rid[16:20]}-{rid[20:]}"
        arrival = env.now
        rec = ServerRequest(rid, event_id, proc.name, arrival)
        self.records.append(rec)
        log = []
        act = Activation(acct, 1.0, log, rid)
        status, value = yield from acct._run_code(act, self._serve_one, (proc, event, rec), math.inf)
        now = env.now
        rec.end_s = now
        rec.wait_ms = ((rec.start_s if not math.isnan(rec.start_s) else now) - arrival) * 1000
        rec.latency_ms = (now - arrival) * 1000
        if status == CODE_OK:
            rec.outcome, rec.response = SUCCESS, value
            self.ledger.settle(event_id, SUCCEEDED, now)
        else:
            etype, emsg = (value[0], value[1]) if isinstance(value, tuple) else ("Error", str(value))
            rec.outcome, rec.error_type, rec.error_message = ERROR, etype, emsg
            self.ledger.settle(event_id, FAILED, now, etype)
        if log:
            self.logs[rid] = log
        tracker.finished_one()

    def _driver(self, wl, rng, tracker, t0):
        env = self.env
        for offset, event in wl.events(rng):
            delay = t0 + offset - env.now
            if delay > 0:
                yield env.timeout(delay)
            event_id = self.dispatcher.next_event_id()
            self.ledger.register(event_id, env.now)
            tracker.pending += 1
            env.process(self._request(event, event_id, tracker))
        tracker.driver_finished()

    def serve(self, workload):
        """Serve ``workload`` (an open-loop ``lk.workload``) and return a ``ServerRun`` when every
        request has ended."""
        bridge.refuse_inside_handler("server.serve()")
        if not isinstance(workload, Workload) or workload.closed:
            raise InvalidParameterValueException("workload", workload, "an open-loop lk.workload.* object")
        env = self.env
        rng = self.dispatcher.workload_rng()
        t0 = env.now
        rec0 = len(self.records)
        tracker = Tracker(env)
        tracker.drivers = 1
        env.process(self._driver(workload, rng, tracker, t0))
        progress.run_until(env, tracker.done, t0, workload.horizon_s)
        self.account.reclaim_idle()
        return ServerRun(self, rec0, len(self.records), t0, env.now)

    # -- inspection ------------------------------------------------------------------------------
    def db_connections(self):
        """The server's connections on the database (its rows of ``database.connections``)."""
        df = self.database.connections
        return df[(df["owner"] == "server") & df["holder"].isin([p.name for p in self.processes])]

    def peak_connections(self, t0=-math.inf, t1=math.inf):
        mine = [c for c in self.database.conns if c.owner == "server" and c.holder in {p.name for p in self.processes}]
        times, values = _steps(mine)
        return max((v for t, v in zip(times, values) if t0 <= t <= t1), default=0)


class ServerRun:
    """What one ``TraditionalServer.serve`` did: ``requests`` and ``summary()``."""

    def __init__(self, server, i0, i1, t0, t1):
        self.server, self.t0, self.t1 = server, t0, t1
        self._records = server.records[i0:i1]

    @property
    def requests(self):
        import pandas as pd
        return pd.DataFrame([r.as_tuple() for r in self._records], columns=list(SERVER_COLUMNS))

    def summary(self):
        """Headline figures, named like ``Run.summary()`` where they mean the same."""
        recs = self._records
        ok = [r for r in recs if r.outcome == SUCCESS]
        lat = [r.latency_ms for r in recs if r.outcome is not None]
        ledger = self.server.ledger
        states = ledger.counts([r.event_id for r in recs]) if recs else {}
        return {"calls": len(recs), "succeeded": len(ok), "failed": sum(r.outcome == ERROR for r in recs),
                "pending": states.get("pending", 0),
                "latency_p50_ms": _pct(lat, 50), "latency_p99_ms": _pct(lat, 99),
                "wait_p99_ms": _pct([r.wait_ms for r in recs if r.outcome is not None], 99),
                "peak_db_connections": self.server.peak_connections(),
                "connection_bound": self.server.max_connections,
                "simulated_s": round(self.t1 - self.t0, 3)}


__all__ = ["PooledDB", "TooManyConnections", "PooledDBError", "DBUTILS_MODULES", "TraditionalServer", "ServerRun",
           "PoolTimeout", "SERVER_COLUMNS", "default_request", "install_kernel_modules"]

