"""Feed a Kinesis stream from an open-loop workload."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterable
from typing import Any, Protocol

import simpy

from ...errors import InvalidParameterValueException
from ...runtime import Account
from ...workload import Workload
from .errors import ProvisionedThroughputExceededException


class _Stream(Protocol):
    """What a producer needs of its stream (a ``KinesisStream``, which imports this module)."""

    account: Account

    def producer_rng(self) -> random.Random: ...

    def put_record(self, data: Any, partition_key: str, explicit_hash_key: str | None = None) -> dict[str, str]: ...


def producer(stream: _Stream, workload: Workload, partition_key: Callable[[Any], str], *,
             data: Callable[[Any], Any] | None = None,
             rng: random.Random | None = None) -> Generator[simpy.Event, Any, None]:
    """A generator for a simpy process: one ``put_record`` per event of an open-loop ``workload``.

    ``partition_key(payload)`` gives each record's key; ``data(payload)`` its data
    (default: the payload itself, JSON-encoded). Offsets count from the moment the
    process starts. A throttled put is not retried: it appears in ``stream.puts``
    as ``rejected`` and never reaches the Ledger.
    """
    if not isinstance(workload, Workload) or workload.closed:
        raise InvalidParameterValueException("workload", workload, "an open-loop lk.workload.* object")
    if not callable(partition_key):
        raise InvalidParameterValueException("partition_key", partition_key, "a function of the payload")
    env = stream.account.env
    if rng is None:
        rng = stream.producer_rng()
    return _produce(stream, env, workload.events(rng), partition_key, data)


def _produce(stream: _Stream, env: simpy.Environment, events: Iterable[tuple[float, Any]],
             partition_key: Callable[[Any], str],
             data: Callable[[Any], Any] | None) -> Generator[simpy.Event, Any, None]:
    t0 = env.now
    for offset, payload in events:
        delay = t0 + offset - env.now
        if delay > 0:
            yield env.timeout(delay)
        try:
            stream.put_record(payload if data is None else data(payload), partition_key(payload))
        except ProvisionedThroughputExceededException:
            pass   # recorded in stream.put_rows as "rejected"
