"""Simulated relational database: the state model of a MySQL-style server (think a small RDS instance).

This module knows nothing of a driver's call shapes; ``labkit.services.db_client``
(``import pymysql`` in handler code) turns ``conn.cursor().execute(sql, args)``
into calls here, and ``DatabaseError`` into pymysql's exception classes.

Semantics (each pinned by ``tests/test_database.py``):

* **Connections.** Opening one takes ``handshake_s`` of network time (TCP, TLS
  and the protocol greeting), then the server decides at one instant: with
  ``max_connections`` already open it refuses with error 1040 "Too many
  connections" (and counts the refusal); otherwise the connection counts as
  open from that instant, and authentication then uses ``auth_cpu_s`` of the
  server's CPU. Wrong credentials give error 1045 after that. Closing takes no
  time.
* **Ownership.** A connection opened by Lambda handler code belongs to its
  execution environment (the process that holds the socket), whether it was
  opened in init or in an invocation. It stays open until the code closes it,
  until Python drops the last reference to the client object (CPython then
  closes the socket at once: see ``db_client``), or until the environment goes:
  a reset (timeout, crash) or an idle reclaim closes it at that instant
  (``close_reason`` ``"reset"`` / ``"reclaimed"``). The server learns of
  reclaims that happened while it was not looking before every decision, so a
  reclaimed environment's connection never blocks a newer one.
* **Queries.** A statement takes one network round trip (``network_rtt_s``)
  plus its CPU work (``query_cpu_s``, or a function of the SQL) on the server's
  ``vcpus`` cores, shared equally by every statement and authentication in
  service (processor sharing, one core at most per statement). Below
  saturation a statement takes its own CPU time; above it every statement slows
  down in proportion: query latency grows with load. ``SELECT SLEEP(s)`` holds
  the connection for ``s`` more seconds without using CPU, as in MySQL.
* **Data.** Statements run against an in-memory SQLite database at the instant
  they complete (so MySQL-only syntax beyond the basics is not understood).
  labkit simplification: every statement takes effect when it completes, as
  with autocommit; ``COMMIT`` is accepted, and ``ROLLBACK`` after a write in an
  open transaction raises ``NotSupportedError`` rather than pretend to undo it.
  ``SHOW STATUS`` / ``SHOW VARIABLES LIKE '...'`` answer a few counters
  (Threads_connected, Max_used_connections, Connections, Aborted_clients,
  Aborted_connects, Questions; max_connections).
* **Outside a simulation** (a notebook cell) a connection or statement takes
  no time and applies at the Lab's current instant.

Inspection: ``counters()``, ``connections`` (one row per connection),
``queries`` (one row per statement), ``connection_steps()`` (open
connections over time), ``metrics(period_s)`` (a CloudWatch-like time series:
open connections, refusals, queries per second, latency p50/p99, CPU).
"""

from __future__ import annotations

import itertools
import math
import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from .. import bridge, facts, validation
from ..concurrency import CpuScheduler
from ..errors import InvalidParameterValueException, SimulationError
from ..records import (
    ABANDONED,
    DB_CONNECTION_COLUMNS,
    DB_METRIC_COLUMNS,
    DB_QUERY_COLUMNS,
    DB_REFUSAL_COLUMNS,
    ERROR,
    OK,
    ConnectionRecord,
    DatabaseMetrics,
    QueryRecord,
    RefusedConnection,
)
from .timeseries import max_in, open_steps, percentile

if TYPE_CHECKING:
    from ..runtime import Account, Activation, ExecutionEnvironment

QueryCpu = Callable[[str, Any], float]   # (sql, args) -> CPU seconds

Result = namedtuple("Result", "description rows rowcount lastrowid")


class ColumnDescription(NamedTuple):
    """One column of a result, as DB-API's ``cursor.description`` describes it (7 items)."""

    name: str
    type_code: int | None = None
    display_size: int | None = None
    internal_size: int | None = None
    precision: int | None = None
    scale: int | None = None
    null_ok: bool = True


# The DataFrame columns (the fields of the record types in labkit.records).
CONNECTION_COLUMNS = DB_CONNECTION_COLUMNS
QUERY_COLUMNS = DB_QUERY_COLUMNS
REFUSAL_COLUMNS = DB_REFUSAL_COLUMNS
METRIC_COLUMNS = DB_METRIC_COLUMNS

# Close reasons that MySQL counts as Aborted_clients (the client went without COM_QUIT).
ABORTED = ("dropped", "reset", "reclaimed", "aborted")


class DatabaseError(Exception):
    """An error the server (or a proxy) returns: MySQL ``errno``, ``message`` and the DB-API
    class the driver raises for it (``kind``: ``"OperationalError"``, ``"ProgrammingError"`` ...)."""

    def __init__(self, errno: int, message: str, kind: str = "OperationalError") -> None:
        super().__init__(errno, message)
        self.errno, self.message, self.kind = errno, message, kind

    def __str__(self) -> str:
        return f"({self.errno}, {self.message!r})"


def too_many_connections() -> DatabaseError:
    return DatabaseError(facts.MYSQL_ER_CON_COUNT_ERROR, "Too many connections")


def _number(name: str, value: Any, lo: float = 0.0, integer: bool = False, allow_inf: bool = False) -> Any:
    """An integer >= ``lo``, or a number of seconds >= ``lo`` (at most a year, finite unless ``allow_inf``)."""
    if integer:
        return validation.integer(name, value, int(lo))
    if allow_inf:
        return float(validation.number(name, value, lo, allow_inf=True))
    return float(validation.seconds(name, value, lo=lo))


def caller() -> Activation | None:
    """The running simulated activation, or None (a notebook cell)."""
    return bridge.current()


def hold_for_caller(act: Activation | None, resource: Any) -> ExecutionEnvironment | None:
    """Tie ``resource`` to the execution environment running ``act`` (if any); return it."""
    ee = getattr(act, "environment", None) if act is not None else None
    if ee is not None:
        ee.hold(resource)
    return ee


class CpuStep(NamedTuple):
    """From ``time_s`` on, ``jobs`` statements and authentications are in service on the CPU."""

    time_s: float
    jobs: int


# ---------------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------------

class ServerConnection:
    """The server side of one connection (a MySQL thread): who holds it, when it opened and closed."""

    __slots__ = ("id", "server", "owner", "holder", "environment", "function", "opened_in", "request_id",
                 "opened_s", "closed_s", "close_reason", "queries", "in_transaction", "wrote", "autocommit",
                 "user")

    def __init__(self, cid: int, server: DatabaseServer, owner: str, holder: str | None,
                 environment: ExecutionEnvironment | None, function: str | None, opened_in: str | None,
                 request_id: str | None, opened_s: float, user: str | None) -> None:
        self.id, self.server, self.owner, self.holder = cid, server, owner, holder
        self.environment, self.function, self.opened_in = environment, function, opened_in
        self.request_id, self.opened_s, self.user = request_id, opened_s, user
        self.closed_s: float | None = None
        self.close_reason: str | None = None
        self.queries = 0
        self.in_transaction = False   # between BEGIN (or a write with autocommit off) and COMMIT
        self.wrote = False            # a write happened inside the open transaction
        self.autocommit = True

    @property
    def open(self) -> bool:
        return self.closed_s is None

    # The session interface db_client uses (a proxy's client connection has the same one).
    def execute(self, sql: str, args: Any = None) -> Result:
        return self.server.execute(self, sql, args)

    def close(self, reason: str = "close") -> None:
        self.server.close(self, reason)

    def release(self, time_s: float, reason: str) -> None:
        """The holding process went (environment reset or reclaimed): close at ``time_s``."""
        self.server.close(self, reason, time_s=time_s)

    def set_autocommit(self, value: bool) -> None:
        self.autocommit = bool(value)

    def as_record(self) -> ConnectionRecord:
        """The connection as it stands now, as a row of ``DatabaseServer.connections``."""
        return ConnectionRecord(self.id, self.owner, self.holder, self.function, self.opened_in, self.request_id,
                                self.opened_s, self.closed_s, self.close_reason, self.queries)

    def as_dict(self) -> dict[str, Any]:
        return self.as_record()._asdict()

    def __repr__(self) -> str:
        state = "open" if self.open else f"closed ({self.close_reason})"
        return f"<connection {self.id} to {self.server.name} held by {self.holder or self.owner}: {state}>"


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

_PARAM = re.compile(r"%\((\w+)\)s|%s|%%")
_SLEEP = re.compile(r"\bSLEEP\s*\(\s*([0-9]*\.?[0-9]+)\s*\)", re.IGNORECASE)
_SHOW = re.compile(r"^\s*SHOW\s+(?:GLOBAL\s+|SESSION\s+)?(STATUS|VARIABLES)(?:\s+LIKE\s+'([^']*)')?\s*;?\s*$",
                   re.IGNORECASE)
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "TRUNCATE")
_CONTROL = ("BEGIN", "START", "COMMIT", "ROLLBACK", "SET", "SHOW")   # a round trip, no query CPU


def statement_verb(sql: str) -> str:
    """The first keyword of a statement, upper-case (``"SELECT"``, ``"UPDATE"``, ...)."""
    m = re.match(r"\s*(\w+)", sql)
    return m.group(1).upper() if m else ""


def to_sqlite(sql: str, args: Any) -> tuple[str, tuple | dict[str, Any]]:
    """pymysql's ``%s`` / ``%(name)s`` placeholders as SQLite's ``?`` / ``:name``."""
    if args is None:
        return sql, ()
    if isinstance(args, dict):
        values = {k: _value(v) for k, v in args.items()}
        return _PARAM.sub(lambda m: "%" if m.group(0) == "%%" else f":{m.group(1)}" if m.group(1) else "?", sql), values
    if not isinstance(args, (list, tuple)):
        args = (args,)
    return _PARAM.sub(lambda m: "%" if m.group(0) == "%%" else "?", sql), tuple(_value(v) for v in args)


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") and hasattr(v, "day") else v.isoformat()
    return v


class DatabaseServer:
    """One simulated MySQL-compatible database server (an RDS DB instance).

    ``user``/``password``: the credentials it accepts (None: any). ``query_cpu_s`` is a
    number of CPU seconds per statement or a function ``(sql, args) -> seconds``.
    """

    def __init__(self, name: str = "db", *, account: Account | None = None, seed: int = 0, host: str | None = None,
                 max_connections: int = facts.DB_DEFAULT_MAX_CONNECTIONS, vcpus: int = facts.DB_DEFAULT_VCPUS,
                 query_cpu_s: float | QueryCpu = facts.DB_QUERY_CPU_S, handshake_s: float = facts.DB_HANDSHAKE_S,
                 auth_cpu_s: float = facts.DB_AUTH_CPU_S, network_rtt_s: float = facts.DB_NETWORK_RTT_S,
                 user: str | None = None, password: str | None = None, database: str = "app",
                 region: str = "us-east-1") -> None:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,62}", name):
            raise InvalidParameterValueException("DBInstanceIdentifier", name,
                                                 "1-63 letters, digits or hyphens, starting with a letter")
        self.name = name
        self.account = account
        self.env = account.env if account is not None else None
        self.host = (host or f"{name}.c0labkitsim0.{region}.rds.amazonaws.com").lower()
        self.port = facts.MYSQL_PORT
        self.max_connections = _number("max_connections", max_connections, 1, integer=True)
        self.vcpus = _number("vcpus", vcpus, 1, integer=True)
        self._query_cpu: QueryCpu
        if callable(query_cpu_s):
            self._query_cpu = query_cpu_s
        else:
            q = _number("query_cpu_s", query_cpu_s)
            self._query_cpu = lambda sql, args: q
        self.query_cpu_s = query_cpu_s
        self.handshake_s = _number("handshake_s", handshake_s)
        self.auth_cpu_s = _number("auth_cpu_s", auth_cpu_s)
        self.network_rtt_s = _number("network_rtt_s", network_rtt_s)
        self.user, self.password, self.database = user, password, database
        self.cpu = CpuScheduler(self.env, self.vcpus) if self.env is not None else None
        self._sql = sqlite3.connect(":memory:", isolation_level=None)
        self._sql.create_function("SLEEP", 1, lambda s: 0)
        self._sql.create_function("NOW", 0, self._now_text)
        self._ids = itertools.count(1)
        self.conns: list[ServerConnection] = []          # in opening order
        self.open: dict[int, ServerConnection] = {}      # connection id -> connection, open now
        self.peak_open = 0
        self.refusals: list[RefusedConnection] = []
        self.auth_failures = 0
        self.query_records: list[QueryRecord] = []       # one per statement
        self._cpu_jobs = 0              # statements/authentications in service now
        self._cpu_steps: list[CpuStep] = [CpuStep(self._now(), 0)]   # jobs in service from each change on

    def __repr__(self) -> str:
        return (f"<simulated database {self.name}: {len(self.open)}/{self.max_connections} connections, "
                f"{self.vcpus} vCPUs>")

    # -- time ------------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.env.now if self.env is not None else 0.0

    def _now_text(self) -> str:
        epoch = self.account.epoch if self.account is not None else 0.0
        return datetime.fromtimestamp(epoch + self._now(), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    def _check_lab(self, act: Activation | None) -> None:
        if act is not None and self.account is not None and act.lab is not self.account:
            raise SimulationError("a handler called a simulated database that belongs to another Lab")

    def _catch_up(self) -> None:
        """Let the account reclaim environments whose idle time ran out by now (the runtime does
        this lazily): their connections close at the instant they were reclaimed."""
        if self.account is not None:
            self.account.reclaim_idle()

    def _use_cpu(self, act: Activation | None, seconds: float) -> None:
        """Spend ``seconds`` of this server's CPU (shared by everything in service) for ``act``."""
        if act is None or seconds <= 0:
            return
        assert self.cpu is not None, "simulated code runs only in a Lab, and a Lab's database has a CPU"
        ev = self.cpu.request(seconds)
        self._cpu_change(+1)
        ev.callbacks.append(lambda _e: self._cpu_change(-1))
        bridge.wait(ev)

    def _cpu_change(self, delta: int) -> None:
        self._cpu_jobs += delta
        now = self._now()
        if self._cpu_steps[-1].time_s == now:
            self._cpu_steps[-1] = CpuStep(now, self._cpu_jobs)
        else:
            self._cpu_steps.append(CpuStep(now, self._cpu_jobs))

    # -- connections ------------------------------------------------------------------------------
    def connect(self, user: str | None = None, password: str | None = None, database: str | None = None, *,
                owner: str | None = None, holder: str | None = None) -> ServerConnection:
        """Open a connection for the running code (or a notebook); return its ``ServerConnection``.

        ``owner``/``holder`` name who holds it when that is not the calling execution
        environment (a proxy, a server process). Raises ``DatabaseError`` 1040 when
        ``max_connections`` are open, 1045 on wrong credentials."""
        act = caller()
        self._check_lab(act)
        if act is not None and self.handshake_s > 0:
            bridge.sleep(self.handshake_s)
        self._catch_up()
        now = self._now()
        ee = getattr(act, "environment", None) if act is not None and owner is None else None
        if owner is None:
            owner = "lambda" if ee is not None else ("notebook" if act is None else "code")
        if ee is not None:
            holder, function = ee.id, ee.function.name
            opened_in = "init" if ee.needs_init else "invoke"
        else:
            function, opened_in = None, None
        rid = getattr(act, "request_id", None)
        if len(self.open) >= self.max_connections:
            self.refusals.append(RefusedConnection(now, owner, holder, function, rid))
            raise too_many_connections()
        conn = ServerConnection(next(self._ids), self, owner, holder, ee, function, opened_in, rid, now, user)
        self.conns.append(conn)
        self.open[conn.id] = conn
        self.peak_open = max(self.peak_open, len(self.open))
        if ee is not None:
            ee.hold(conn)
        try:
            self._use_cpu(act, self.auth_cpu_s)
        except bridge.Killed:
            if ee is None:     # no environment will release it: the half-open connection goes now
                self.close(conn, "aborted")
            raise
        if (self.user is not None and user != self.user) or (self.password is not None and password != self.password):
            self.auth_failures += 1
            self.close(conn, "auth_failed")
            raise DatabaseError(facts.MYSQL_ER_ACCESS_DENIED_ERROR,
                                f"Access denied for user '{user}'@'10.0.0.1' (using password: "
                                f"{'YES' if password else 'NO'})")
        return conn

    def close(self, conn: ServerConnection, reason: str = "close", time_s: float | None = None) -> None:
        """Close ``conn`` (at ``time_s``, default now). Closing a closed connection does nothing."""
        if conn.closed_s is not None:
            return
        conn.closed_s = self._now() if time_s is None else time_s
        conn.close_reason = reason
        self.open.pop(conn.id, None)
        if conn.environment is not None:
            conn.environment.drop(conn)

    # -- statements -------------------------------------------------------------------------------
    def execute(self, conn: ServerConnection, sql: str, args: Any = None) -> Result:
        """Run one statement on ``conn``; return a ``Result`` or raise ``DatabaseError``."""
        if not isinstance(sql, str):
            raise DatabaseError(1064, "You have an error in your SQL syntax (the query must be a string)",
                                "ProgrammingError")
        if conn.closed_s is not None:
            raise DatabaseError(facts.MYSQL_CR_SERVER_LOST, "Lost connection to MySQL server during query")
        act = caller()
        self._check_lab(act)
        start = self._now()
        cpu_s = 0.0 if statement_verb(sql) in _CONTROL else float(self._query_cpu(sql, args))
        outcome = ERROR
        try:
            if act is not None:
                if self.network_rtt_s > 0:
                    bridge.sleep(self.network_rtt_s)
                self._use_cpu(act, cpu_s)
                m = _SLEEP.search(sql)
                if m:
                    bridge.sleep(float(m.group(1)))
            if conn.closed_s is not None:
                raise DatabaseError(facts.MYSQL_CR_SERVER_LOST, "Lost connection to MySQL server during query")
            result = self._apply(conn, sql, args)
            outcome = OK
            return result
        except bridge.Killed:
            outcome = ABANDONED        # the caller was stopped; the server's work was done anyway
            raise
        except DatabaseError as e:
            outcome = f"{ERROR} {e.errno}"
            raise
        finally:
            conn.queries += 1
            end = self._now()
            self.query_records.append(QueryRecord(conn.id, conn.owner, getattr(act, "request_id", None),
                                                  statement_verb(sql), start, end, (end - start) * 1000,
                                                  cpu_s * 1000, outcome))

    def _apply(self, conn: ServerConnection, sql: str, args: Any) -> Result:
        verb = statement_verb(sql)
        if verb in ("BEGIN", "START"):
            conn.in_transaction, conn.wrote = True, False
            return Result(None, [], 0, None)
        if verb in ("COMMIT", "ROLLBACK"):
            if verb == "ROLLBACK" and conn.wrote:
                conn.in_transaction = conn.wrote = False
                raise DatabaseError(0, "labkit applies every statement when it completes (as with autocommit); "
                                       "ROLLBACK cannot undo the writes of this transaction", "NotSupportedError")
            conn.in_transaction = conn.wrote = False
            return Result(None, [], 0, None)
        if verb == "SET":
            m = re.match(r"\s*SET\s+(?:SESSION\s+|@@session\.)?autocommit\s*=\s*(\w+)", sql, re.IGNORECASE)
            if m:
                conn.autocommit = m.group(1).upper() in ("1", "ON", "TRUE")
            return Result(None, [], 0, None)
        if verb == "SHOW":
            return self._show(sql)
        if verb in _WRITE_VERBS and not conn.autocommit:
            conn.in_transaction = True
        if verb in _WRITE_VERBS and conn.in_transaction:
            conn.wrote = True
        text, values = to_sqlite(sql, args)
        try:
            cur = self._sql.execute(text, values)
        except sqlite3.IntegrityError as e:
            raise DatabaseError(1062, f"Duplicate entry or constraint failed: {e}", "IntegrityError") from None
        except sqlite3.OperationalError as e:
            msg = str(e)
            if "no such table" in msg:
                raise DatabaseError(1146, f"Table '{self.database}.{msg.split(':')[-1].strip()}' doesn't exist",
                                    "ProgrammingError") from None
            raise DatabaseError(1064, f"You have an error in your SQL syntax: {msg}", "ProgrammingError") from None
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError) as e:
            raise DatabaseError(1064, f"Bad statement or parameters: {e}", "ProgrammingError") from None
        except sqlite3.Error as e:
            raise DatabaseError(1105, f"Unknown error: {e}", "InternalError") from None
        description = None
        rows = []
        if cur.description is not None:
            description = tuple(ColumnDescription(name) for name, *_ in cur.description)
            rows = cur.fetchall()
        rowcount = len(rows) if description is not None else cur.rowcount
        return Result(description, rows, rowcount, cur.lastrowid if verb in ("INSERT", "REPLACE") else None)

    def _show(self, sql: str) -> Result:
        m = _SHOW.match(sql)
        if not m:
            raise DatabaseError(1064, "labkit understands SHOW STATUS / SHOW VARIABLES [LIKE '...'] only",
                                "ProgrammingError")
        values = self.status() if m.group(1).upper() == "STATUS" else {"max_connections": self.max_connections}
        pattern = m.group(2)
        if pattern is not None:
            rx = re.compile("^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$", re.IGNORECASE)
            values = {k: v for k, v in values.items() if rx.match(k)}
        rows = [(k, str(v)) for k, v in values.items()]
        desc = (ColumnDescription("Variable_name", null_ok=False), ColumnDescription("Value"))
        return Result(desc, rows, len(rows), None)

    # -- notebook helper -------------------------------------------------------------------------
    def sql(self, statement: str, args: Any = None) -> list[tuple]:
        """Run a statement from a notebook at once, without a connection (to create tables and
        load data); return the rows (a list of tuples)."""
        if caller() is not None:
            raise SimulationError("db.sql() is for notebook set-up; handler code uses pymysql.connect()")
        text, values = to_sqlite(statement, args)
        return self._sql.execute(text, values).fetchall()

    # -- inspection -------------------------------------------------------------------------------
    def status(self) -> dict[str, int]:
        """A few of MySQL's SHOW STATUS counters."""
        self._catch_up()
        return {"Threads_connected": len(self.open), "Max_used_connections": self.peak_open,
                "Connections": len(self.conns) + len(self.refusals),
                "Aborted_clients": sum(c.close_reason in ABORTED for c in self.conns),
                "Aborted_connects": len(self.refusals) + self.auth_failures,
                "Questions": len(self.query_records)}

    def counters(self) -> dict[str, Any]:
        """Headline figures: connections open/peak/opened/refused, statements and their latency."""
        self._catch_up()
        lat = [r.latency_ms for r in self.query_records if r.outcome == OK]
        return {"max_connections": self.max_connections, "open_connections": len(self.open),
                "peak_connections": self.peak_open, "connections_opened": len(self.conns),
                "connections_refused": len(self.refusals),
                "connections_aborted": sum(c.close_reason in ABORTED for c in self.conns),
                "queries": len(self.query_records),
                "query_errors": sum(r.outcome != OK for r in self.query_records),
                "latency_p50_ms": percentile(lat, 50), "latency_p99_ms": percentile(lat, 99)}

    def latency_ms(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) of successful statement latency, in ms (None if none)."""
        return percentile([r.latency_ms for r in self.query_records if r.outcome == OK], q)

    @property
    def connections(self) -> pd.DataFrame:
        """One row per connection ever opened (``CONNECTION_COLUMNS``); ``closed_s`` NaN while open."""
        self._catch_up()
        df = pd.DataFrame([c.as_record() for c in self.conns], columns=list(CONNECTION_COLUMNS))
        df["closed_s"] = df["closed_s"].astype(float)   # None while open -> NaN, as documented
        return df

    @property
    def queries(self) -> pd.DataFrame:
        """One row per statement (``QUERY_COLUMNS``); ``outcome`` ``"ok"``, ``"error <errno>"``
        or ``"abandoned"`` (the caller was stopped while the server worked on it): see
        ``labkit.records.QueryRecord``."""
        return pd.DataFrame(self.query_records, columns=list(QUERY_COLUMNS))

    @property
    def refused(self) -> pd.DataFrame:
        """One row per refused connection (``REFUSAL_COLUMNS``)."""
        return pd.DataFrame(self.refusals, columns=list(REFUSAL_COLUMNS))

    def connection_steps(self) -> pd.DataFrame:
        """Open connections over time: (time_s, open) after each change, as a DataFrame."""
        self._catch_up()
        times, values = open_steps(self.conns)
        return pd.DataFrame({"time_s": times, "open_connections": values})

    def metrics(self, period_s: float = 1.0, t0: float = 0.0, t1: float | None = None) -> pd.DataFrame:
        """A time series per period (``METRIC_COLUMNS``): open connections (the maximum in the
        period, like CloudWatch's DatabaseConnections Maximum), connections opened, closed and
        refused, statements completed and per second, their latency p50/p99 (ms) and CPU
        utilisation (0-1)."""
        validation.number("t0", t0, 0, unit=" seconds")
        self._catch_up()
        t1 = self._now() if t1 is None else validation.number("t1", t1, 0, unit=" seconds")
        validation.period("period_s", period_s, t1 - t0)
        n = max(1, int(math.ceil((t1 - t0) / period_s - 1e-9)))
        edges = [t0 + k * period_s for k in range(n + 1)]
        times, values = open_steps(self.conns)
        rows = []
        q_end = np.array([r.end_s for r in self.query_records]) if self.query_records else np.zeros(0)
        q_lat = np.array([r.latency_ms for r in self.query_records]) if self.query_records else np.zeros(0)
        q_ok = np.array([r.outcome == OK for r in self.query_records], dtype=bool)
        opened = np.array([c.opened_s for c in self.conns])
        closed = np.array([c.closed_s for c in self.conns if c.closed_s is not None])
        refused = np.array([r.time_s for r in self.refusals])
        for k in range(n):
            a, b = edges[k], edges[k + 1]
            last = k == n - 1

            def within(x: np.ndarray, a: float = a, b: float = b, last: bool = last) -> np.ndarray:
                return (x >= a) & ((x <= b) if last else (x < b))
            peak = max_in(times, values, a, b)
            sel = within(q_end) & q_ok if len(q_end) else np.zeros(0, dtype=bool)
            lat = q_lat[sel] if len(q_end) else q_lat
            nq = int(within(q_end).sum()) if len(q_end) else 0
            rows.append(DatabaseMetrics(a, peak, int(within(opened).sum()) if len(opened) else 0,
                                        int(within(closed).sum()) if len(closed) else 0,
                                        int(within(refused).sum()) if len(refused) else 0,
                                        nq, nq / period_s,
                                        float(np.percentile(lat, 50)) if len(lat) else math.nan,
                                        float(np.percentile(lat, 99)) if len(lat) else math.nan,
                                        self._utilisation(a, b)))
        return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))

    def _utilisation(self, a: float, b: float) -> float:
        if b <= a:
            return 0.0
        busy = 0.0
        steps = self._cpu_steps
        for i, step in enumerate(steps):
            t = step.time_s
            t_next = steps[i + 1].time_s if i + 1 < len(steps) else max(b, t)
            lo, hi = max(a, t), min(b, t_next)
            if hi > lo:
                busy += (hi - lo) * min(step.jobs, self.vcpus)
        return busy / ((b - a) * self.vcpus)


__all__ = ["DatabaseServer", "DatabaseError", "ServerConnection", "Result", "ColumnDescription", "CpuStep",
           "CONNECTION_COLUMNS", "QUERY_COLUMNS", "REFUSAL_COLUMNS", "METRIC_COLUMNS", "statement_verb", "to_sqlite",
           "too_many_connections", "hold_for_caller", "caller"]
