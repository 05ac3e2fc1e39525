"""pymysql's call shapes over the simulated database (the API layer over ``database.py`` and ``proxy.py``).

Inside simulated handler code ``import pymysql`` gives a module built here (the
Lab registers it in ``Account.module_overrides``), so the handler is ordinary
code that would run on AWS with the real driver::

    import pymysql

    conn = pymysql.connect(host="orders.c0labkitsim0.us-east-1.rds.amazonaws.com",
                           user="admin", password="secret", database="app")   # init: once per environment

    def handler(event, context):
        with conn.cursor() as cur:
            cur.execute("SELECT stock FROM items WHERE id = %s", (event["id"],))
            return cur.fetchone()[0]

What matches pymysql 1.x: ``connect(**kwargs)`` (keyword arguments only; ``db``
and ``passwd`` aliases; ``defer_connect``; ``autocommit``; ``cursorclass``),
``Connection.cursor/commit/rollback/begin/close/ping/autocommit/
get_autocommit/thread_id/open`` and ``with conn:`` (closes it), cursors
(``execute`` returns the affected row count, ``executemany``, ``fetchone``,
``fetchmany``, ``fetchall``, iteration, ``rowcount``, ``lastrowid``,
``description``, ``with conn.cursor() as cur:``), ``pymysql.cursors.DictCursor``,
``%s`` / ``%(name)s`` parameters, and the exception classes of ``pymysql.err``
(also on ``pymysql``), raised with ``(errno, message)`` like the real driver:
``OperationalError(1040, 'Too many connections')`` when the server is full,
``OperationalError(1045, "Access denied ...")``, ``OperationalError(2003,
"Can't connect to MySQL server on ...")`` for an unknown host,
``InterfaceError(0, '')`` on a closed connection, ``Error('Already closed')``
when closing twice.

Garbage collection: as in CPython with the real driver, a connection object that
nothing references any more (a local variable when the handler returns) has
its socket closed at once, so the server sees it go (``close_reason``
``"dropped"``, counted in Aborted_clients). A connection that stays referenced
(a module-level variable, a list in the module) stays open until closed or
until its execution environment is reset or reclaimed.

Outside a simulation (a notebook cell, including a handler cell run in the
kernel) ``connect()`` only records its arguments; the connection opens, in no
simulated time, at its first statement. So a handler cell's module-level
``connect`` holds nothing in the kernel. When the real pymysql is not
installed, ``import pymysql`` in the kernel gives a module like this one,
wired to the most recently created simulated database for each host.
"""

from __future__ import annotations

import builtins
import importlib.util
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

from .. import bridge, facts
from . import database as _db

# -- pymysql.err --------------------------------------------------------------------------------

class MySQLError(Exception):
    """Exception related to operation with MySQL."""


class Warning(builtins.Warning, MySQLError):  # noqa: A001  (pymysql's own name)
    pass


class Error(MySQLError):
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


ERROR_CLASSES = {c.__name__: c for c in (Error, InterfaceError, DatabaseError, DataError, OperationalError,
                                         IntegrityError, InternalError, ProgrammingError, NotSupportedError)}


def translate(e: _db.DatabaseError) -> Error:
    """A server-side ``database.DatabaseError`` as the pymysql exception the driver raises."""
    return ERROR_CLASSES.get(e.kind, OperationalError)(e.errno, e.message)


def _err_module() -> types.ModuleType:
    m = types.ModuleType("pymysql.err", "pymysql.err in the simulator")
    for name, cls in {"MySQLError": MySQLError, "Warning": Warning, **ERROR_CLASSES}.items():
        setattr(m, name, cls)
    return m


# -- cursors ------------------------------------------------------------------------------------

class Cursor:
    """A DB-API cursor: rows come back as tuples."""

    def __init__(self, connection):
        self.connection = connection
        self.description = None
        self.rowcount = -1
        self.rownumber = 0
        self.lastrowid = None
        self.arraysize = 1
        self._rows = []
        self._closed = False

    def _row(self, row):
        return row

    def execute(self, query, args=None):
        """Run one statement; return the number of affected (or returned) rows."""
        if self._closed or self.connection is None:
            raise ProgrammingError("Cursor closed")
        res = self.connection._execute(query, args)
        self.description = res.description
        self.rowcount = res.rowcount
        self.lastrowid = res.lastrowid
        self._rows = [self._row(r) for r in res.rows]
        self.rownumber = 0
        return res.rowcount

    def executemany(self, query, args):
        """Run the statement once per parameter set; return the total affected rows."""
        total = 0
        for a in args:
            total += self.execute(query, a)
        self.rowcount = total
        return total

    def fetchone(self):
        if self.rownumber >= len(self._rows):
            return None
        self.rownumber += 1
        return self._rows[self.rownumber - 1]

    def fetchmany(self, size=None):
        size = self.arraysize if size is None else size
        out = self._rows[self.rownumber:self.rownumber + size]
        self.rownumber += len(out)
        return out

    def fetchall(self):
        out = self._rows[self.rownumber:]
        self.rownumber = len(self._rows)
        return out

    def __iter__(self):
        return iter(self.fetchone, None)

    def close(self):
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def setinputsizes(self, *args):
        pass

    def setoutputsizes(self, *args):
        pass


class DictCursor(Cursor):
    """Rows come back as dicts keyed by column name."""

    def _row(self, row: tuple) -> dict[str, Any]:
        description = self.description
        assert description is not None, "a statement that returns rows describes its columns"
        return {d.name: v for d, v in zip(description, row, strict=True)}


def _cursors_module() -> types.ModuleType:
    m = types.ModuleType("pymysql.cursors", "pymysql.cursors in the simulator")
    # Unbuffered cursors behave the same here.
    vars(m).update(Cursor=Cursor, DictCursor=DictCursor, SSCursor=Cursor, SSDictCursor=DictCursor)
    return m


# -- connections --------------------------------------------------------------------------------

_KNOWN = {"host", "user", "password", "database", "port", "unix_socket", "charset", "collation", "sql_mode",
          "read_default_file", "conv", "use_unicode", "client_flag", "cursorclass", "init_command",
          "connect_timeout", "ssl", "ssl_ca", "ssl_cert", "ssl_disabled", "ssl_key", "ssl_verify_cert",
          "ssl_verify_identity", "read_default_group", "autocommit", "local_infile", "max_allowed_packet",
          "defer_connect", "auth_plugin_map", "read_timeout", "write_timeout", "bind_address", "binary_prefix",
          "program_name", "server_public_key", "db", "passwd"}


def _dropped(session):
    """Finalizer: the client object was garbage-collected, so its socket closed."""
    if getattr(session, "closed_s", None) is None:
        session.close("dropped")


class Connection:
    """A client connection, shaped like ``pymysql.connections.Connection``."""

    _resolve = None   # set per module: host -> simulated endpoint (DatabaseServer or DatabaseProxy)

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError("Connection.__init__() takes 1 positional argument but more were given "
                            "(pymysql 1.x takes keyword arguments only)")
        unknown = sorted(set(kwargs) - _KNOWN)
        if unknown:
            raise TypeError(f"Connection.__init__() got an unexpected keyword argument '{unknown[0]}'")
        self.host = kwargs.get("host") or "localhost"
        self.port = kwargs.get("port") or facts.MYSQL_PORT
        self.user = kwargs.get("user")
        self.password = kwargs.get("passwd") or kwargs.get("password") or ""
        self.db = kwargs.get("db") or kwargs.get("database")
        self.autocommit_mode = bool(kwargs.get("autocommit", False))
        self.cursorclass = kwargs.get("cursorclass") or Cursor
        self._session = None
        self._finalizer = None
        self._closed = False
        if not kwargs.get("defer_connect", False):
            self.connect()

    def __repr__(self):
        state = "closed" if self._closed else ("open" if self._session is not None else "not yet opened")
        return f"<pymysql (simulated) connection to {self.host}: {state}>"

    # -- opening and closing -------------------------------------------------------------------
    def connect(self, sock=None):
        """Open the connection (in a notebook: at the first statement)."""
        self._closed = False
        if bridge.current() is None:
            return            # outside a simulation: open lazily, at the first statement
        self._open()

    def _open(self):
        endpoint = type(self)._resolve(str(self.host).lower())
        if endpoint is None:
            raise OperationalError(facts.MYSQL_CR_CONN_HOST_ERROR,
                                   f"Can't connect to MySQL server on '{self.host}' ([Errno -2] Name or service "
                                   "not known)")
        try:
            session = endpoint.connect(self.user, self.password, self.db)
        except _db.DatabaseError as e:
            raise translate(e) from None
        session.set_autocommit(self.autocommit_mode)
        self._session = session
        self._finalizer = weakref.finalize(self, _dropped, session)
        self._finalizer.atexit = False

    def close(self):
        """Send the quit message and close the socket."""
        if self._closed:
            raise Error("Already closed")
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._session is not None:
            self._session.close()
        self._session = None

    @property
    def open(self):
        return not self._closed and (self._session is None or self._session.closed_s is None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self._closed:
            self.close()

    def ping(self, reconnect=True):
        """Check the connection; reopen it if it is closed and ``reconnect`` (no simulated time)."""
        if not self.open:
            if not reconnect:
                raise Error("Already closed")
            self._session = None
            self.connect()

    # -- statements ----------------------------------------------------------------------------
    def _execute(self, sql, args=None):
        if self._closed:
            raise InterfaceError(0, "")
        if self._session is None:
            self._open()
        try:
            return self._session.execute(sql, args)
        except _db.DatabaseError as e:
            raise translate(e) from None

    def cursor(self, cursor=None):
        return (cursor or self.cursorclass)(self)

    def begin(self):
        self._execute("BEGIN")

    def commit(self):
        self._execute("COMMIT")

    def rollback(self):
        self._execute("ROLLBACK")

    def autocommit(self, value):
        self.autocommit_mode = bool(value)
        if self._session is not None:
            self._session.set_autocommit(self.autocommit_mode)

    def get_autocommit(self):
        return self.autocommit_mode

    def select_db(self, db):
        self.db = db

    def thread_id(self):
        return getattr(self._session, "id", None)

    def insert_id(self):
        return 0


def make_module(resolve: Callable[[str], Any], name: str = "pymysql") -> types.ModuleType:
    """A ``pymysql`` module whose ``connect`` reaches the endpoints ``resolve(host)`` returns."""
    m = types.ModuleType(name, "pymysql as seen by simulated code: databases are simulated by labkit")
    bound = type("Connection", (Connection,), {"_resolve": staticmethod(resolve), "__module__": "pymysql.connections"})
    connections = types.ModuleType("pymysql.connections")
    vars(connections).update(Connection=bound)
    vars(m).update(__version__="1.1.1", VERSION=(1, 1, 1, "final", 1), apilevel="2.0", threadsafety=1,
                   paramstyle="pyformat", Connection=bound, Connect=bound, connect=bound, err=_err_module(),
                   cursors=_cursors_module(), connections=connections)
    for k, v in {"MySQLError": MySQLError, "Warning": Warning, **ERROR_CLASSES}.items():
        setattr(m, k, v)
    vars(m).update(install_as_MySQLdb=lambda: None, get_client_info=lambda: "1.1.1")
    return m


def module_map(m: types.ModuleType) -> dict[str, types.ModuleType]:
    """Import names -> modules, for ``Account.module_overrides`` (``import a.b`` binds ``a``)."""
    return {"pymysql": m, "pymysql.err": m.err, "pymysql.cursors": m.cursors, "pymysql.connections": m.connections}


# -- the notebook kernel's pymysql ------------------------------------------------------------------

_kernel_endpoints: dict[str, weakref.ref] = {}   # host -> weakref to the most recently created endpoint with that host


def register_kernel_endpoint(endpoint: Any) -> None:
    """Let ``import pymysql`` in the notebook kernel reach ``endpoint`` (the latest one per host)."""
    _kernel_endpoints[endpoint.host] = weakref.ref(endpoint)


def _kernel_resolve(host: str) -> Any:
    ref = _kernel_endpoints.get(host)
    return ref() if ref is not None else None


def install_kernel_modules() -> None:
    """If the real pymysql is not installed, make ``import pymysql`` work in the kernel (handler
    cells run there too). Does nothing when pymysql is importable."""
    if "pymysql" in sys.modules:
        return
    if importlib.util.find_spec("pymysql") is not None:
        return
    sys.modules.update(module_map(make_module(_kernel_resolve)))


__all__ = ["make_module", "module_map", "register_kernel_endpoint", "install_kernel_modules", "Connection",
           "Cursor", "DictCursor", "MySQLError", "Error", "InterfaceError", "DatabaseError", "DataError",
           "OperationalError", "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError",
           "translate"]

