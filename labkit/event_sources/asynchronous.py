"""Asynchronous invocation (``InvocationType=Event``): Lambda's internal queue.

The caller gets ``202`` at once; the event waits in Lambda's queue and is
invoked from there. Two retry regimes apply (facts sheet, section 2b):

* **Function errors** (exceptions and timeouts): up to ``maximum_retry_attempts``
  (0-2, default 2) more attempts, one minute before the first retry and two
  minutes before the second.
* **Throttles** (and system errors): the event goes back on the queue and is
  retried with exponential backoff from 1 s up to 5 minutes (each wait spread
  over the upper half of its step, seeded), for as long as the
  event is younger than ``maximum_event_age_s`` (60-21,600 s, default 6 h).
  These retries do not use up ``maximum_retry_attempts``.

An event that succeeds is recorded (and sent to the on-success destination, if
any). One whose attempts are exhausted or that is too old goes to the
on-failure destination, else the dead-letter queue, else it is dropped and
counted in ``AsyncEventsDropped``. With reserved concurrency 0, events go
straight to the failure destination without retries. The queue is
at-least-once: with ``duplicate_rate`` > 0 (a labkit option; AWS gives no
rate) some events are delivered twice, seeded.
"""

import json

import simpy
from dataclasses import dataclass

from .. import facts, validation
from ..errors import InvalidParameterValueException, RequestTooLargeException
from ..records import (ASYNC_EVENT_COLUMNS, DEAD_LETTER_QUEUE, DROPPED, EVENT, FAILURE_DESTINATION, PENDING,
                       RUN_INTERRUPTED, RUN_INTERRUPTED_REASON, SUCCEEDED, SUCCESS, THROTTLED, AsyncEventRecord)
from .destinations import DestinationQueue

__all__ = ["AsyncConfig", "AsyncQueue", "ASYNC_EVENT_COLUMNS", "payload_size"]


@dataclass(frozen=True)
class AsyncConfig:
    """``PutFunctionEventInvokeConfig`` plus the function's dead-letter queue."""

    maximum_retry_attempts: int = facts.ASYNC_DEFAULT_MAX_RETRY_ATTEMPTS
    maximum_event_age_s: int = facts.ASYNC_DEFAULT_MAX_EVENT_AGE_S
    on_success: "DestinationQueue | None" = None
    on_failure: "DestinationQueue | None" = None
    dead_letter_queue: "DestinationQueue | None" = None
    duplicate_rate: float = facts.ASYNC_DUPLICATE_RATE
    payload_limit_bytes: int = facts.ASYNC_PAYLOAD_LIMIT_BYTES

    def __post_init__(self):
        validation.integer("MaximumRetryAttempts", self.maximum_retry_attempts, *facts.ASYNC_MAX_RETRY_ATTEMPTS_RANGE)
        validation.integer("MaximumEventAgeInSeconds", self.maximum_event_age_s, *facts.ASYNC_MAX_EVENT_AGE_S_RANGE)
        for name in ("on_success", "on_failure", "dead_letter_queue"):
            d = getattr(self, name)
            if d is not None and not isinstance(d, DestinationQueue):
                raise InvalidParameterValueException(name, d, "None or a lab.queue(...) destination")
        validation.number("duplicate_rate", self.duplicate_rate, 0, 1,
                          allowed="a probability from 0 to 1 (labkit option)")
        if self.payload_limit_bytes not in (facts.ASYNC_PAYLOAD_LIMIT_BYTES, facts.ASYNC_LEGACY_PAYLOAD_LIMIT_BYTES):
            raise InvalidParameterValueException(
                "payload_limit_bytes", self.payload_limit_bytes,
                f"{facts.ASYNC_PAYLOAD_LIMIT_BYTES} (since Oct 2025) or "
                f"{facts.ASYNC_LEGACY_PAYLOAD_LIMIT_BYTES} (before)")


def payload_size(event):
    return len(json.dumps(event).encode())


class AsyncQueue:
    """The internal event queue of one function, driving retries and destinations."""

    def __init__(self, account, ledger, fn, config, rng) -> None:
        self.account, self.ledger, self.fn, self.config = account, ledger, fn, config
        self.rng = rng
        self.records: dict[str, AsyncEventRecord] = {}

    def accept(self, event, event_id):
        """The Invoke call itself: check the payload, enqueue, return 202."""
        size = payload_size(event)
        if size > self.config.payload_limit_bytes:
            raise RequestTooLargeException(size, self.config.payload_limit_bytes)
        now = self.account.env.now
        self.ledger.register(event_id, now)
        self.records[event_id] = AsyncEventRecord(event_id, self.fn.name, now)
        return 202

    def drop(self, event_id, reason):
        """Drop an accepted event without invoking (a recursive loop stopped)."""
        return self._settle(self.records[event_id], DROPPED, reason)

    def deliver(self, event, event_id, run=None):
        """Generator for a simpy process: the life of one event in the queue. It ends when the
        event is settled and any duplicate delivery of it has finished too. ``run`` is the
        run's ``labkit.drivers.Tracker``: when the run is aborted the event is dropped
        (reason ``RunInterrupted``) instead of being retried later."""
        dup = None
        if self.config.duplicate_rate and self.rng.random() < self.config.duplicate_rate:
            self.records[event_id].duplicates += 1
            gen = self._duplicate(event, event_id)
            dup = run.spawn(gen) if run is not None else self.account.env.process(gen)
        try:
            rec = yield from self._deliver(event, event_id, run)
            if dup is not None and not dup.triggered:
                yield dup
        except simpy.Interrupt:          # the run was aborted while the event waited
            rec = self.records[event_id]
            if rec.state == PENDING:
                self._settle(rec, DROPPED, RUN_INTERRUPTED_REASON)
        return rec

    def _function(self):
        """The function's current deployment: a redeploy reaches events already queued."""
        return self.account.functions.get(self.fn.name, self.fn)

    def _deliver(self, event, event_id, run=None):
        env, acct, cfg = self.account.env, self.account, self.config
        rec = self.records[event_id]
        received = rec.received_s
        backoff_lo, backoff_hi = facts.ASYNC_THROTTLE_BACKOFF_S
        backoff = backoff_lo
        last_row = None
        while True:
            fn = self._function()
            if fn.config.reserved_concurrency == 0:
                return self._fail(rec, event, facts.ASYNC_ZERO_RESERVED_CONDITION, last_row)
            rec.attempts += 1
            if rec.first_invoke_s is None:
                rec.first_invoke_s = env.now
            row = yield from acct.invoke_once(fn, event, event_id, rec.attempts, None, EVENT)
            if row.error_type == RUN_INTERRUPTED or (run is not None and run.aborted):
                return self._settle(rec, DROPPED, RUN_INTERRUPTED_REASON)
            if row.outcome == THROTTLED:
                rec.throttles += 1
                rec.attempts -= 1   # a throttle is not an attempt on the function
                delay, backoff = self._throttle_delay(backoff, backoff_hi), min(backoff * 2, backoff_hi)
                if env.now + delay - received > cfg.maximum_event_age_s:
                    return self._fail(rec, event, "EventAgeExceeded", last_row)
                yield env.timeout(delay)
                continue
            last_row = row
            if row.outcome == SUCCESS:
                if cfg.on_success is not None:
                    cfg.on_success.send(env.now, self._record(rec, event, "Success", row))
                return self._settle(rec, SUCCEEDED, None)
            rec.function_errors += 1
            if rec.function_errors > cfg.maximum_retry_attempts:
                return self._fail(rec, event, "RetriesExhausted", row)
            delay = facts.ASYNC_FUNCTION_ERROR_RETRY_DELAYS_S[rec.function_errors - 1]
            if env.now + delay - received > cfg.maximum_event_age_s:
                return self._fail(rec, event, "EventAgeExceeded", row)
            yield env.timeout(delay)

    def _throttle_delay(self, backoff, backoff_hi):
        """The wait before retrying a throttled event: the exponential step, spread over its
        upper half with seeded jitter (a labkit assumption: AWS documents the 1 s to 5 min
        range but no spread; without one, a burst would retry in lock-step waves)."""
        step = min(backoff, backoff_hi)
        return step * (0.5 + 0.5 * self.rng.random())

    def _duplicate(self, event, event_id):
        """A second delivery of the same event (at-least-once): attempt 0 in the records. It is
        retried on throttles like the original, and its outcome settles nothing."""
        env = self.account.env
        received = self.records[event_id].received_s
        try:
            yield env.timeout(self.rng.uniform(0.0, 1.0))
        except simpy.Interrupt:          # the run was aborted before the copy arrived
            return None
        backoff, backoff_hi = facts.ASYNC_THROTTLE_BACKOFF_S
        while True:
            fn = self._function()
            row = yield from self.account.invoke_once(fn, event, event_id, 0, None, EVENT)
            if row.outcome != THROTTLED or fn.config.reserved_concurrency == 0 or row.error_type == RUN_INTERRUPTED:
                return row
            delay, backoff = self._throttle_delay(backoff, backoff_hi), min(backoff * 2, backoff_hi)
            if env.now + delay - received > self.config.maximum_event_age_s:
                return row
            try:
                yield env.timeout(delay)
            except simpy.Interrupt:
                return row

    def _record(self, rec, event, condition, row):
        """The destination record, shaped like AWS's (requestContext, responseContext, payloads)."""
        ctx = {"requestId": row.request_id if row else None, "functionArn": self.fn.arn + ":$LATEST",
               "condition": condition, "approximateInvokeCount": rec.attempts}
        body = {"version": "1.0", "requestContext": ctx, "requestPayload": event}
        if row is not None:
            body["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST",
                                       **({} if row.outcome == SUCCESS else {"functionError": "Unhandled"})}
            body["responsePayload"] = row.response
        return body

    def _fail(self, rec, event, condition, row):
        now = self.account.env.now
        cfg = self.config
        if cfg.on_failure is not None:
            cfg.on_failure.send(now, self._record(rec, event, condition, row))
            return self._settle(rec, FAILURE_DESTINATION, condition)
        if cfg.dead_letter_queue is not None:
            attrs = {"RequestID": row.request_id if row else None,
                     "ErrorCode": 200 if row else None,
                     "ErrorMessage": row.error_message if row else condition}
            cfg.dead_letter_queue.send(now, event, attrs)
            return self._settle(rec, DEAD_LETTER_QUEUE, condition)
        return self._settle(rec, DROPPED, condition)

    def _settle(self, rec, state, reason):
        now = self.account.env.now
        rec.finished_s, rec.state, rec.reason = now, state, reason
        self.ledger.settle(rec.event_id, state, now, reason)
        return rec
