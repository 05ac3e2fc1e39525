"""Lambda's event source mapping for a Kinesis stream: polling, lanes, batches, retries.

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

Tables: ``mapping.batches`` (every batch invocation, ``BATCH_COLUMNS``) and
``mapping.iterator_age`` (the age of the last record of each batch when its
invocation finished, per shard and lane, ``ITERATOR_AGE_COLUMNS``).
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import deque
from collections.abc import Generator
from datetime import datetime, timezone
from typing import Any, Final, Literal

import pandas as pd
import simpy

from ... import facts
from ...errors import SimulationError
from ...records import (
    DROPPED,
    FAILURE_DESTINATION,
    INVALID_RESPONSE,
    ITERATOR_AGE_COLUMNS,
    KINESIS_BATCH_COLUMNS,
    PARTIAL,
    RECORD_AGE_EXCEEDED,
    REQUEST_RESPONSE,
    RETENTION_EXPIRED,
    RETRY_ATTEMPTS_EXHAUSTED,
    SUCCEEDED,
    SUCCESS,
    THROTTLED,
    InvocationRecord,
    IteratorAgeRecord,
    KinesisBatchRecord,
)
from ...runtime import Function
from .config import KinesisMappingConfig
from .shard import KinesisRecord, Shard
from .stream import KinesisStream

BATCH_COLUMNS = KINESIS_BATCH_COLUMNS     # the columns of ``mapping.batches`` (the name this module always had)


def _iso(epoch_s: float) -> str:
    """An ISO-8601 UTC timestamp with milliseconds, as in AWS's failure records."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Lane:
    """One sequential consumer of a shard: the whole shard, or one ParallelizationFactor slice."""

    __slots__ = ("shard", "index", "buffer", "buffer_bytes", "waiter")

    def __init__(self, shard: Shard, index: int) -> None:
        self.shard, self.index = shard, index
        self.buffer: deque[KinesisRecord] = deque()      # polled records not yet taken into a batch, in sequence order
        self.buffer_bytes = 0
        self.waiter: simpy.Event | None = None

    def skip_done(self) -> None:
        # Retention removes the oldest records first, so finished ones form a prefix.
        buf = self.buffer
        while buf and buf[0].done:
            self.buffer_bytes -= buf.popleft().event_bytes


_ALL: Final = "all"   # a batch-item-failures response meaning full failure

_EMPTY_EVENT_BYTES = len(json.dumps({"Records": []}))
_SEPARATOR_BYTES = len(", ")


def _payload_bytes(records: list[KinesisRecord]) -> int:
    return _EMPTY_EVENT_BYTES + sum(r.event_bytes for r in records) + _SEPARATOR_BYTES * max(0, len(records) - 1)


class KinesisEventSourceMapping:
    """The ESM from ``stream`` to ``fn``: pollers, lanes, retries and their records.

    ``options`` are the fields of ``KinesisMappingConfig``. Creating the mapping
    starts polling at once (one simpy process per shard and one per lane).
    """

    def __init__(self, stream: KinesisStream, fn: Function, **options: Any) -> None:
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
        self.batch_rows: list[KinesisBatchRecord] = []            # every batch invocation attempt
        self.iterator_age_rows: list[IteratorAgeRecord] = []      # one per batch invocation attempt
        self._batches = {s.id: 0 for s in stream.shards}
        env = acct.env
        for shard in stream.shards:
            cursor = len(shard.records) if self.config.starting_position == "LATEST" else 0
            env.process(self._poll(shard, cursor))
            for lane in self.lanes[shard.id]:
                env.process(self._consume(lane))

    def lane_index(self, rec: KinesisRecord) -> int:
        """The lane of a record: ``md5(partition key) mod ParallelizationFactor``."""
        return rec.key_hash % self.config.parallelization_factor

    @property
    def drained(self) -> bool:
        """True when the stream holds no unsettled record (the driver may stop)."""
        return self.stream.drained

    def when_drained(self) -> simpy.Event:
        """A simpy event that fires when the stream holds no unsettled record."""
        return self.stream.when_drained()

    # -- polling -------------------------------------------------------------------
    def _poll(self, shard: Shard, cursor: int) -> Generator[simpy.Event, Any, None]:
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
                        lane = lanes[self.lane_index(rec)]
                        lane.buffer.append(rec)
                        lane.buffer_bytes += rec.event_bytes
                cursor = len(records)
                for lane in lanes:
                    if lane.waiter is not None and not lane.waiter.triggered:
                        lane.waiter.succeed()
            else:
                # Nothing new: sleep until a record arrives instead of ticking idly;
                # the next poll keeps the once-per-second rhythm.
                yield shard.when_record_added()
            next_poll = t0 + (math.floor((env.now - t0) / interval) + 1) * interval
            yield env.timeout(next_poll - env.now)

    def _wait(self, lane: _Lane, timeout: float | None = None) -> Generator[simpy.Event, Any, None]:
        env = self.account.env
        lane.waiter = env.event()
        ev = lane.waiter if timeout is None else (lane.waiter | env.timeout(timeout))
        yield ev
        lane.waiter = None

    # -- one lane ------------------------------------------------------------------
    def _consume(self, lane: _Lane) -> Generator[simpy.Event, Any, None]:
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
            batch: list[KinesisRecord] = []
            size = _EMPTY_EVENT_BYTES
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

    def _run_batch(self, lane: _Lane, records: list[KinesisRecord], batch_id: str, depth: int = 0, retries: int = 0,
                   invocations: int = 0, last_row: InvocationRecord | None = None) -> Generator[simpy.Event, Any, None]:
        """Invoke one batch until it succeeds or its records are given up; the lane waits meanwhile."""
        env, acct, cfg, fn = self.account.env, self.account, self.config, self.fn
        first_backoff_s, max_backoff_s = cfg.throttle_backoff_s
        backoff = first_backoff_s
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
                self._log(lane, records, batch_id, row, THROTTLED, retries, depth)
                # A throttle is not a function error: back off, no retry used up.
                yield env.timeout(backoff)
                backoff = min(backoff * 2, max_backoff_s)
                continue
            backoff = first_backoff_s
            invocations += 1
            last_row = row
            whole_batch_failed = outcome != SUCCESS
            if outcome == SUCCESS:
                cut = self._first_failed_item(row.response, records)
                if cut is None:
                    self._log(lane, records, batch_id, row, SUCCESS, retries, depth)
                    for r in records:
                        self.stream.settle(r, SUCCEEDED)
                    return
                if cut == _ALL:
                    whole_batch_failed = True
                    self._log(lane, records, batch_id, row, INVALID_RESPONSE, retries, depth)
                else:
                    # Checkpoint at the lowest reported sequence number; retry from there.
                    self._log(lane, records, batch_id, row, PARTIAL, retries, depth)
                    for r in records[:cut]:
                        self.stream.settle(r, SUCCEEDED)
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
                self._give_up(lane, records, RETRY_ATTEMPTS_EXHAUSTED, invocations, last_row)
                return
            yield env.timeout(cfg.retry_delay_s)

    def _first_failed_item(self, response: Any, records: list[KinesisRecord]) -> int | Literal["all"] | None:
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
                self.stream.settle(r, DROPPED, RETENTION_EXPIRED)
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
            self._give_up(lane, records[:n], RECORD_AGE_EXCEEDED, invocations, last_row)
        return records[n:]

    def _give_up(self, lane, records, condition, invocations, last_row) -> None:
        """Send batch metadata to the on-failure destination (or drop), settling the records."""
        if not records:
            return
        acct = self.account
        now = acct.env.now
        dest = self.config.on_failure
        if dest is not None:
            ctx = {"requestId": last_row.request_id if last_row else None, "functionArn": self.fn.arn,
                   "condition": condition, "approximateInvokeCount": invocations}
            body: dict[str, Any] = {"requestContext": ctx}
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
        state = FAILURE_DESTINATION if dest is not None else DROPPED
        for r in records:
            self.stream.settle(r, state, condition)

    def _log(self, lane, records, batch_id, row, outcome, retries, depth):
        now = self.account.env.now
        first, last = records[0], records[-1]
        self.batch_rows.append(KinesisBatchRecord(
            batch_id, lane.shard.id, lane.index, first.sequence_number, last.sequence_number, len(records),
            _payload_bytes(records), row.request_id, row.arrival_s, row.end_s, outcome,
            row.error_type if outcome != INVALID_RESPONSE else None, retries, depth))
        self.iterator_age_rows.append(IteratorAgeRecord(
            now, lane.shard.id, lane.index, (now - last.arrival_s) * 1000.0, batch_id, outcome))

    # -- views ---------------------------------------------------------------------
    @property
    def batches(self) -> pd.DataFrame:
        """Every batch invocation attempt (BATCH_COLUMNS), in the order they finished."""
        return pd.DataFrame(self.batch_rows, columns=KINESIS_BATCH_COLUMNS)

    @property
    def iterator_age(self) -> pd.DataFrame:
        """IteratorAge per finished attempt: the age (ms) of the batch's last record at that moment."""
        return pd.DataFrame(self.iterator_age_rows, columns=ITERATOR_AGE_COLUMNS)

    def __repr__(self) -> str:
        c = self.config
        return (f"<KinesisEventSourceMapping {self.stream.name} -> {self.fn.name}: BatchSize {c.batch_size}, "
                f"ParallelizationFactor {c.parallelization_factor}>")
