"""Drivers: the callers that put traffic into a simulated account, below the notebook facade.

A ``Dispatcher`` belongs to one simulated account. It numbers events, registers
each in the ledger and settles it, and runs the three kinds of caller:

* **open loop** (``open_loop``): events arrive on the workload's schedule, whatever
  happens to earlier ones; a synchronous caller gets an answer or a throttle.
* **closed loop** (``closed_loop``): ``clients`` callers, each sending its next
  request only after the previous answer (plus its think time).
* **asynchronous** (``async_loop``): each event is accepted (202) into the
  function's internal queue (``labkit.event_sources.asynchronous``).

``call`` is one synchronous call with client-side retries (``labkit.retry.SdkRetry``);
simulated services (the boto3 Lambda client, the traditional server baseline)
use the same dispatcher, so every event from every caller ends in the ledger.
A ``Tracker`` counts a run's outstanding calls and drivers and fires ``done``
when all have finished.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any, cast

import simpy

from .event_sources.asynchronous import AsyncConfig, AsyncQueue
from .event_sources.ledger import Ledger
from .records import EVENT, FAILED, REQUEST_RESPONSE, SUCCEEDED, SUCCESS, THROTTLED, AsyncEventRecord, InvocationRecord
from .retry import SdkRetry
from .runtime import Account, Function
from .workload import ClosedLoop, Workload, payload_fn


class Tracker:
    """Counts a run's outstanding calls and running drivers; ``done`` fires when both are zero."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.pending = 0
        self.drivers = 0
        self.done = env.event()

    def finished_one(self) -> None:
        self.pending -= 1
        self._check()

    def driver_finished(self) -> None:
        self.drivers -= 1
        self._check()

    def _check(self) -> None:
        if self.pending == 0 and self.drivers == 0 and not self.done.triggered:
            self.done.succeed()


class Dispatcher:
    """Event ids, workload random streams, synchronous calls and asynchronous queues of one account."""

    def __init__(self, account: Account, ledger: Ledger, seed: int) -> None:
        self.account = account
        self.env = account.env
        self.ledger = ledger
        self.seed = seed
        self.events_issued = 0
        self._workloads = 0
        self._retry_rng = random.Random(f"{seed}:sdk-retry")
        self.async_queues: dict[str, AsyncQueue] = {}

    # -- numbering ---------------------------------------------------------------------------
    def next_event_id(self) -> str:
        self.events_issued += 1
        return f"evt-{self.events_issued:06d}"

    def event_ids_since(self, issued: int) -> list[str]:
        """The ids of the events numbered after ``issued`` events had been."""
        return [f"evt-{k:06d}" for k in range(issued + 1, self.events_issued + 1)]

    def workload_rng(self) -> random.Random:
        """A fresh seeded stream for the next workload (one per workload, in order)."""
        self._workloads += 1
        return random.Random(f"{self.seed}:workload:{self._workloads}")

    # -- asynchronous queues -------------------------------------------------------------------
    def async_queue(self, fn: Function, **config: Any) -> AsyncQueue:
        """The function's asynchronous-invocation queue; new settings replace the queue."""
        queues = self.async_queues
        if config or fn.name not in queues:
            rng = random.Random(f"{self.seed}:async:{fn.name}")
            queues[fn.name] = AsyncQueue(self.account, self.ledger, fn, AsyncConfig(**config), rng)
        return queues[fn.name]

    def async_records(self, event_ids: list[str]) -> list[AsyncEventRecord]:
        out: list[AsyncEventRecord] = []
        for q in self.async_queues.values():
            out.extend(q.records[e] for e in event_ids if e in q.records)
        return out

    # -- synchronous calls -----------------------------------------------------------------------
    def settle_sync(self, record: InvocationRecord) -> None:
        """A synchronous caller got its answer: success, or the error/throttle it must handle."""
        event_id = cast(str, record.event_id)   # a synchronous call always has one
        if record.outcome == SUCCESS:
            self.ledger.settle(event_id, SUCCEEDED, self.env.now)
        else:
            self.ledger.settle(event_id, FAILED, self.env.now, record.throttle_reason or record.error_type)

    def call(self, fn: Function, event: Any, event_id: str, retry: SdkRetry | None,
             client: int | None) -> Generator[Any, Any, InvocationRecord]:
        """One synchronous call, retried on throttles when ``retry`` says so; returns the last record."""
        acct, env = self.account, self.env
        attempt = 1
        if event_id not in self.ledger.states:
            self.ledger.register(event_id, env.now)
        while True:
            record = yield from acct.invoke_once(fn, event, event_id, attempt, client)
            if record.outcome != THROTTLED or retry is None or attempt >= retry.max_attempts:
                self.settle_sync(record)
                return record
            yield env.timeout(retry.delay(attempt, self._retry_rng))
            attempt += 1

    # -- drivers -------------------------------------------------------------------------------
    def start(self, fn: Function, wl: Workload, invocation_type: str, retry: SdkRetry | None,
              tracker: Tracker, t0: float) -> None:
        """Start the driver of one stream of traffic (it runs as a simpy process)."""
        rng = self.workload_rng()
        tracker.drivers += 1
        env = self.env
        if invocation_type == EVENT:
            env.process(self.async_loop(fn, wl, rng, tracker, t0))
        elif wl.closed:
            env.process(self.closed_loop(fn, cast(ClosedLoop, wl), rng, retry, tracker))
        else:
            env.process(self.open_loop(fn, wl, rng, retry, tracker, t0))

    def open_loop(self, fn: Function, wl: Workload, rng: random.Random, retry: SdkRetry | None,
                  tracker: Tracker, t0: float) -> Generator:
        env, acct = self.env, self.account
        for offset, event in wl.events(rng):
            delay = t0 + offset - env.now
            if delay > 0:
                yield env.timeout(delay)
            event_id = self.next_event_id()
            self.ledger.register(event_id, env.now)
            if retry is None:
                # Admit inline: a throttled call without retries needs no process.
                ee, reason = acct.admit(fn)
                if ee is None:
                    self.settle_sync(acct.throttle_record(fn, event_id, 1, None, reason))
                    continue
                tracker.pending += 1
                env.process(self._sync_call(
                    acct.run_invocation(fn, ee, event, event_id, 1, None, REQUEST_RESPONSE), tracker))
            else:
                tracker.pending += 1
                env.process(self._finish_call(self.call(fn, event, event_id, retry, None), tracker))
        tracker.driver_finished()

    @staticmethod
    def _finish_call(gen: Generator[Any, Any, Any], tracker: Tracker) -> Generator:
        yield from gen
        tracker.finished_one()

    def _sync_call(self, gen: Generator[Any, Any, InvocationRecord], tracker: Tracker) -> Generator:
        """One admitted synchronous call, as a simpy process: run it, settle it, count it."""
        record = yield from gen
        self.settle_sync(record)
        tracker.finished_one()

    def closed_loop(self, fn: Function, wl: ClosedLoop, rng: random.Random, retry: SdkRetry | None,
                    tracker: Tracker) -> Generator:
        env = self.env
        t0 = env.now
        made = 0
        make = payload_fn(wl.payload)

        def client(k: int) -> Generator:
            nonlocal made
            sent = 0
            while wl.requests_per_client is None or sent < wl.requests_per_client:
                if wl.seconds is not None and env.now - t0 >= wl.seconds:
                    break
                event = make(made, rng)
                made += 1
                yield from self.call(fn, event, self.next_event_id(), retry, k)
                sent += 1
                if wl.think_s:
                    yield env.timeout(wl.think_s)
            tracker.finished_one()

        tracker.pending += wl.clients
        for k in range(wl.clients):
            env.process(client(k))
        tracker.driver_finished()
        return
        yield  # a generator, so simpy can run it as a process

    def async_loop(self, fn: Function, wl: Workload, rng: random.Random, tracker: Tracker,
                   t0: float) -> Generator:
        env = self.env
        q = self.async_queue(fn)
        for offset, event in wl.events(rng):
            delay = t0 + offset - env.now
            if delay > 0:
                yield env.timeout(delay)
            event_id = self.next_event_id()
            q.accept(event, event_id)
            tracker.pending += 1
            env.process(self._finish_call(q.deliver(event, event_id), tracker))
        tracker.driver_finished()
