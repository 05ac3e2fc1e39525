"""Shards: key ranges, partition-key routing, sequence numbers, write limits and their records.

* **Shards own key ranges.** A partition key's MD5 (of its UTF-8 bytes, read as
  a 128-bit big-endian integer) falls in exactly one shard's ``HashKeyRange``;
  an ``ExplicitHashKey`` replaces the hash. At creation the key space is split
  evenly (kinesalite's rule): shard ``i`` of ``N`` gets
  ``[i*floor(2^128/N), (i+1)*floor(2^128/N) - 1]`` and the last shard ends at
  ``2^128 - 1``. So every record with one key lands in one shard, in order.
* **Per-shard write limits**: 1,000 records/s and 1 MB/s (data plus partition
  key), modelled as two continuously refilled token buckets, each holding at
  most one second's worth (AWS states the rates, not the burst shape).
* **Sequence numbers** are digit strings, increasing per shard (fixed width, so
  they compare the same as strings and as numbers).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, NamedTuple, Protocol

import simpy

from ... import arns, facts
from ...runtime import Account

HASH_KEY_SPACE = 2 ** facts.KINESIS_HASH_KEY_BITS
_SEQUENCE_PREFIX = "49"       # real sequence numbers also start with 49...


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key of a partition key: MD5 of its UTF-8 bytes, big-endian."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


class HashKeyRange(NamedTuple):
    """A shard's ``HashKeyRange``: the hash keys from ``start`` to ``end``, both included."""

    start: int
    end: int


def even_hash_ranges(shard_count: int) -> list[HashKeyRange]:
    """``[HashKeyRange(start, end), ...]`` for ``shard_count`` shards splitting the key space evenly."""
    step = HASH_KEY_SPACE // shard_count
    return [HashKeyRange(i * step, HASH_KEY_SPACE - 1 if i == shard_count - 1 else (i + 1) * step - 1)
            for i in range(shard_count)]



class _Stream(Protocol):
    """What a shard and its records need of their stream (a ``KinesisStream``, which imports this module)."""

    account: Account
    arn: str


class KinesisRecord:
    """One accepted record: where it lives, what the handler sees, and its progress."""

    __slots__ = ("shard", "sequence_number", "partition_key", "key_hash", "data", "arrival_s", "expires_s",
                 "record_id", "event_bytes", "done", "inflight", "_kinesis")

    def __init__(self, shard: Shard, sequence_number: str, partition_key: str, data: bytes, arrival_s: float,
                 expires_s: float, record_id: str, arrival_epoch_s: float) -> None:
        self.shard, self.partition_key, self.data = shard, partition_key, data
        self.sequence_number = sequence_number
        self.key_hash = hash_key(partition_key)
        self.arrival_s = arrival_s
        self.expires_s = expires_s
        self.record_id = record_id
        self.done = self.inflight = False
        self._kinesis = {"kinesisSchemaVersion": "1.0", "partitionKey": partition_key,
                         "sequenceNumber": sequence_number, "data": base64.b64encode(data).decode("ascii"),
                         "approximateArrivalTimestamp": arrival_epoch_s}
        self.event_bytes = len(json.dumps(self.event()).encode("utf-8"))

    def event(self) -> dict[str, Any]:
        """The record as it appears in ``event["Records"]`` (a fresh dict per invocation)."""
        stream = self.shard.stream
        return {"kinesis": dict(self._kinesis), "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": f"{self.shard.id}:{self.sequence_number}", "eventName": "aws:kinesis:record",
                "invokeIdentityArn": arns.role_arn("lambda-kinesis-role"),
                "awsRegion": stream.account.region, "eventSourceARN": stream.arn}

    def __repr__(self) -> str:
        return f"<KinesisRecord {self.shard.id}:{self.sequence_number} key={self.partition_key!r}>"


class _WriteLimit:
    """Two token buckets (records and bytes) refilled continuously, capped at one second's worth."""

    __slots__ = ("records", "bytes", "updated")

    def __init__(self, now: float) -> None:
        self.records = float(facts.KINESIS_SHARD_WRITE_RECORDS_PER_S)
        self.bytes = float(facts.KINESIS_SHARD_WRITE_BYTES_PER_S)
        self.updated = now

    def take(self, size: int, now: float) -> bool:
        """Take one record of ``size`` bytes if both buckets allow it now; return whether they did."""
        dt = now - self.updated
        if dt > 0:
            self.records = min(facts.KINESIS_SHARD_WRITE_RECORDS_PER_S,
                               self.records + dt * facts.KINESIS_SHARD_WRITE_RECORDS_PER_S)
            self.bytes = min(facts.KINESIS_SHARD_WRITE_BYTES_PER_S,
                             self.bytes + dt * facts.KINESIS_SHARD_WRITE_BYTES_PER_S)
            self.updated = now
        # A full bucket admits even a record larger than one second's bytes (a maximum-size
        # record plus its key); the debt is repaid by the refill.
        if self.records >= 1.0 and (self.bytes >= size or self.bytes >= facts.KINESIS_SHARD_WRITE_BYTES_PER_S):
            self.records -= 1.0
            self.bytes -= size
            return True
        return False


class Shard:
    """One shard: its hash key range, its records in sequence order, its write limit."""

    def __init__(self, stream: _Stream, index: int, start: int, end: int) -> None:
        self.stream, self.index = stream, index
        self.id = f"shardId-{index:012d}"
        self.starting_hash_key, self.ending_hash_key = start, end
        self.records: list[KinesisRecord] = []
        self._next = 0
        self.limit = _WriteLimit(stream.account.env.now)
        self._waiters: list[simpy.Event] = []    # simpy events of pollers waiting for a new record

    def next_sequence_number(self) -> str:
        self._next += 1
        return f"{_SEQUENCE_PREFIX}{self.index:06d}{self._next:024d}"

    def describe(self) -> dict[str, Any]:
        return {"ShardId": self.id,
                "HashKeyRange": {"StartingHashKey": str(self.starting_hash_key),
                                 "EndingHashKey": str(self.ending_hash_key)},
                "SequenceNumberRange": {"StartingSequenceNumber": f"{_SEQUENCE_PREFIX}{self.index:06d}{1:024d}"}}

    def __repr__(self) -> str:
        return f"<Shard {self.id}: {len(self.records)} records>"

    def when_record_added(self) -> simpy.Event:
        """A simpy event that fires when the next record is added to this shard."""
        ev = self.stream.account.env.event()
        self._waiters.append(ev)
        return ev

    def record_added(self) -> None:
        """Wake the pollers waiting for a new record."""
        if self._waiters:         # most puts find none: skip the call
            wake(self._waiters)


def wake(waiters: list[simpy.Event]) -> None:
    """Trigger every simpy event in ``waiters`` not yet triggered, and forget them all."""
    for ev in waiters:
        if not ev.triggered:
            ev.succeed()
    waiters.clear()
