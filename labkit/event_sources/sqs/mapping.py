"""Lambda's event source mapping for an SQS queue: pollers, scaling, batches and their results.

* **Batching**: ``BatchSize`` (default 10; max 10,000 standard, 10 FIFO),
  ``MaximumBatchingWindowInSeconds`` (0-300, standard only; BatchSize > 10
  needs a window of at least 1 s) and the 6 MB invoke payload. With a window,
  the poller keeps gathering for up to that long after the first message.
* **Scaling (standard)**: 5 concurrent batches at first; each second in which
  messages wait and every slot is busy adds 300/60 more, up to
  ``concurrency_cap`` (UNCONFIRMED default 1,250; older docs say 1,000) or
  ``ScalingConfig.MaximumConcurrency`` (2-1,000). With no backlog it scales
  back toward 5 (at an UNCONFIRMED rate). labkit assumption: no scale-up in a
  second with throttled invokes (AWS "backs off" without numbers). AWS also
  lowers ESM concurrency after function errors, by an undocumented amount:
  not modelled. FIFO uses the same ramp; its concurrency is also bounded by the number of
  message groups with messages ready, since each group has at most one batch
  in flight.
* **Results**: success deletes the batch. Any error (exception, timeout,
  runtime error) leaves the whole batch to reappear after the visibility
  timeout, unless ``report_batch_item_failures`` is on and the function
  returned ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}``:
  then only those stay. An invalid response (not a JSON object, an empty or
  unknown ``itemIdentifier``, a bad key) counts as a failure of the whole
  batch. A throttled invoke is retried with backoff while the messages stay
  invisible (labkit's poller starts no retry that could outlive the
  visibility timeout); after that they reappear.

Records: ``esm.batches`` (one row per batch, ``BATCH_COLUMNS``) and
``esm.concurrency()`` (batches in flight and the pollers' slots over time).
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from typing import Any

import pandas as pd

from ... import facts, validation
from ...errors import InvalidParameterValueException
from ...records import (
    INVALID_RESPONSE,
    PARTIAL,
    REQUEST_RESPONSE,
    SQS_BATCH_COLUMNS,
    SQS_POLLER_COLUMNS,
    SUCCESS,
    THROTTLED,
    SqsBatchRecord,
    SqsPollerSample,
)
from ...runtime import Account, Function
from .message import LIVE, Message
from .params import int_param
from .queue import SqsQueue

BATCH_COLUMNS = SQS_BATCH_COLUMNS     # the columns of ``esm.batches`` (the name this module always had)


class _Batch:
    __slots__ = ("id", "messages", "handles", "counts", "records", "bytes", "full", "opened_s")

    def __init__(self, batch_id: str, opened_s: float) -> None:
        self.id, self.opened_s = batch_id, opened_s
        self.messages: list[Message] = []
        self.handles: list[str] = []      # each message's receipt handle from this batch's receive
        self.counts: list[int] = []       # each message's receive count after that receive
        self.records: list[dict] = []     # the event's Records
        self.bytes = len(b'{"Records": []}')
        self.full = False


class SqsEventSourceMapping:
    """Lambda's pollers for one SQS queue and one function (``CreateEventSourceMapping``)."""

    def __init__(self, account: Account, queue: SqsQueue, fn: Function, *,
                 batch_size: int = facts.SQS_ESM_DEFAULT_BATCH_SIZE, maximum_batching_window_s: int = 0,
                 maximum_concurrency: int | None = None, report_batch_item_failures: bool = False,
                 concurrency_cap: int = facts.SQS_ESM_DEFAULT_MAX_CONCURRENCY,
                 scale_up_per_minute: float = facts.SQS_ESM_SCALE_UP_PER_MINUTE,
                 scale_down_per_minute: float = facts.SQS_ESM_SCALE_DOWN_PER_MINUTE,
                 throttle_backoff_s: tuple[float, float] = facts.SQS_ESM_THROTTLE_BACKOFF_S) -> None:
        if not isinstance(queue, SqsQueue):
            raise InvalidParameterValueException("EventSourceArn", queue, "an SqsQueue")
        if getattr(fn, "account", None) is not account or queue.account is not account:
            raise InvalidParameterValueException("FunctionName", fn, "a function of the queue's Lab")
        hi = facts.SQS_ESM_MAX_BATCH_SIZE_FIFO if queue.fifo else facts.SQS_ESM_MAX_BATCH_SIZE_STANDARD
        kind = "FIFO" if queue.fifo else "standard"
        self.batch_size = int_param("BatchSize", batch_size, 1, hi, f" for a {kind} queue")
        w = int_param("MaximumBatchingWindowInSeconds", maximum_batching_window_s,
                       *facts.SQS_ESM_BATCHING_WINDOW_S_RANGE, " seconds")
        if queue.fifo and w > 0:
            raise InvalidParameterValueException("MaximumBatchingWindowInSeconds", w,
                                                 "0 for a FIFO queue (batching windows are for standard queues)")
        if self.batch_size > facts.SQS_ESM_LARGE_BATCH_THRESHOLD and w < facts.SQS_ESM_LARGE_BATCH_MIN_WINDOW_S:
            raise InvalidParameterValueException(
                "MaximumBatchingWindowInSeconds", w,
                f"at least {facts.SQS_ESM_LARGE_BATCH_MIN_WINDOW_S} s when BatchSize > "
                f"{facts.SQS_ESM_LARGE_BATCH_THRESHOLD}",
                f"BatchSize is {self.batch_size}")
        self.maximum_batching_window_s = float(w)
        if maximum_concurrency is not None:
            maximum_concurrency = int_param("ScalingConfig.MaximumConcurrency", maximum_concurrency,
                                             *facts.SQS_ESM_MAXIMUM_CONCURRENCY_RANGE)
        self.maximum_concurrency = maximum_concurrency
        if not isinstance(report_batch_item_failures, bool):
            raise InvalidParameterValueException("FunctionResponseTypes", report_batch_item_failures,
                                                 "True (ReportBatchItemFailures) or False")
        self.report_batch_item_failures = report_batch_item_failures
        self.concurrency_cap = int_param("concurrency_cap", concurrency_cap, 1, 10 ** 6, " (labkit option)")
        for name, v in (("scale_up_per_minute", scale_up_per_minute), ("scale_down_per_minute", scale_down_per_minute)):
            validation.number(name, v, 0, allowed="a finite number >= 0 (labkit option)")
        self.scale_up_per_minute, self.scale_down_per_minute = scale_up_per_minute, scale_down_per_minute
        validation.delay_pair("throttle_backoff_s", throttle_backoff_s,
                              allowed=f"(first, longest) delays in seconds, 0 < first <= longest <= "
                                      f"{validation.MAX_SIMULATED_S:,.0f} (labkit option)")
        self.throttle_backoff_s = throttle_backoff_s
        vt, ft = queue.visibility_timeout_s, fn.config.timeout_s
        if ft > vt:
            raise InvalidParameterValueException(
                "Timeout", ft, f"at most the queue's VisibilityTimeout ({vt} s)",
                f"Queue visibility timeout: {vt} seconds is less than Function timeout: {ft} seconds")
        self.account, self.env, self.queue, self.fn = account, account.env, queue, fn
        self.uuid = str(uuid.UUID(int=random.Random(f"{account.seed}:esm:{queue.name}:{fn.name}").getrandbits(128),
                                  version=4))
        self.ceiling = min(self.concurrency_cap, maximum_concurrency or self.concurrency_cap)
        self.floor = min(facts.SQS_ESM_INITIAL_CONCURRENCY, self.ceiling)
        self.target = float(self.floor)
        self.inflight = 0             # batches being gathered or invoked (pollers busy)
        self.records: list[SqsBatchRecord] = []     # one per batch, in the order they finished
        self.samples = [SqsPollerSample(self.env.now, 0, self.floor)]   # every change of batches or slots
        self._batch_counter = itertools.count(1)
        self._wake = None
        self._throttled = False       # an invoke was throttled since the last scaling tick
        self.env.process(self._dispatch())
        self.env.process(self._scale())

    def __repr__(self) -> str:
        return (f"<SqsEventSourceMapping {self.queue.name} -> {self.fn.name}: batch {self.batch_size}, "
                f"{self.inflight}/{self.slots} batches in flight>")

    @property
    def slots(self) -> int:
        """How many batches may be in flight now (the pollers' current concurrency)."""
        return min(int(self.target + 1e-9), self.ceiling)

    @property
    def drained(self) -> bool:
        """True when the queue has nothing left to settle and no batch is in flight."""
        return self.queue.unsettled == 0 and self.inflight == 0

    # -- polling -------------------------------------------------------------------------
    def _poke(self):
        ev, self._wake = self._wake, None
        if ev is not None:
            ev.succeed()

    def _sample(self):
        now, inflight, slots = self.env.now, self.inflight, self.slots
        last = self.samples[-1]
        if last.time_s == now:
            self.samples[-1] = SqsPollerSample(now, inflight, slots)
        elif last.batches != inflight or last.slots != slots:
            self.samples.append(SqsPollerSample(now, inflight, slots))

    def _dispatch(self):
        env, q = self.env, self.queue
        while True:
            if self.inflight < self.slots and q.receivable():
                yield from self._open_batch()
                continue
            if self._wake is None:
                self._wake = env.event()
            waits = [self._wake]
            if self.inflight < self.slots:
                waits.append(q.wait_receivable())
            yield env.any_of(waits)

    def _open_batch(self):
        env, q = self.env, self.queue
        batch = _Batch(f"{q.name}:batch-{next(self._batch_counter)}", env.now)
        self.inflight += 1
        self._sample()
        self._fill(batch)
        if self.maximum_batching_window_s > 0 and batch.messages:
            deadline = env.now + self.maximum_batching_window_s
            while not batch.full and env.now < deadline:
                yield q.wait_receivable() | env.timeout(deadline - env.now)
                self._fill(batch)
        if not batch.messages:   # everything seen had expired or moved to the dead-letter queue
            self.inflight -= 1
            self._sample()
            return
        env.process(self._run_batch(batch))

    def _fill(self, batch):
        q = self.queue
        limit = facts.SYNC_PAYLOAD_LIMIT_BYTES

        def fits(msg):
            # Size the record as Lambda would send it (receive count and handle as after this receive).
            rec = q.lambda_record(msg)
            rec["receiptHandle"] = "x" * 68
            rec["attributes"]["ApproximateReceiveCount"] = str(msg.receive_count + 1)
            size = len(json.dumps(rec).encode()) + 2
            if batch.bytes + size > limit:
                batch.full = True
                return False
            batch.bytes += size
            return True

        room = self.batch_size - len(batch.messages)
        if room <= 0:
            batch.full = True
            return
        for msg in q.receive(room, fits):
            batch.messages.append(msg)
            batch.handles.append(msg.receipt_handle)
            batch.counts.append(msg.receive_count)
            batch.records.append(q.lambda_record(msg))
        if len(batch.messages) >= self.batch_size:
            batch.full = True

    # -- one batch ----------------------------------------------------------------------
    def _run_batch(self, batch):
        env, acct, fn, q = self.env, self.account, self.fn, self.queue
        event = {"Records": batch.records}
        deadline = min(m.visible_at for m in batch.messages)
        lo, hi = self.throttle_backoff_s
        backoff = lo
        attempts = throttles = 0
        first_start = None
        while True:
            attempts += 1
            row = yield from acct.invoke_once(fn, event, batch.id, attempts, None, REQUEST_RESPONSE)
            if first_start is None and row.outcome != THROTTLED:
                first_start = row.start_s     # the invocation's start (a cold start's init included)
            if row.outcome != THROTTLED:
                break
            throttles += 1
            self._throttled = True
            delay, backoff = min(backoff, hi), min(backoff * 2, hi)
            # Retry only while the messages would stay hidden for a whole invocation.
            if env.now + delay + fn.config.timeout_s > deadline:
                break
            yield env.timeout(delay)
        outcome, error_type = row.outcome, row.error_type
        ids = [m.message_id for m in batch.messages]
        returned = list(ids)
        if outcome == SUCCESS:
            if self.report_batch_item_failures:
                failed = _batch_item_failures(row.response, set(ids))
                if failed is None:
                    outcome, error_type = INVALID_RESPONSE, "InvalidBatchItemFailures"
                else:
                    returned = [i for i in ids if i in failed]
                    if returned:
                        outcome = PARTIAL
            else:
                returned = []
        keep = set(returned)
        deleted = stale = 0
        for msg, handle in zip(batch.messages, batch.handles, strict=True):
            if msg.message_id in keep:
                continue
            if q.delete(msg, handle):
                deleted += 1
            elif msg.state in LIVE:
                stale += 1      # received again meanwhile (visibility ran out): this handle is stale
        self.records.append(SqsBatchRecord(
            batch_id=batch.id, function=fn.name, queue=q.name, request_id=row.request_id, attempts=attempts,
            throttles=throttles, opened_s=batch.opened_s, started_s=first_start, end_s=env.now,
            size=len(ids), payload_bytes=batch.bytes, message_ids=tuple(ids),
            group_ids=tuple(m.group_id for m in batch.messages),
            receive_counts=tuple(batch.counts),
            outcome=outcome, error_type=error_type, returned_ids=tuple(returned), deleted=deleted,
            stale_deletes=stale))
        self.inflight -= 1
        self._sample()
        self._poke()

    # -- scaling -------------------------------------------------------------------------
    def _scale(self):
        env, q = self.env, self.queue
        up = self.scale_up_per_minute / 60.0
        down = self.scale_down_per_minute / 60.0
        while True:
            if self.inflight == 0 and self.target <= self.floor and not q.receivable():
                self._throttled = False
                yield q.wait_receivable()      # idle: no ticking, so a drained simulation can end
                continue
            yield env.timeout(1.0)
            backlog = q.receivable()
            if backlog and self.inflight >= self.slots and not self._throttled:
                if self.target < self.ceiling:
                    self.target = min(float(self.ceiling), self.target + up)
                    self._sample()
                    self._poke()
            elif not backlog and self.target > self.floor:
                self.target = max(float(self.floor), self.target - down)
                self._sample()
            self._throttled = False

    # -- records -------------------------------------------------------------------------
    @property
    def batches(self) -> pd.DataFrame:
        """One row per batch (``BATCH_COLUMNS``), in the order the batches finished
        (a property, as on the Kinesis mapping)."""
        return pd.DataFrame(self.records, columns=SQS_BATCH_COLUMNS)

    def processing_starts(self) -> dict[str, float]:
        """``{message_id: start of the batch that processed it}`` (the successful batch;
        messages never processed are absent)."""
        b = self.batches
        starts = {}
        for ids, t, outcome in zip(b["message_ids"], b["started_s"], b["outcome"], strict=True):
            if outcome == SUCCESS:
                for m in ids:
                    starts[m] = t
        return starts

    def concurrency(self) -> pd.DataFrame:
        """Batches in flight and the pollers' slots, as a step function over time."""
        return pd.DataFrame(self.samples, columns=SQS_POLLER_COLUMNS)


def _batch_item_failures(response: Any, ids: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response returns, or None when it is invalid."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    out = set()
    for item in items:
        if not isinstance(item, dict) or set(item) != {"itemIdentifier"}:
            return None
        v = item["itemIdentifier"]
        if not isinstance(v, str) or v not in ids:
            return None
        out.add(v)
    return out
