"""A provisioned Kinesis data stream: routing, puts, retention and the state of its records.

* Records are routed to shards by the MD5 of their partition key (or an
  ``ExplicitHashKey``); see ``labkit.event_sources.kinesis.shard``.
* **Per-shard write limits**: 1,000 records/s and 1 MB/s (data plus partition
  key), modelled as two continuously refilled token buckets (AWS states the
  rates, not the burst shape). ``put_record`` over the limit raises
  ``ProvisionedThroughputExceededException``; ``put_records`` fails partially.
  A rejected put is never registered in the Ledger: the stream never held it.
* **Retention**: 24 h by default, 24-8,760 h. A record older than that leaves
  the stream; if the mapping has not finished with it, it settles ``dropped``
  with reason ``RetentionExpired``.

Tables: ``stream.puts`` (every put attempt, ``PUT_COLUMNS``) and
``stream.records`` (every accepted record and its state, ``RECORD_COLUMNS``).
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Protocol

import pandas as pd
import simpy

from ... import arns, facts, validation
from ...errors import InvalidParameterValueException
from ...records import (
    ACCEPTED,
    DROPPED,
    KINESIS_PUT_COLUMNS,
    KINESIS_RECORD_COLUMNS,
    PENDING,
    REJECTED,
    RETENTION_EXPIRED,
    KinesisPutRecord,
    KinesisRecordState,
)
from ...runtime import Account
from ...workload import Workload
from ..ledger import Ledger
from .errors import ProvisionedThroughputExceededException
from .params import check_int
from .producers import producer
from .shard import HASH_KEY_SPACE, KinesisRecord, Shard, even_hash_ranges, hash_key, wake

_EXPLICIT_HASH_KEY = re.compile(r"0|[1-9]\d{0,38}")

# The columns of ``stream.puts`` and ``stream.records`` (the names this module always had).
PUT_COLUMNS = KINESIS_PUT_COLUMNS
RECORD_COLUMNS = KINESIS_RECORD_COLUMNS

_new = tuple.__new__     # builds a NamedTuple without its Python-level __new__ (hot paths: puts, views)


class _Reader(Protocol):
    """What the stream needs of the mapping that reads it (a ``KinesisEventSourceMapping``,
    which imports this module)."""

    def lane_index(self, rec: KinesisRecord) -> int: ...


class KinesisStream:
    """A provisioned Kinesis data stream of ``shard_count`` shards in ``account``.

    Accepted records are registered in ``ledger`` (one entry each, id
    ``"<stream>:<shardId>:<sequence number>"``) and settled by the mapping or by
    retention. ``data`` may be bytes, a str (UTF-8) or any JSON value (labkit
    convenience: it is JSON-encoded).
    """

    def __init__(self, account: Account, ledger: Ledger, name: str = "my-stream", shard_count: int = 1,
                 retention_hours: int = facts.KINESIS_DEFAULT_RETENTION_HOURS) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidParameterValueException("StreamName", name, "a non-empty string")
        check_int("ShardCount", shard_count, 1, validation.MAX_SHARDS,
                  allowed=f"an integer from 1 to {validation.MAX_SHARDS:,} (labkit's limit; AWS sets none)")
        lo, hi = facts.KINESIS_RETENTION_HOURS_RANGE
        check_int("RetentionPeriodHours", retention_hours, lo, hi)
        self.account, self.ledger, self.name = account, ledger, name
        self.retention_hours = retention_hours
        self.arn = arns.stream_arn(account.region, name)
        self.shards = [Shard(self, i, s, e) for i, (s, e) in enumerate(even_hash_ranges(shard_count))]
        self._step = HASH_KEY_SPACE // shard_count
        self.put_rows: list[KinesisPutRecord] = []     # every put attempt
        self.unsettled = 0                # accepted records not yet in a final state
        self.mapping: _Reader | None = None   # the event source mapping, once one is created
        self._by_arrival: deque[KinesisRecord] = deque()   # records in arrival order, for retention
        self._expiry_waiter: simpy.Event | None = None
        self._drained_waiters: list[simpy.Event] = []
        self._producers = 0               # producers started without a random stream of their own
        account.env.process(self._expire())

    # -- routing -----------------------------------------------------------------
    def shard_for(self, partition_key: str, explicit_hash_key: str | None = None) -> Shard:
        """The shard a record goes to (validating the key as ``PutRecord`` does)."""
        return self.shards[self._shard_index(self._routing_key(partition_key, explicit_hash_key))]

    def _shard_index(self, h: int) -> int:
        return min(h // self._step, len(self.shards) - 1)

    @staticmethod
    def _routing_key(partition_key: Any, explicit_hash_key: Any) -> int:
        lo, hi = facts.KINESIS_PARTITION_KEY_CHARS_RANGE
        if not isinstance(partition_key, str) or not lo <= len(partition_key) <= hi:
            raise InvalidParameterValueException("PartitionKey", partition_key,
                                                 f"a string of {lo} to {hi} Unicode characters")
        if explicit_hash_key is None:
            return hash_key(partition_key)
        if not isinstance(explicit_hash_key, str) or not _EXPLICIT_HASH_KEY.fullmatch(explicit_hash_key) \
                or int(explicit_hash_key) >= HASH_KEY_SPACE:
            raise InvalidParameterValueException("ExplicitHashKey", explicit_hash_key,
                                                 "a decimal string from 0 to 2^128 - 1")
        return int(explicit_hash_key)

    # -- writes ------------------------------------------------------------------
    def put_record(self, data: Any, partition_key: str, explicit_hash_key: str | None = None) -> dict[str, str]:
        """``PutRecord``: returns ``{"ShardId", "SequenceNumber"}`` or raises
        ``ProvisionedThroughputExceededException`` when the shard is over its limit."""
        shard_index, blob, key, size = self._prepare(data, partition_key, explicit_hash_key)
        result = self._put(shard_index, blob, key, size)
        if "ErrorCode" in result:
            raise ProvisionedThroughputExceededException(self.name, self.shards[shard_index].id)
        return result

    def put_records(self, records: list[dict]) -> dict[str, Any]:
        """``PutRecords``: ``records`` is a list of ``{"Data", "PartitionKey"[, "ExplicitHashKey"]}``.
        Returns ``{"FailedRecordCount", "Records"}`` with one result per entry, in order: either
        ``ShardId``/``SequenceNumber`` or ``ErrorCode``/``ErrorMessage`` (a partial failure)."""
        if not isinstance(records, (list, tuple)) or not records:
            raise InvalidParameterValueException("Records", records, "a non-empty list of record entries")
        entries = []
        for r in records:
            if not isinstance(r, dict) or "Data" not in r or "PartitionKey" not in r:
                raise InvalidParameterValueException("Records", r, 'a dict with "Data" and "PartitionKey"')
            entries.append(self._prepare(r["Data"], r["PartitionKey"], r.get("ExplicitHashKey")))
        results = [self._put(*e) for e in entries]
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}

    def _prepare(self, data: Any, partition_key: str, explicit_hash_key: str | None) -> tuple[int, bytes, str, int]:
        """Check one put; return the arguments of ``_put``: the shard's index, the data, the
        partition key and the bytes it counts against the shard's limit."""
        h = self._routing_key(partition_key, explicit_hash_key)
        if isinstance(data, (bytes, bytearray)):
            blob = bytes(data)
        elif isinstance(data, str):
            blob = data.encode("utf-8")
        else:
            try:
                blob = json.dumps(data).encode("utf-8")
            except (TypeError, ValueError):
                raise InvalidParameterValueException("Data", type(data).__name__,
                                                     "bytes, a str or a JSON-serialisable value") from None
        if len(blob) > facts.KINESIS_MAX_RECORD_BYTES:
            raise InvalidParameterValueException("Data", f"{len(blob)} bytes",
                                                 f"at most {facts.KINESIS_MAX_RECORD_BYTES} bytes")
        # The partition key counts toward the shard's bytes per second.
        return self._shard_index(h), blob, partition_key, len(blob) + len(partition_key.encode("utf-8"))

    def _put(self, shard_index: int, blob: bytes, partition_key: str, size: int) -> dict[str, str]:
        shard = self.shards[shard_index]
        env = self.account.env
        now = env.now
        if not shard.limit.take(size, now):
            err = ProvisionedThroughputExceededException(self.name, shard.id)
            self.put_rows.append(_new(KinesisPutRecord, (now, partition_key, shard.id, None, size, REJECTED,
                                                         err.code)))
            return {"ErrorCode": err.code, "ErrorMessage": str(err)}
        seq = shard.next_sequence_number()
        rec = KinesisRecord(shard, seq, partition_key, blob, now, now + self.retention_hours * 3600.0,
                            f"{self.name}:{shard.id}:{seq}", round(self.account.epoch + now, 3))
        shard.records.append(rec)
        self._by_arrival.append(rec)
        self.ledger.register(rec.record_id, now)
        self.unsettled += 1
        self.put_rows.append(_new(KinesisPutRecord, (now, partition_key, shard.id, seq, size, ACCEPTED, None)))
        shard.record_added()
        if self._expiry_waiter is not None and not self._expiry_waiter.triggered:
            self._expiry_waiter.succeed()
        return {"ShardId": shard.id, "SequenceNumber": rec.sequence_number}

    def produce(self, workload: Workload, partition_key: Callable[[Any], str],
                data: Callable[[Any], Any] | None = None) -> simpy.Process:
        """Start a producer process for ``workload`` (see ``producer``); returns the process."""
        return self.account.env.process(producer(self, workload, partition_key, data=data))

    def producer_rng(self) -> random.Random:
        """A fresh seeded random stream for the next producer started without one."""
        self._producers += 1
        return random.Random(f"{self.account.seed}:kinesis-producer:{self.name}:{self._producers}")

    # -- retention and settling ----------------------------------------------------
    def _expire(self) -> Generator[simpy.Event, Any, None]:
        """Retention: records leave the stream in arrival order; unfinished ones are dropped."""
        env = self.account.env
        while True:
            if not self._by_arrival:
                self._expiry_waiter = env.event()
                yield self._expiry_waiter
                continue
            head = self._by_arrival[0]
            if head.expires_s > env.now:
                yield env.timeout(head.expires_s - env.now)
                continue
            self._by_arrival.popleft()
            # A record inside a running invocation is left to the mapping, which
            # settles it when the invocation ends.
            if not head.done and not head.inflight:
                self.settle(head, DROPPED, RETENTION_EXPIRED)

    def settle(self, rec: KinesisRecord, state: str, reason: str | None = None) -> None:
        """Put an accepted record in its final state in the ledger (once)."""
        rec.done = True
        self.ledger.settle(rec.record_id, state, self.account.env.now, reason)
        self.unsettled -= 1
        if self.unsettled == 0:
            wake(self._drained_waiters)

    @property
    def drained(self) -> bool:
        """True when every accepted record is in a final state."""
        return self.unsettled == 0

    def when_drained(self) -> simpy.Event:
        """A simpy event that fires when no accepted record is left unsettled (now, if none is)."""
        ev = self.account.env.event()
        if self.unsettled == 0:
            ev.succeed()
        else:
            self._drained_waiters.append(ev)
        return ev

    # -- views ---------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """``DescribeStream``'s StreamDescription, in brief."""
        return {"StreamName": self.name, "StreamARN": self.arn, "StreamStatus": "ACTIVE",
                "RetentionPeriodHours": self.retention_hours, "Shards": [s.describe() for s in self.shards]}

    @property
    def puts(self) -> pd.DataFrame:
        """Every put attempt, accepted or rejected, in the order they were made."""
        return pd.DataFrame(self.put_rows, columns=KINESIS_PUT_COLUMNS)

    @property
    def records(self) -> pd.DataFrame:
        """Every accepted record with its final state (``pending`` if it has none yet), by shard."""
        lane_of = self.mapping.lane_index if self.mapping is not None else (lambda r: 0)
        states = self.ledger.states
        rows = []
        for shard in self.shards:
            for r in shard.records:
                entry = states[r.record_id]
                rows.append(_new(KinesisRecordState, (r.record_id, shard.id, r.sequence_number, r.partition_key,
                                                      lane_of(r), r.arrival_s, entry.state, entry.reason,
                                                      None if entry.state == PENDING else entry.time_s)))
        return pd.DataFrame(rows, columns=KINESIS_RECORD_COLUMNS)

    def __repr__(self) -> str:
        return f"<KinesisStream {self.name}: {len(self.shards)} shards, {self.unsettled} records unsettled>"

