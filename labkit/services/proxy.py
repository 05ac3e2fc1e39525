"""Simulated RDS Proxy: many client connections multiplexed onto a few database connections.

Handlers reach a proxy exactly as they reach the database, with
``pymysql.connect(host=proxy.host, ...)`` (see ``db_client``); only the host
differs. Semantics (each pinned by ``tests/test_database.py``):

* **Client connections.** Opening one takes ``handshake_s`` (client to proxy;
  the proxy checks the credentials itself, without the database). The proxy
  accepts up to ``max_client_connections`` (large; beyond it, error 1040 from
  the proxy). Like any connection, a client connection belongs to the execution
  environment that opened it: it goes when the code closes it, when Python drops
  it, or when the environment is reset or reclaimed.
* **Database connections.** At most ``pool_limit = max_connections x
  MaxConnectionsPercent / 100`` (rounded down, at least 1), opened on demand by
  the proxy (paying the database's handshake and authentication, in the time of
  the statement that needed it) and then kept: they show in
  ``database.connections`` with owner ``"proxy"``. labkit simplification:
  ``MaxIdleConnectionsPercent`` and ``IdleClientTimeout`` are not modelled (idle
  database connections stay open; idle clients are not cut off).
* **Multiplexing.** Each statement borrows a database connection for its own
  duration and gives it back (transaction-level reuse), so many clients share a
  few connections. Inside a transaction (``BEGIN`` ... ``COMMIT``, or from a write
  while autocommit is off until ``COMMIT``) the client keeps its connection until
  the transaction ends. **Pinning**: ``SET`` (other than ``autocommit``),
  ``LOCK TABLES``, ``CREATE TEMPORARY TABLE`` and ``PREPARE`` tie the
  connection to that client until it disconnects, as RDS Proxy does for session
  state it cannot track.
* **Borrow wait and timeout.** With every database connection busy (or the
  database refusing new ones), a statement waits in a first-come queue. After
  ``connection_borrow_timeout_s`` (``ConnectionBorrowTimeout``, default 120 s;
  0 waits without limit) it fails with
  ``OperationalError(9501, "Timed-out waiting to acquire database connection")``.
  The wait of every borrow is recorded (``DatabaseConnectionsBorrowLatency``).
* **Overhead.** Each statement through the proxy takes ``overhead_s`` longer.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import deque
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import simpy

from .. import bridge, facts, validation
from ..errors import InvalidParameterValueException
from ..records import (
    OK,
    PROXY_BORROW_COLUMNS,
    PROXY_CLIENT_COLUMNS,
    PROXY_METRIC_COLUMNS,
    TIMEOUT,
    BorrowRecord,
    ClientConnectionRecord,
    ProxyMetrics,
)
from .database import (
    DatabaseError,
    DatabaseServer,
    Result,
    ServerConnection,
    caller,
    hold_for_caller,
    too_many_connections,
)
from .timeseries import max_in, open_steps, percentile

if TYPE_CHECKING:
    from ..runtime import Activation, ExecutionEnvironment

_PIN = re.compile(r"\s*(SET\s+(?!(?:SESSION\s+|@@session\.)?autocommit\b)|LOCK\s+TABLES?\b|"
                  r"CREATE\s+TEMPORARY\s+TABLE\b|PREPARE\b)", re.IGNORECASE)

# The DataFrame columns (the fields of the record types in labkit.records).
CLIENT_COLUMNS = PROXY_CLIENT_COLUMNS
BORROW_COLUMNS = PROXY_BORROW_COLUMNS


def borrow_timeout_error() -> DatabaseError:
    return DatabaseError(facts.RDS_PROXY_BORROW_TIMEOUT_ERROR, facts.RDS_PROXY_BORROW_TIMEOUT_MESSAGE)


class ProxyClientConnection:
    """One client connection to the proxy (the session a handler holds)."""

    __slots__ = ("id", "proxy", "owner", "holder", "environment", "function", "request_id", "opened_s",
                 "closed_s", "close_reason", "statements", "held", "pinned", "autocommit")

    def __init__(self, cid: int, proxy: DatabaseProxy, owner: str, holder: str | None,
                 environment: ExecutionEnvironment | None, function: str | None, request_id: str | None,
                 opened_s: float) -> None:
        self.id, self.proxy, self.owner, self.holder = cid, proxy, owner, holder
        self.environment, self.function, self.request_id, self.opened_s = environment, function, request_id, opened_s
        self.closed_s: float | None = None
        self.close_reason: str | None = None
        self.statements = 0
        self.held: ServerConnection | None = None   # the database connection kept for a transaction or pinned session
        self.pinned = False
        self.autocommit = True

    def execute(self, sql: str, args: Any = None) -> Result:
        return self.proxy.execute(self, sql, args)

    def close(self, reason: str = "close") -> None:
        self.proxy.close(self, reason)

    def release(self, time_s: float, reason: str) -> None:
        self.proxy.close(self, reason, time_s=time_s)

    def set_autocommit(self, value: bool) -> None:
        self.autocommit = bool(value)

    def as_record(self) -> ClientConnectionRecord:
        """The client connection as it stands now, as a row of ``DatabaseProxy.client_connections``."""
        return ClientConnectionRecord(self.id, self.owner, self.holder, self.function, self.request_id,
                                      self.opened_s, self.closed_s, self.close_reason, self.statements, self.pinned)

    def as_dict(self) -> dict[str, Any]:
        return self.as_record()._asdict()


class DatabaseProxy:
    """An RDS-Proxy-style endpoint in front of one ``DatabaseServer``."""

    def __init__(self, database: DatabaseServer, name: str = "proxy", *, host: str | None = None,
                 max_connections_percent: int = facts.RDS_PROXY_DEFAULT_MAX_CONNECTIONS_PERCENT,
                 connection_borrow_timeout_s: float = facts.RDS_PROXY_DEFAULT_BORROW_TIMEOUT_S,
                 max_client_connections: int = facts.RDS_PROXY_MAX_CLIENT_CONNECTIONS,
                 handshake_s: float = facts.RDS_PROXY_HANDSHAKE_S, overhead_s: float = facts.RDS_PROXY_OVERHEAD_S,
                 region: str = "us-east-1") -> None:
        if not isinstance(database, DatabaseServer):
            raise InvalidParameterValueException("TargetGroup", database, "a simulated database (lab.database(...))")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,62}", name):
            raise InvalidParameterValueException("DBProxyName", name,
                                                 "1-63 letters, digits or hyphens, starting with a letter")
        validation.integer("MaxConnectionsPercent", max_connections_percent,
                           *facts.RDS_PROXY_MAX_CONNECTIONS_PERCENT_RANGE)
        lo_s, hi_s = facts.RDS_PROXY_BORROW_TIMEOUT_S_RANGE
        validation.number("ConnectionBorrowTimeout", connection_borrow_timeout_s, lo_s, hi_s,
                          allowed=f"seconds from {lo_s} to {hi_s} (0: wait without limit)")
        validation.integer("max_client_connections", max_client_connections, 1)
        for pname, seconds in (("handshake_s", handshake_s), ("overhead_s", overhead_s)):
            validation.seconds(pname, seconds)
        self.name, self.database = name, database
        self.account, self.env = database.account, database.env
        self.host = (host or f"{name}.proxy-c0labkitsim0.{region}.rds.amazonaws.com").lower()
        self.max_connections_percent = max_connections_percent
        self.pool_limit = max(1, database.max_connections * max_connections_percent // 100)
        self.connection_borrow_timeout_s = float(connection_borrow_timeout_s)
        self.max_client_connections = max_client_connections
        self.handshake_s, self.overhead_s = float(handshake_s), float(overhead_s)
        self._ids = itertools.count(1)
        self.clients: list[ProxyClientConnection] = []            # every client connection
        self.open_clients: dict[int, ProxyClientConnection] = {}
        self.client_refusals: list[float] = []    # time_s of refused client connections
        self.idle: list[ServerConnection] = []    # database connections free to borrow (most recently returned last)
        self.db_conns: list[ServerConnection] = []   # database connections the proxy opened
        self._opening = 0
        self.waiters: deque[simpy.Event] = deque()   # statements waiting to borrow
        self.borrow_records: list[BorrowRecord] = []   # one per borrow

    def __repr__(self) -> str:
        return (f"<simulated RDS Proxy {self.name} -> {self.database.name}: {len(self.open_clients)} clients, "
                f"{len(self._db_open())}/{self.pool_limit} database connections>")

    def _now(self) -> float:
        return self.env.now if self.env is not None else 0.0

    def _db_open(self) -> list[ServerConnection]:
        return [c for c in self.db_conns if c.closed_s is None]

    # -- client connections -------------------------------------------------------------------
    def connect(self, user: str | None = None, password: str | None = None,
                database: str | None = None) -> ProxyClientConnection:
        act = caller()
        self.database._check_lab(act)
        if act is not None and self.handshake_s > 0:
            bridge.sleep(self.handshake_s)
        self.database._catch_up()
        now = self._now()
        if len(self.open_clients) >= self.max_client_connections:
            self.client_refusals.append(now)
            raise too_many_connections()
        db = self.database
        if (db.user is not None and user != db.user) or (db.password is not None and password != db.password):
            raise DatabaseError(facts.MYSQL_ER_ACCESS_DENIED_ERROR,
                                f"Access denied for user '{user}' (using password: {'YES' if password else 'NO'})")
        ee = getattr(act, "environment", None) if act is not None else None
        owner = "lambda" if ee is not None else ("notebook" if act is None else "code")
        c = ProxyClientConnection(next(self._ids), self, owner, ee.id if ee is not None else None,
                                  ee, ee.function.name if ee is not None else None,
                                  getattr(act, "request_id", None), now)
        self.clients.append(c)
        self.open_clients[c.id] = c
        hold_for_caller(act, c)
        return c

    def close(self, c: ProxyClientConnection, reason: str = "close", time_s: float | None = None) -> None:
        if c.closed_s is not None:
            return
        c.closed_s = self._now() if time_s is None else time_s
        c.close_reason = reason
        self.open_clients.pop(c.id, None)
        if c.environment is not None:
            c.environment.drop(c)
        if c.held is not None:
            conn, c.held = c.held, None
            conn.in_transaction = conn.wrote = False   # the session ended: its transaction is over
            self._give_back(conn)

    # -- statements -----------------------------------------------------------------------------
    def execute(self, c: ProxyClientConnection, sql: str, args: Any = None) -> Result:
        if c.closed_s is not None:
            raise DatabaseError(facts.MYSQL_CR_SERVER_LOST, "Lost connection to MySQL server during query")
        act = caller()
        if act is not None and self.overhead_s > 0:
            bridge.sleep(self.overhead_s)
        conn = c.held
        if conn is None or conn.closed_s is not None:
            conn = self._borrow(c, act)
        c.held = conn
        c.statements += 1
        conn.autocommit = c.autocommit
        try:
            return conn.execute(sql, args)
        finally:
            c.autocommit = conn.autocommit
            if isinstance(sql, str) and _PIN.match(sql):
                c.pinned = True
            if c.closed_s is None and not (c.pinned or conn.in_transaction):
                c.held = None
                self._give_back(conn)

    def _borrow(self, c: ProxyClientConnection, act: Activation | None) -> ServerConnection:
        self.database._catch_up()
        start = self._now()
        rid = getattr(act, "request_id", None)
        if self.idle:
            conn = self.idle.pop()
            self.borrow_records.append(BorrowRecord(start, 0.0, OK, c.id, rid))
            return conn
        if len(self._db_open()) + self._opening < self.pool_limit:
            self._opening += 1
            opened: ServerConnection | None
            try:
                opened = self.database.connect(self.database.user, self.database.password, owner="proxy",
                                               holder=self.name)
            except DatabaseError as e:
                if e.errno != facts.MYSQL_ER_CON_COUNT_ERROR:
                    raise
                opened = None     # the database is full: wait for one of ours to come back
            finally:
                self._opening -= 1
            if opened is not None:
                self.db_conns.append(opened)
                self.borrow_records.append(BorrowRecord(start, (self._now() - start) * 1000, OK, c.id, rid))
                return opened
        if act is None:       # a notebook cell cannot wait for simulated time to pass
            self.borrow_records.append(BorrowRecord(start, 0.0, TIMEOUT, c.id, rid))
            raise borrow_timeout_error()
        env = self.env
        assert env is not None, "simulated code runs only in a Lab, and a Lab's proxy has its clock"
        waiter = env.event()
        self.waiters.append(waiter)
        timeout = self.connection_borrow_timeout_s
        try:
            bridge.wait(env.any_of([waiter, env.timeout(timeout)]) if timeout > 0 else waiter)
        except bridge.Killed:
            if waiter.triggered:
                self._give_back(cast(ServerConnection, waiter.value))
            else:
                self.waiters.remove(waiter)
            raise
        wait_ms = (self._now() - start) * 1000
        if waiter.triggered:
            self.borrow_records.append(BorrowRecord(start, wait_ms, OK, c.id, rid))
            return cast(ServerConnection, waiter.value)
        self.waiters.remove(waiter)
        self.borrow_records.append(BorrowRecord(start, wait_ms, TIMEOUT, c.id, rid))
        raise borrow_timeout_error()

    def _give_back(self, conn: ServerConnection) -> None:
        if conn.closed_s is not None:
            return
        while self.waiters:
            w = self.waiters.popleft()
            if not w.triggered:
                w.succeed(conn)
                return
        self.idle.append(conn)

    # -- inspection ------------------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        self.database._catch_up()
        waits = [r.wait_ms for r in self.borrow_records if r.outcome == OK]
        db_steps = open_steps(self.db_conns)
        return {"pool_limit": self.pool_limit,
                "client_connections_open": len(self.open_clients),
                "client_connections_peak": max(open_steps(self.clients).values, default=0),
                "client_connections_opened": len(self.clients),
                "client_connections_refused": len(self.client_refusals),
                "database_connections_open": len(self._db_open()),
                "database_connections_peak": max(db_steps.values, default=0),
                "borrows": len(self.borrow_records),
                "borrow_timeouts": sum(r.outcome == TIMEOUT for r in self.borrow_records),
                "borrow_wait_p50_ms": percentile(waits, 50), "borrow_wait_p99_ms": percentile(waits, 99),
                "pinned_clients": sum(c.pinned for c in self.clients),
                "waiting_now": sum(not w.triggered for w in self.waiters)}

    @property
    def client_connections(self) -> pd.DataFrame:
        self.database._catch_up()
        return pd.DataFrame([c.as_record() for c in self.clients], columns=list(CLIENT_COLUMNS))

    @property
    def borrows(self) -> pd.DataFrame:
        """One row per borrow (``BORROW_COLUMNS``): when it started, how long it waited (ms),
        ``"ok"`` or ``"timeout"``."""
        return pd.DataFrame(self.borrow_records, columns=list(BORROW_COLUMNS))

    def metrics(self, period_s: float = 1.0, t0: float = 0.0, t1: float | None = None) -> pd.DataFrame:
        """Per period: client and database connections (maximum), borrows started, borrow
        timeouts, and the p99 borrow wait (ms) of the borrows that succeeded."""
        validation.number("t0", t0, 0, unit=" seconds")
        self.database._catch_up()
        t1 = self._now() if t1 is None else validation.number("t1", t1, 0, unit=" seconds")
        validation.period("period_s", period_s, t1 - t0)
        n = max(1, int(math.ceil((t1 - t0) / period_s - 1e-9)))
        ct, cv = open_steps(self.clients)
        dt, dv = open_steps(self.db_conns)
        start = np.array([r.time_s for r in self.borrow_records])
        wait = np.array([r.wait_ms for r in self.borrow_records])
        ok = np.array([r.outcome == OK for r in self.borrow_records], dtype=bool)
        rows = []
        for k in range(n):
            a, b = t0 + k * period_s, t0 + (k + 1) * period_s
            inside = (start >= a) & ((start <= b) if k == n - 1 else (start < b)) if len(start) else np.zeros(0, bool)
            w = wait[inside & ok] if len(start) else wait
            rows.append(ProxyMetrics(a, max_in(ct, cv, a, b), max_in(dt, dv, a, b), int(inside.sum()),
                                     int((inside & ~ok).sum()) if len(start) else 0,
                                     float(np.percentile(w, 99)) if len(w) else math.nan))
        return pd.DataFrame(rows, columns=list(PROXY_METRIC_COLUMNS))


__all__ = ["DatabaseProxy", "ProxyClientConnection", "borrow_timeout_error", "CLIENT_COLUMNS", "BORROW_COLUMNS",
           "PROXY_METRIC_COLUMNS"]
