"""DBUtils' ``PooledDB`` as simulated handler code sees it: a connection pool inside one environment.

Handler code uses DBUtils' pool as it would on AWS (``pip install DBUtils``);
inside simulated code ``from dbutils.pooled_db import PooledDB`` gives
``PooledDB`` below (the Lab registers ``DBUTILS_MODULES`` in the account's
``module_overrides``)::

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
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections import deque
from typing import Any

import simpy

from .. import bridge, validation


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

    def __init__(self, pool: PooledDB, con: Any) -> None:
        self._pool, self._con = pool, con

    def close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            self._pool.cache(con)

    def __getattr__(self, name: str) -> Any:
        if self._con is None:
            raise InvalidConnectionError("the connection was given back to the pool")
        return getattr(self._con, name)

    def __enter__(self) -> PooledDedicatedDBConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001  (as DBUtils: never raise from a finalizer)
            pass


class PooledDB:
    """``dbutils.pooled_db.PooledDB``: a pool of DB-API connections inside one process."""

    def __init__(self, creator: Any, mincached: int = 0, maxcached: int = 0, maxshared: int = 0,
                 maxconnections: int = 0, blocking: bool = False, maxusage: int | None = None,
                 setsession: list[str] | None = None, reset: bool = True, failures: Any = None, ping: int = 1,
                 *args: Any, **kwargs: Any) -> None:
        if not callable(getattr(creator, "connect", None)) and not callable(creator):
            raise NotSupportedError("Database module is not thread-safe.")
        for name, v in (("mincached", mincached), ("maxcached", maxcached), ("maxconnections", maxconnections)):
            validation.integer(name, v, 0)
        self._creator, self._args, self._kwargs = creator, args, kwargs
        self._blocking = blocking
        if maxcached and maxcached < mincached:
            maxcached = mincached
        self._maxcached = maxcached
        if maxconnections and maxconnections < maxcached:
            maxconnections = maxcached
        self._maxconnections = maxconnections
        self._idle_cache: list[Any] = []
        self._connections = 0
        self._waiters: deque[simpy.Event] = deque()
        idle = [self.dedicated_connection() for _ in range(mincached)]
        while idle:
            idle.pop().close()

    def steady_connection(self) -> Any:
        connect = getattr(self._creator, "connect", self._creator)
        return connect(*self._args, **self._kwargs)

    def connection(self, shareable: bool = True) -> PooledDedicatedDBConnection:
        """Borrow a connection (pymysql has threadsafety 1, so connections are never shared)."""
        return self.dedicated_connection()

    def dedicated_connection(self) -> PooledDedicatedDBConnection:
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

    def cache(self, con: Any) -> None:
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

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle_cache:
            con = self._idle_cache.pop(0)
            try:
                con.close()
            except Exception:  # noqa: BLE001
                pass

    def __repr__(self) -> str:
        return (f"<PooledDB (simulated): {self._connections} in use, {len(self._idle_cache)} idle, "
                f"maxconnections={self._maxconnections or 'unlimited'}>")


def _dbutils_modules() -> dict[str, types.ModuleType]:
    pooled = types.ModuleType("dbutils.pooled_db", "DBUtils' PooledDB in the simulator")
    for cls in (PooledDB, PooledDBError, InvalidConnectionError, NotSupportedError, TooManyConnections,
                PooledDedicatedDBConnection):
        setattr(pooled, cls.__name__, cls)
    top = types.ModuleType("dbutils", "DBUtils in the simulator")
    vars(top).update(__version__="3.1.0", pooled_db=pooled)
    return {"dbutils": top, "dbutils.pooled_db": pooled}


DBUTILS_MODULES = _dbutils_modules()


def install_kernel_modules() -> None:
    """If DBUtils is not installed, make ``from dbutils.pooled_db import PooledDB`` work in the kernel."""
    if "dbutils" in sys.modules or importlib.util.find_spec("dbutils") is not None:
        return
    sys.modules.update(DBUTILS_MODULES)


__all__ = ["PooledDB", "PooledDBError", "InvalidConnectionError", "NotSupportedError", "TooManyConnections",
           "PooledDedicatedDBConnection", "DBUTILS_MODULES", "install_kernel_modules"]
