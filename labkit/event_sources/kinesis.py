"""A Kinesis data stream and the Lambda event source mapping (ESM) that reads it.

The stream (facts sheet, section 3):

* **Shards own key ranges.** A partition key's MD5 (of its UTF-8 bytes, read as
  a 128-bit big-endian integer) falls in exactly one shard's ``HashKeyRange``;
  an ``ExplicitHashKey`` replaces the hash. At creation the key space is split
  evenly (kinesalite's rule): shard ``i`` of ``N`` gets
  ``[i*floor(2^128/N), (i+1)*floor(2^128/N) - 1]`` and the last shard ends at
  ``2^128 - 1``. So every record with one key lands in one shard, in order.
* **Per-shard write limits**: 1,000 records/s and 1 MB/s (data plus partition
  key), modelled as two continuously refilled token buckets (AWS states the
  rates, not the burst shape). ``put_record`` over the limit raises
  ``ProvisionedThroughputExceededException``; ``put_records`` fails partially.
  A rejected put is never registered in the Ledger: the stream never held it.
* **Sequence numbers** are digit strings, increasing per shard (fixed width, so
  they compare the same as strings and as numbers).
* **Retention**: 24 h by default, 24-8,760 h. A record older than that leaves
  the stream; if the mapping has not finished with it, it settles ``dropped``
  with reason ``RetentionExpired``.

The event source mapping (sections 2c and 2d):

* Each shard is polled about once per second. Polled records wait in the
  shard's buffer; a batch is invoked when ``BatchSize`` records are there, the
  6 MB payload is reached, or ``MaximumBatchingWindowInSeconds`` has passed
  (0: at once). Back-to-back batches need no new poll while records are buffered.
* **One batch in flight per shard**, or with ``ParallelizationFactor`` PF > 1,
  PF *lanes* per shard: a record goes to lane ``md5(partition key) mod PF``
  and each lane runs one batch at a time, so order holds per partition key.
* **Function errors** (an exception or a timeout) retry the batch, and the
  lane waits (the shard is blocked) until it succeeds or the records are
  given up: ``MaximumRetryAttempts`` (-1 = forever, the default),
  ``MaximumRecordAgeInSeconds`` (-1 = forever) or the end of retention.
  ``BisectBatchOnFunctionError`` splits a failed batch in two, first half
  first; a split is not a retry. With ``ReportBatchItemFailures`` the lowest
  reported sequence number is the checkpoint: records before it succeed, the
  rest are retried (as a retry, never bisected further). An empty or missing
  list is full success; an empty ``itemIdentifier``, a wrong key, an identifier
  not in the batch or a non-dict response is full failure (the last two are
  labkit's choice: AWS does not document them).
* **Throttles** do not use up retries: the batch is retried after a short
  exponential backoff until its records are too old or expire.
* Given-up records go (as batch metadata, not the records) to the on-failure
  destination with ``condition`` ``RetryAttemptsExhausted`` or
  ``RecordAgeExceeded`` and settle ``failure_destination``; without a
  destination they settle ``dropped`` with that reason.

Tables for notebooks: ``stream.puts`` (every put attempt), ``stream.records``
(every accepted record and its final state), ``mapping.batches`` (every batch
invocation: BATCH_COLUMNS) and ``mapping.iterator_age`` (the age of the last
record of each batch when its invocation finished, per shard and lane).

Not modelled: enhanced fan-out, resharding, GetRecords read limits (2 MB/s,
10,000 records per call), tumbling windows, AT_TIMESTAMP, and duplicates
beyond the retries described above. One mapping per stream.
"""

import base64
import hashlib
import json
import math
import random
import re
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

from .. import arns, facts
from ..errors import InvalidParameterValueException, LambdaError, SimulationError
from ..records import REQUEST_RESPONSE, SUCCESS, THROTTLED
from ..workload import Workload
from .destinations import DestinationQueue

ACCOUNT_ID = arns.ACCOUNT_ID
HASH_KEY_SPACE = 2 ** facts.KINESIS_HASH_KEY_BITS
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")
_EXPLICIT_HASH_KEY = re.compile(r"0|[1-9]\d{0,38}")
_SEQUENCE_PREFIX = "49"       # real sequence numbers also start with 49...

PUT_COLUMNS = ("time_s", "partition_key", "shard_id", "sequence_number", "bytes", "outcome", "error_code")
RECORD_COLUMNS = ("record_id", "shard_id", "sequence_number", "partition_key", "lane", "arrival_s", "state",
                  "reason", "settled_s")
BATCH_COLUMNS = ("batch_id", "shard_id", "lane", "first_sequence", "last_sequence", "size", "payload_bytes",
                 "request_id", "invoked_s", "finished_s", "outcome", "error_type", "retry", "bisect_depth")
ITERATOR_AGE_COLUMNS = ("time_s", "shard_id", "lane", "iterator_age_ms", "batch_id", "outcome")


class ProvisionedThroughputExceededException(LambdaError):
    """A put over a shard's write limit (HTTP 400), with Kinesis's message."""

    status = 400

    def __init__(self, stream_name, shard_id):
        self.stream_name, self.shard_id = stream_name, shard_id
        super().__init__(f"Rate exceeded for shard {shard_id} in stream {stream_name} under account {ACCOUNT_ID}.")


def hash_key(partition_key):
    """The 128-bit hash key of a partition key: MD5 of its UTF-8 bytes, big-endian."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def even_hash_ranges(shard_count):
    """``[(start, end), ...]`` for ``shard_count`` shards splitting the key space evenly."""
    step = HASH_KEY_SPACE // shard_count
    return [(i * step, HASH_KEY_SPACE - 1 if i == shard_count - 1 else (i + 1) * step - 1)
            for i in range(shard_count)]


def _iso(epoch_s):
    """An ISO-8601 UTC timestamp with milliseconds, as in AWS's failure records."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _check_int(name, value, lo, hi, also=None, allowed=None):
    ok = not isinstance(value, bool) and isinstance(value, int) and (lo <= value <= hi or value == also)
    if not ok:
        raise InvalidParameterValueException(name, value, allowed or f"an integer from {lo:,} to {hi:,}")
    return value


class KinesisRecord:
    """One accepted record: where it lives, what the handler sees, and its progress."""

    __slots__ = ("shard", "sequence_number", "partition_key", "key_hash", "data", "arrival_s", "expires_s",
                 "record_id", "event_bytes", "done", "inflight", "_kinesis")

    def event(self):
        """The record as it appears in ``event["Records"]`` (a fresh dict per invocation)."""
        stream = self.shard.stream
        return {"kinesis": dict(self._kinesis), "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": f"{self.shard.id}:{self.sequence_number}", "eventName": "aws:kinesis:record",
                "invokeIdentityArn": arns.role_arn("lambda-kinesis-role"),
                "awsRegion": stream.account.region, "eventSourceARN": stream.arn}

    def __repr__(self):
        return f"<KinesisRecord {self.shard.id}:{self.sequence_number} key={self.partition_key!r}>"


class _WriteLimit:
    """Two token buckets (records and bytes) refilled continuously, capped at one second's worth."""

    __slots__ = ("records", "bytes", "updated")

    def __init__(self, now):
        self.records = float(facts.KINESIS_SHARD_WRITE_RECORDS_PER_S)
        self.bytes = float(facts.KINESIS_SHARD_WRITE_BYTES_PER_S)
        self.updated = now

    def take(self, size, now):
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

    def __init__(self, stream, index, start, end):
        self.stream, self.index = stream, index
        self.id = f"shardId-{index:012d}"
        self.starting_hash_key, self.ending_hash_key = start, end
        self.records = []
        self._next = 0
        self.limit = _WriteLimit(stream.account.env.now)
        self._waiters = []    # simpy events of pollers waiting for a new record

    def next_sequence_number(self):
        self._next += 1
        return f"{_SEQUENCE_PREFIX}{self.index:06d}{self._next:024d}"

    def describe(self):
        return {"ShardId": self.id,
                "HashKeyRange": {"StartingHashKey": str(self.starting_hash_key),
                                 "EndingHashKey": str(self.ending_hash_key)},
                "SequenceNumberRange": {"StartingSequenceNumber": f"{_SEQUENCE_PREFIX}{self.index:06d}{1:024d}"}}

    def __repr__(self):
        return f"<Shard {self.id}: {len(self.records)} records>"


class KinesisStream:
    """A provisioned Kinesis data stream of ``shard_count`` shards in ``account``.

    Accepted records are registered in ``ledger`` (one entry each, id
    ``"<stream>:<shardId>:<sequence number>"``) and settled by the mapping or by
    retention. ``data`` may be bytes, a str (UTF-8) or any JSON value (labkit
    convenience: it is JSON-encoded).
    """

    def __init__(self, account, ledger, name="my-stream", shard_count=1,
                 retention_hours=facts.KINESIS_DEFAULT_RETENTION_HOURS):
        if not isinstance(name, str) or not name:
            raise InvalidParameterValueException("StreamName", name, "a non-empty string")
        _check_int("ShardCount", shard_count, 1, math.inf, allowed="an integer >= 1")
        lo, hi = facts.KINESIS_RETENTION_HOURS_RANGE
        _check_int("RetentionPeriodHours", retention_hours, lo, hi)
        self.account, self.ledger, self.name = account, ledger, name
        self.retention_hours = retention_hours
        self.arn = arns.stream_arn(account.region, name)
        self.shards = [Shard(self, i, s, e) for i, (s, e) in enumerate(even_hash_ranges(shard_count))]
        self._step = HASH_KEY_SPACE // shard_count
        self.put_rows = []                # PUT_COLUMNS, every put attempt
        self.unsettled = 0                # accepted records not yet in a final state
        self.mapping = None
        self._by_arrival = deque()        # records in arrival order, for retention
        self._expiry_waiter = None
        self._drained_waiters = []
        self._producers = 0
        account.env.process(self._expire())

    # -- routing -----------------------------------------------------------------
    def shard_for(self, partition_key, explicit_hash_key=None):
        """The shard a record goes to (validating the key as ``PutRecord`` does)."""
        return self.shards[self._shard_index(self._routing_key(partition_key, explicit_hash_key))]

    def _shard_index(self, h):
        return min(h // self._step, len(self.shards) - 1)

    @staticmethod
    def _routing_key(partition_key, explicit_hash_key):
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
    def put_record(self, data, partition_key, explicit_hash_key=None):
        """``PutRecord``: returns ``{"ShardId", "SequenceNumber"}`` or raises
        ``ProvisionedThroughputExceededException`` when the shard is over its limit."""
        entry = self._prepare(data, partition_key, explicit_hash_key)
        result = self._put(*entry)
        if "ErrorCode" in result:
            raise ProvisionedThroughputExceededException(self.name, self.shards[entry[0]].id)
        return result

    def put_records(self, records):
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

    def _prepare(self, data, partition_key, explicit_hash_key):
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

    def _put(self, shard_index, blob, partition_key, size):
        shard = self.shards[shard_index]
        env = self.account.env
        now = env.now
        if not shard.limit.take(size, now):
            err = ProvisionedThroughputExceededException(self.name, shard.id)
            self.put_rows.append((now, partition_key, shard.id, None, size, "rejected", err.code))
            return {"ErrorCode": err.code, "ErrorMessage": str(err)}
        rec = KinesisRecord()
        rec.shard, rec.partition_key, rec.data = shard, partition_key, blob
        rec.sequence_number = shard.next_sequence_number()
        rec.key_hash = hash_key(partition_key)
        rec.arrival_s = now
        rec.expires_s = now + self.retention_hours * 3600.0
        rec.record_id = f"{self.name}:{shard.id}:{rec.sequence_number}"
        rec.done = rec.inflight = False
        rec._kinesis = {"kinesisSchemaVersion": "1.0", "partitionKey": partition_key,
                        "sequenceNumber": rec.sequence_number, "data": base64.b64encode(blob).decode("ascii"),
                        "approximateArrivalTimestamp": round(self.account.epoch + now, 3)}
        rec.event_bytes = len(json.dumps(rec.event()).encode("utf-8"))
        shard.records.append(rec)
        self._by_arrival.append(rec)
        self.ledger.register(rec.record_id, now)
        self.unsettled += 1
        self.put_rows.append((now, partition_key, shard.id, rec.sequence_number, size, "accepted", None))
        _wake(shard._waiters)
        if self._expiry_waiter is not None and not self._expiry_waiter.triggered:
            self._expiry_waiter.succeed()
        return {"ShardId": shard.id, "SequenceNumber": rec.sequence_number}

    def produce(self, workload, partition_key, data=None):
        """Start a producer process for ``workload`` (see ``producer``); returns the process."""
        return self.account.env.process(producer(self, workload, partition_key, data=data))

    # -- retention and settling ----------------------------------------------------
    def _expire(self):
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
                self._settle(head, "dropped", "RetentionExpired")

    def _settle(self, rec, state, reason=None):
        rec.done = True
        self.ledger.settle(rec.record_id, state, self.account.env.now, reason)
        self.unsettled -= 1
        if self.unsettled == 0:
            _wake(self._drained_waiters)

    @property
    def drained(self):
        """True when every accepted record is in a final state."""
        return self.unsettled == 0

    def when_drained(self):
        """A simpy event that fires when no accepted record is left unsettled (now, if none is)."""
        ev = self.account.env.event()
        if self.unsettled == 0:
            ev.succeed()
        else:
            self._drained_waiters.append(ev)
        return ev

    # -- views ---------------------------------------------------------------------
    def describe(self):
        """``DescribeStream``'s StreamDescription, in brief."""
        return {"StreamName": self.name, "StreamARN": self.arn, "StreamStatus": "ACTIVE",
                "RetentionPeriodHours": self.retention_hours, "Shards": [s.describe() for s in self.shards]}

    @property
    def puts(self):
        import pandas as pd
        return pd.DataFrame(self.put_rows, columns=PUT_COLUMNS)

    @property
    def records(self):
        """Every accepted record with its final state (``pending`` if it has none yet)."""
        import pandas as pd
        lane_of = self.mapping._lane_index if self.mapping is not None else (lambda r: 0)
        rows = []
        for shard in self.shards:
            for r in shard.records:
                entry = self.ledger.states[r.record_id]
                state, reason, t = entry.state, entry.reason, entry.time_s
                rows.append((r.record_id, shard.id, r.sequence_number, r.partition_key, lane_of(r), r.arrival_s,
                             state, reason, None if state == "pending" else t))
        return pd.DataFrame(rows, columns=RECORD_COLUMNS)

    def __repr__(self):
        return f"<KinesisStream {self.name}: {len(self.shards)} shards, {self.unsettled} records unsettled>"


def _wake(waiters):
    for ev in waiters:
        if not ev.triggered:
            ev.succeed()
    waiters.clear()


def producer(stream, workload, partition_key, *, data=None, rng=None):
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
        stream._producers += 1
        rng = random.Random(f"{stream.account.seed}:kinesis-producer:{stream.name}:{stream._producers}")
    return _produce(stream, env, workload.events(rng), partition_key, data)


def _produce(stream, env, events, partition_key, data):
    t0 = env.now
    for offset, payload in events:
        delay = t0 + offset - env.now
        if delay > 0:
            yield env.timeout(delay)
        try:
            stream.put_record(payload if data is None else data(payload), partition_key(payload))
        except ProvisionedThroughputExceededException:
            pass   # recorded in stream.put_rows as "rejected"


@dataclass(frozen=True)
class KinesisMappingConfig:
    """``CreateEventSourceMapping`` for a Kinesis stream (plus two labkit options).

    ``retry_delay_s`` (wait before retrying a failed batch) and
    ``throttle_backoff_s`` ((first, max) of the doubling backoff after a throttle)
    are labkit options: AWS documents neither.
    """

    batch_size: int = facts.KINESIS_ESM_DEFAULT_BATCH_SIZE
    maximum_batching_window_s: int = facts.KINESIS_ESM_DEFAULT_BATCHING_WINDOW_S
    parallelization_factor: int = 1
    starting_position: str = "TRIM_HORIZON"
    maximum_retry_attempts: int = facts.KINESIS_ESM_DEFAULT_MAX_RETRY_ATTEMPTS
    maximum_record_age_s: int = facts.KINESIS_ESM_DEFAULT_MAX_RECORD_AGE_S
    bisect_batch_on_function_error: bool = False
    report_batch_item_failures: bool = False
    on_failure: "DestinationQueue | None" = None
    retry_delay_s: float = facts.KINESIS_ESM_RETRY_DELAY_S
    throttle_backoff_s: tuple = facts.KINESIS_ESM_THROTTLE_BACKOFF_S

    def __post_init__(self):
        _check_int("BatchSize", self.batch_size, *facts.KINESIS_ESM_BATCH_SIZE_RANGE)
        _check_int("MaximumBatchingWindowInSeconds", self.maximum_batching_window_s,
                   *facts.KINESIS_ESM_BATCHING_WINDOW_S_RANGE)
        _check_int("ParallelizationFactor", self.parallelization_factor,
                   *facts.KINESIS_ESM_PARALLELIZATION_FACTOR_RANGE)
        if self.starting_position not in STARTING_POSITIONS:
            raise InvalidParameterValueException("StartingPosition", self.starting_position,
                                                 f"one of {STARTING_POSITIONS} (labkit supports these)")
        _check_int("MaximumRetryAttempts", self.maximum_retry_attempts,
                   *facts.KINESIS_ESM_MAX_RETRY_ATTEMPTS_RANGE,
                   allowed="-1 (retry until the records expire) or an integer from 0 to "
                           f"{facts.KINESIS_ESM_MAX_RETRY_ATTEMPTS_RANGE[1]:,}")
        lo, hi = facts.KINESIS_ESM_MAX_RECORD_AGE_S_RANGE
        _check_int("MaximumRecordAgeInSeconds", self.maximum_record_age_s, lo, hi, also=-1,
                   allowed=f"-1 (no limit) or an integer from {lo:,} to {hi:,}")
        for name in ("bisect_batch_on_function_error", "report_batch_item_failures"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameterValueException(name, getattr(self, name), "True or False")
        if self.on_failure is not None and not isinstance(self.on_failure, DestinationQueue):
            raise InvalidParameterValueException("on_failure", self.on_failure, "None or a destination queue")
        v = self.retry_delay_s
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise InvalidParameterValueException("retry_delay_s", v, "a number of seconds > 0 (labkit option)")
        b = self.throttle_backoff_s
        if not (isinstance(b, tuple) and len(b) == 2 and all(isinstance(x, (int, float)) for x in b)
                and 0 < b[0] <= b[1] < math.inf):
            raise InvalidParameterValueException("throttle_backoff_s", b,
                                                 "(first_s, max_s) with 0 < first_s <= max_s (labkit option)")


class _Lane:
    """One sequential consumer of a shard: the whole shard, or one ParallelizationFactor slice."""

    __slots__ = ("shard", "index", "buffer", "buffer_bytes", "waiter")

    def __init__(self, shard, index):
        self.shard, self.index = shard, index
        self.buffer = deque()      # polled records not yet taken into a batch, in sequence order
        self.buffer_bytes = 0
        self.waiter = None

    def skip_done(self):
        # Retention removes the oldest records first, so finished ones form a prefix.
        buf = self.buffer
        while buf and buf[0].done:
            self.buffer_bytes -= buf.popleft().event_bytes


_ALL = "all"   # a batch-item-failures response meaning full failure

_EMPTY_EVENT_BYTES = len(json.dumps({"Records": []}))
_SEPARATOR_BYTES = len(", ")


def _payload_bytes(records):
    return _EMPTY_EVENT_BYTES + sum(r.event_bytes for r in records) + _SEPARATOR_BYTES * max(0, len(records) - 1)


class KinesisEventSourceMapping:
    """The ESM from ``stream`` to ``fn``: pollers, lanes, retries and their records.

    ``options`` are the fields of ``KinesisMappingConfig``. Creating the mapping
    starts polling at once (one simpy process per shard and one per lane).
    """

    def __init__(self, stream, fn, **options):
        if getattr(fn, "account", None) is not stream.account:
            raise SimulationError(f"{fn!r} and {stream!r} do not belong to the same Lab")
        if stream.mapping is not None:
            raise SimulationError(f"{stream!r} already has an event source mapping (labkit allows one)")
        self.config = KinesisMappingConfig(**options)
        self.stream, self.fn = stream, fn
        self.account = acct = stream.account
        stream.mapping = self
        self.uuid = str(uuid.UUID(int=random.Random(f"{acct.seed}:kinesis-esm:{stream.name}").getrandbits(128),
                                  version=4))
        pf = self.config.parallelization_factor
        self.lanes = {s.id: [_Lane(s, k) for k in range(pf)] for s in stream.shards}
        self.batch_rows = []         # BATCH_COLUMNS
        self.iterator_age_rows = []  # ITERATOR_AGE_COLUMNS
        self._batches = {s.id: 0 for s in stream.shards}
        env = acct.env
        for shard in stream.shards:
            cursor = len(shard.records) if self.config.starting_position == "LATEST" else 0
            env.process(self._poll(shard, cursor))
            for lane in self.lanes[shard.id]:
                env.process(self._consume(lane))

    def _lane_index(self, rec):
        return rec.key_hash % self.config.parallelization_factor

    @property
    def drained(self):
        """True when the stream holds no unsettled record (the driver may stop)."""
        return self.stream.drained

    def when_drained(self):
        return self.stream.when_drained()

    # -- polling -------------------------------------------------------------------
    def _poll(self, shard, cursor):
        """Read the shard about once per second, handing new records to their lanes."""
        env = self.account.env
        interval = facts.KINESIS_ESM_POLL_INTERVAL_S
        t0 = env.now
        lanes = self.lanes[shard.id]
        while True:
            records = shard.records
            if cursor < len(records):
                for rec in records[cursor:]:
                    if not rec.done:
                        lane = lanes[self._lane_index(rec)]
                        lane.buffer.append(rec)
                        lane.buffer_bytes += rec.event_bytes
                cursor = len(records)
                for lane in lanes:
                    if lane.waiter is not None and not lane.waiter.triggered:
                        lane.waiter.succeed()
            else:
                # Nothing new: sleep until a record arrives instead of ticking idly;
                # the next poll keeps the once-per-second rhythm.
                ev = env.event()
                shard._waiters.append(ev)
                yield ev
            next_poll = t0 + (math.floor((env.now - t0) / interval) + 1) * interval
            yield env.timeout(next_poll - env.now)

    def _wait(self, lane, timeout=None):
        env = self.account.env
        lane.waiter = env.event()
        ev = lane.waiter if timeout is None else (lane.waiter | env.timeout(timeout))
        yield ev
        lane.waiter = None

    # -- one lane ------------------------------------------------------------------
    def _consume(self, lane):
        """Form batches from the lane's buffer and run them one at a time."""
        env, cfg = self.account.env, self.config
        cap = facts.KINESIS_ESM_BATCH_PAYLOAD_LIMIT_BYTES
        while True:
            lane.skip_done()
            if not lane.buffer:
                yield from self._wait(lane)
                continue
            if cfg.maximum_batching_window_s:
                deadline = env.now + cfg.maximum_batching_window_s
                while (lane.buffer and len(lane.buffer) < cfg.batch_size and env.now < deadline
                       and _EMPTY_EVENT_BYTES + lane.buffer_bytes < cap):
                    yield from self._wait(lane, deadline - env.now)
                    lane.skip_done()
                if not lane.buffer:
                    continue
            batch, size = [], _EMPTY_EVENT_BYTES
            while lane.buffer and len(batch) < cfg.batch_size:
                rec = lane.buffer[0]
                extra = rec.event_bytes + (_SEPARATOR_BYTES if batch else 0)
                if batch and size + extra > cap:
                    break
                batch.append(lane.buffer.popleft())
                lane.buffer_bytes -= rec.event_bytes
                size += extra
            shard_id = lane.shard.id
            self._batches[shard_id] += 1
            yield from self._run_batch(lane, batch, f"{shard_id}:batch-{self._batches[shard_id]}")

    def _run_batch(self, lane, records, batch_id, depth=0, retries=0, invocations=0, last_row=None):
        """Invoke one batch until it succeeds or its records are given up; the lane waits meanwhile."""
        env, acct, cfg, fn = self.account.env, self.account, self.config, self.fn
        backoff = cfg.throttle_backoff_s[0]
        while True:
            records = self._drop_expired(records)
            records = self._drop_too_old(lane, records, invocations, last_row)
            if not records:
                return
            event = {"Records": [r.event() for r in records]}
            for r in records:
                r.inflight = True
            row = yield from acct.invoke_once(fn, event, batch_id, retries + 1, None, REQUEST_RESPONSE)
            for r in records:
                r.inflight = False
            outcome = row.outcome
            if outcome == THROTTLED:
                self._log(lane, records, batch_id, row, "throttled", retries, depth)
                # A throttle is not a function error: back off, no retry used up.
                yield env.timeout(backoff)
                backoff = min(backoff * 2, cfg.throttle_backoff_s[1])
                continue
            backoff = cfg.throttle_backoff_s[0]
            invocations += 1
            last_row = row
            whole_batch_failed = outcome != SUCCESS
            if outcome == SUCCESS:
                cut = self._first_failed_item(row.response, records)
                if cut is None:
                    self._log(lane, records, batch_id, row, "success", retries, depth)
                    for r in records:
                        self.stream._settle(r, "succeeded")
                    return
                if cut is _ALL:
                    whole_batch_failed = True
                    self._log(lane, records, batch_id, row, "invalid_response", retries, depth)
                else:
                    # Checkpoint at the lowest reported sequence number; retry from there.
                    self._log(lane, records, batch_id, row, "partial", retries, depth)
                    for r in records[:cut]:
                        self.stream._settle(r, "succeeded")
                    records = records[cut:]
            else:
                self._log(lane, records, batch_id, row, outcome, retries, depth)
            if whole_batch_failed and cfg.bisect_batch_on_function_error and len(records) > 1:
                # Bisect: first half, then second half; a split is not a retry.
                half = len(records) // 2
                yield from self._run_batch(lane, records[:half], f"{batch_id}.1", depth + 1, retries,
                                           invocations, last_row)
                yield from self._run_batch(lane, records[half:], f"{batch_id}.2", depth + 1, retries,
                                           invocations, last_row)
                return
            retries += 1
            if 0 <= cfg.maximum_retry_attempts < retries:
                records = self._drop_expired(records)
                self._give_up(lane, records, "RetryAttemptsExhausted", invocations, last_row)
                return
            yield env.timeout(cfg.retry_delay_s)

    def _first_failed_item(self, response, records):
        """None (full success), ``_ALL`` (full failure) or the index of the checkpoint record."""
        if not self.config.report_batch_item_failures or response is None:
            return None
        if not isinstance(response, dict):
            return _ALL
        items = response.get("batchItemFailures")
        if not items:
            return None if items is None or items == [] else _ALL
        if not isinstance(items, list):
            return _ALL
        position = {r.sequence_number: i for i, r in enumerate(records)}
        found = []
        for item in items:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(ident, str) or ident not in position:
                return _ALL
            found.append(position[ident])
        return min(found)

    def _drop_expired(self, records):
        now = self.account.env.now
        keep = []
        for r in records:
            if r.done:
                continue
            if now >= r.expires_s:
                self.stream._settle(r, "dropped", "RetentionExpired")
            else:
                keep.append(r)
        return keep

    def _drop_too_old(self, lane, records, invocations, last_row):
        max_age = self.config.maximum_record_age_s
        if max_age < 0:
            return records
        now = self.account.env.now
        n = 0
        while n < len(records) and now - records[n].arrival_s > max_age:
            n += 1
        if n:
            self._give_up(lane, records[:n], "RecordAgeExceeded", invocations, last_row)
        return records[n:]

    def _give_up(self, lane, records, condition, invocations, last_row):
        """Send batch metadata to the on-failure destination (or drop), settling the records."""
        if not records:
            return
        acct = self.account
        now = acct.env.now
        dest = self.config.on_failure
        if dest is not None:
            ctx = {"requestId": last_row.request_id if last_row else None, "functionArn": self.fn.arn,
                   "condition": condition, "approximateInvokeCount": invocations}
            body = {"requestContext": ctx}
            if last_row is not None:
                body["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST",
                                           **({} if last_row.outcome == SUCCESS else {"functionError": "Unhandled"})}
            body["version"] = "1.0"
            body["timestamp"] = _iso(acct.epoch + now)
            body["KinesisBatchInfo"] = {
                "shardId": lane.shard.id,
                "startSequenceNumber": records[0].sequence_number,
                "endSequenceNumber": records[-1].sequence_number,
                "approximateArrivalOfFirstRecord": _iso(acct.epoch + records[0].arrival_s),
                "approximateArrivalOfLastRecord": _iso(acct.epoch + records[-1].arrival_s),
                "batchSize": len(records),
                "streamArn": self.stream.arn,
            }
            dest.send(now, body)
        state = "failure_destination" if dest is not None else "dropped"
        for r in records:
            self.stream._settle(r, state, condition)

    def _log(self, lane, records, batch_id, row, outcome, retries, depth):
        now = self.account.env.now
        self.batch_rows.append((batch_id, lane.shard.id, lane.index, records[0].sequence_number,
                                records[-1].sequence_number, len(records), _payload_bytes(records), row.request_id,
                                row.arrival_s, row.end_s, outcome,
                                row.error_type if outcome != "invalid_response" else None,
                                retries, depth))
        self.iterator_age_rows.append((now, lane.shard.id, lane.index, (now - records[-1].arrival_s) * 1000.0,
                                       batch_id, outcome))

    # -- views ---------------------------------------------------------------------
    @property
    def batches(self):
        """Every batch invocation attempt (BATCH_COLUMNS), in the order they finished."""
        import pandas as pd
        return pd.DataFrame(self.batch_rows, columns=BATCH_COLUMNS)

    @property
    def iterator_age(self):
        """IteratorAge per finished attempt: the age (ms) of the batch's last record at that moment."""
        import pandas as pd
        return pd.DataFrame(self.iterator_age_rows, columns=ITERATOR_AGE_COLUMNS)

    def __repr__(self):
        c = self.config
        return (f"<KinesisEventSourceMapping {self.stream.name} -> {self.fn.name}: BatchSize {c.batch_size}, "
                f"ParallelizationFactor {c.parallelization_factor}>")
