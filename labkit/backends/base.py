"""The contract between the notebook facade (``labkit.Lab``) and a backend.

``Lab`` checks every argument (with AWS-style errors) and then delegates to its
backend; a backend never sees an unchecked value. The simulator
(``labkit.backends.simulator``) is the default backend; a real-AWS backend fills
the same records on the wall clock. The flow of one experiment::

    notebook --> Lab (checks) --> backend.run(traffic) --> RunRecords --> Run --> metrics, plots, checkers

A backend provides:

* ``name``: ``"simulator"`` or ``"aws"``; ``region``; ``now`` (seconds since the
  backend started: simulated time, or wall time on AWS);
* ``deploy(config, code) -> function``: create or update a function from a
  ``FunctionConfig`` and a ``HandlerCode``; the returned object has ``name`` and
  ``config`` and is what ``Traffic.function`` holds;
* ``run(traffic, retry=None, async_config=None) -> RunRecords``: send every stream of
  ``traffic`` at once (synchronous or asynchronous) and return when every call
  has returned and every asynchronous event has settled;
* ``advance(seconds)``: let time pass with no new traffic;
* ``close()``: release what the backend holds (temporary folders; on AWS, every
  resource it created).

The result of ``run`` is a ``labkit.records.RunRecords``: an immutable bundle of
named records (one ``InvocationRecord`` per attempt, lifecycle events, environments,
the final state of every event, logs). ``labkit.run.Run`` only queries and presents
that bundle, so Run, metrics, plots and the exercise display work the same for
every backend, and a run's results never change after it has ended.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from ..config import FunctionConfig
from ..records import RunRecords
from ..retry import SdkRetry
from ..sandbox import HandlerCode
from ..workload import Workload


class Traffic(NamedTuple):
    """One stream of calls: a deployed function, a workload, and ``RequestResponse`` or ``Event``."""

    function: Any
    workload: Workload
    invocation_type: str


class Backend(Protocol):
    """What ``Lab`` needs from a backend (see the module docstring)."""

    name: str
    region: str

    @property
    def now(self) -> float: ...

    def deploy(self, config: FunctionConfig, code: HandlerCode) -> Any: ...

    def run(self, traffic: list[Traffic], *, retry: SdkRetry | None = None,
            async_config: dict[str, dict] | None = None) -> RunRecords: ...

    def advance(self, seconds: float) -> None: ...

    def close(self) -> None: ...
