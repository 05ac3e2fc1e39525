"""What creating a Lab installs in the notebook kernel, and nothing at import time.

Handler cells also run in the kernel itself (defining a handler runs its module
there once), so the kernel needs what a handler module needs at import:

* ``AWS_DEFAULT_REGION`` (only if unset): a module-level ``boto3.resource(...)``
  needs a Region, though it makes no call and needs no credentials;
* ``import pymysql`` and ``from dbutils.pooled_db import PooledDB``, when those
  packages are not installed: labkit's pymysql-shaped client and DBUtils-shaped
  pool, which reach the Lab's simulated databases;
* the logging handler that captures handler ``logging`` output per invocation
  (``labkit.logcapture``; outside simulated code it behaves like logging's
  last-resort handler);
* honest isolation of simulated handler code (``labkit.isolation``): one audit hook
  that refuses the real network, processes and writes outside the environment's own
  ``/tmp``, and ``os.environ``, ``time.sleep`` and ``tempfile`` dispatching to the
  running execution environment; none of it changes anything for the kernel's own code.

Every ``Lab`` calls ``install``; a notebook whose handler cells run before its first
Lab calls ``lk.kernel.install()`` in its set-up cell. Each step runs once per
process and is idempotent. Inside simulated handler code
these names resolve per execution environment instead (``labkit.sandbox``).
"""

from __future__ import annotations

import os

from . import isolation, logcapture
from .services import db_client, pool


def install(region: str = "us-east-1") -> None:
    """Prepare this process for handler modules (see the module docstring); safe to call again."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    db_client.install_kernel_modules()
    pool.install_kernel_modules()
    logcapture.install()
    isolation.install()
