"""The traditional server: the source article's baseline, without Lambda.

``TraditionalServer`` runs ``processes`` worker processes (5), each with a
pool of ``pool_size`` connections (10), so never more than 50 connections.
Requests are spread round-robin over the processes; a request borrows a
connection from its process's pool (waiting first-come when all are busy, up
to ``pool_timeout_s``, then failing with ``PoolTimeout``), runs
``handler(event, conn)`` in simulated time, and gives the connection back.
Connections open on demand and stay open. The pool's wait is the backpressure
the article describes. Every request is registered in the Lab's ledger and
ends ``succeeded`` or ``failed``, and is recorded in ``server.records``
(``SERVER_COLUMNS``), so a lesson can compare it like with like with a Lambda
run.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import pandas as pd
import simpy

from .. import bridge, facts, progress, validation
from ..drivers import Dispatcher, Tracker
from ..errors import InvalidParameterValueException, SimulationError
from ..records import ERROR, FAILED, PENDING, SERVER_COLUMNS, SUCCEEDED, SUCCESS, ServerRequest
from ..runtime import CODE_OK, Activation
from ..workload import Workload
from . import db_client
from .database import DatabaseError, DatabaseServer
from .timeseries import open_steps, percentile


class PoolTimeout(Exception):
    """No pooled connection came back in time (like SQLAlchemy's ``QueuePool limit ... timed out``)."""


RequestHandler = Callable[[Any, db_client.Connection], Any]   # handler(event, conn) -> response


def default_request(event: Any, conn: db_client.Connection) -> int:
    """Run the event's ``sql`` (default ``SELECT 1``) and return the number of rows."""
    sql = event.get("sql", "SELECT 1") if isinstance(event, dict) else "SELECT 1"
    with conn.cursor() as cur:
        return cur.execute(sql)


class _Borrowed(db_client.Connection):
    """A pooled connection lent to one request: ``close()`` is refused (the pool owns it)."""

    def close(self) -> None:
        raise SimulationError("this connection belongs to the server's pool: do not close it in the handler")


class _Process:
    def __init__(self, name: str) -> None:
        self.name = name
        self.idle: list[_Borrowed] = []      # connections free to borrow
        self.count = 0                       # connections open or opening
        self.waiters: deque[simpy.Event] = deque()


class TraditionalServer:
    """``processes`` worker processes with a pool of ``pool_size`` connections each, no Lambda.

    ``handler(event, conn)`` is the request's work: plain Python that uses ``conn``
    (a pymysql-shaped connection; do not close it) and ``lk.sleep`` for other work.
    """

    def __init__(self, dispatcher: Dispatcher, database: DatabaseServer, *, handler: RequestHandler | None = None,
                 processes: int = 5, pool_size: int = 10, pool_timeout_s: float | None = facts.SERVER_POOL_TIMEOUT_S,
                 name: str = "server") -> None:
        validation.integer("processes", processes, 1, validation.MAX_SIMULATED_PROCESSES,
                           allowed=f"an integer from 1 to {validation.MAX_SIMULATED_PROCESSES:,} (labkit's limit)")
        validation.integer("pool_size", pool_size, 1)
        if pool_timeout_s is not None:
            validation.seconds("pool_timeout_s", pool_timeout_s, lo_open=True, allowed=f"None (wait forever) or "
                               f"seconds > 0 and at most {validation.MAX_SIMULATED_S:,.0f}")
        if handler is not None and not callable(handler):
            raise InvalidParameterValueException("handler", handler, "a function handler(event, conn)")
        if getattr(database, "account", None) is not dispatcher.account:
            raise SimulationError("the database belongs to another Lab")
        self.dispatcher, self.database, self.account = dispatcher, database, dispatcher.account
        self.ledger = dispatcher.ledger
        self.env = dispatcher.env
        self.handler: RequestHandler = handler or default_request
        self.name = name
        self.pool_size, self.pool_timeout_s = pool_size, pool_timeout_s
        self.processes = [_Process(f"{name}-p{k + 1}") for k in range(processes)]
        self._next = itertools.count()
        self._ids = random.Random(f"{dispatcher.seed}:server:{name}")
        self.records: list[ServerRequest] = []
        self.logs: dict[str, list[str]] = {}     # request_id -> printed lines

    def __repr__(self) -> str:
        return (f"<traditional server {self.name}: {len(self.processes)} processes x pool of {self.pool_size} "
                f"-> {self.database.name}>")

    @property
    def max_connections(self) -> int:
        """The bound the architecture guarantees: processes x pool size."""
        return len(self.processes) * self.pool_size

    # -- pool of one process -----------------------------------------------------------------
    def _acquire(self, proc: _Process) -> _Borrowed:
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

    def _give_back(self, proc: _Process, conn: _Borrowed) -> None:
        if conn._session is None or conn._session.closed_s is not None:
            proc.count -= 1
        else:
            proc.idle.append(conn)
        while proc.waiters:
            w = proc.waiters.popleft()
            if not w.triggered:
                w.succeed()
                break

    def _serve_one(self, proc: _Process, event: Any, rec: ServerRequest) -> Any:
        conn = self._acquire(proc)
        rec.start_s = self.env.now
        try:
            return self.handler(event, conn)
        finally:
            self._give_back(proc, conn)

    def _request(self, event: Any, event_id: str, tracker: Tracker) -> Generator:
        env, acct = self.env, self.account
        proc = self.processes[next(self._next) % len(self.processes)]
        rid = f"{self._ids.getrandbits(128):032x}"
        rid = f"{rid[:8]}-{rid[8:12]}-{rid[12:16]}-{rid[16:20]}-{rid[20:]}"
        arrival = env.now
        rec = ServerRequest(rid, event_id, proc.name, arrival)
        self.records.append(rec)
        log: list[str] = []
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
            etype, emsg, *_ = value if isinstance(value, tuple) else ("Error", str(value))
            rec.outcome, rec.error_type, rec.error_message = ERROR, etype, emsg
            self.ledger.settle(event_id, FAILED, now, etype)
        if log:
            self.logs[rid] = log
        tracker.finished_one()

    def _driver(self, wl: Workload, rng: random.Random, tracker: Tracker, t0: float) -> Generator:
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

    def serve(self, workload: Workload) -> ServerRun:
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
    def db_connections(self) -> pd.DataFrame:
        """The server's connections on the database (its rows of ``database.connections``)."""
        df = self.database.connections
        return df.loc[(df["owner"] == "server") & df["holder"].isin([p.name for p in self.processes])]

    def peak_connections(self, t0: float = -math.inf, t1: float = math.inf) -> int:
        mine = [c for c in self.database.conns if c.owner == "server" and c.holder in {p.name for p in self.processes}]
        steps = open_steps(mine)
        return max((v for t, v in zip(steps.times, steps.values, strict=True) if t0 <= t <= t1), default=0)


class ServerRun:
    """What one ``TraditionalServer.serve`` did: ``requests`` and ``summary()``."""

    def __init__(self, server: TraditionalServer, i0: int, i1: int, t0: float, t1: float) -> None:
        self.server, self.t0, self.t1 = server, t0, t1
        self._records = server.records[i0:i1]

    @property
    def requests(self) -> pd.DataFrame:
        return pd.DataFrame([r.as_tuple() for r in self._records], columns=list(SERVER_COLUMNS))

    def summary(self) -> dict[str, Any]:
        """Headline figures, named like ``Run.summary()`` where they mean the same."""
        recs = self._records
        ok = [r for r in recs if r.outcome == SUCCESS]
        lat = [r.latency_ms for r in recs if r.outcome is not None]
        ledger = self.server.ledger
        states = ledger.counts([r.event_id for r in recs]) if recs else {}
        return {"calls": len(recs), "succeeded": len(ok), "failed": sum(r.outcome == ERROR for r in recs),
                "pending": states.get(PENDING, 0),
                "latency_p50_ms": percentile(lat, 50), "latency_p99_ms": percentile(lat, 99),
                "wait_p99_ms": percentile([r.wait_ms for r in recs if r.outcome is not None], 99),
                "peak_db_connections": self.server.peak_connections(),
                "connection_bound": self.server.max_connections,
                "simulated_s": round(self.t1 - self.t0, 3)}


__all__ = ["TraditionalServer", "ServerRun", "ServerRequest", "PoolTimeout", "SERVER_COLUMNS", "default_request"]
