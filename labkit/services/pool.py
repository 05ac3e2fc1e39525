"""Connection pools: the names lessons and tests import from here, now in two modules.

* ``labkit.services.fake_dbutils``: DBUtils' ``PooledDB`` inside an execution
  environment (``from dbutils.pooled_db import PooledDB`` in handler code);
* ``labkit.services.traditional``: the traditional server baseline
  (``TraditionalServer``: processes with a pool of connections each, no Lambda).
"""

from .fake_dbutils import (
    DBUTILS_MODULES,
    InvalidConnectionError,
    NotSupportedError,
    PooledDB,
    PooledDBError,
    PooledDedicatedDBConnection,
    TooManyConnections,
    install_kernel_modules,
)
from .traditional import SERVER_COLUMNS, PoolTimeout, ServerRequest, ServerRun, TraditionalServer, default_request

__all__ = ["PooledDB", "TooManyConnections", "PooledDBError", "DBUTILS_MODULES", "TraditionalServer", "ServerRun",
           "PoolTimeout", "SERVER_COLUMNS", "default_request", "install_kernel_modules", "ServerRequest",
           "InvalidConnectionError", "NotSupportedError", "PooledDedicatedDBConnection"]
