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
from simpy.events import Interruption

from .event_sources.asynchronous import AsyncConfig, AsyncQueue
from .event_sources.ledger import Ledger
from . import validation
from .errors import SimulationError
from .records import (DROPPED, EVENT, FAILED, PENDING, REQUEST_RESPONSE, RUN_INTERRUPTED_REASON, SUCCEEDED, SUCCESS,
                      THROTTLED, AsyncEventRecord, InvocationRecord)
from .retry import SdkRetry
from .runtime import Account, Function
from .workload import ClosedLoop, Workload, payload_fn


_NO_PROGRESS = (
    "a closed-loop client of {name} made {n:,} calls without any simulated time passing: its handler "
    "never waits, so a loop bounded by seconds=... would never end. Give requests_per_client=..., or make "
    "the handler wait (lk.sleep, lk.cpu or a call to a simulated service).")


class Tracker:
    """One run's bookkeeping: its outstanding calls and running drivers (``done`` fires when both
    are zero), the processes it started (so an aborted run can stop them), and ``aborted``."""

    _PRUNE_EVERY = 10_000

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.pending = 0
        self.drivers = 0
        self.done = env.event()
        self.aborted = False
        self.processes: list[simpy.Process] = []

    def finished_one(self) -> None:
        self.pending -= 1
        self._check()

    def driver_finished(self) -> None:
        self.drivers -= 1
        self._check()

    def _check(self) -> None:
        if self.pending == 0 and self.drivers == 0 and not self.done.triggered:
            self.done.succeed()

    def spawn(self, gen: Generator[Any, Any, Any]) -> simpy.Process:
        """Start ``gen`` as a process of this run."""
        proc = self.env.process(gen)
        procs = self.processes
        procs.append(proc)
        if len(procs) % self._PRUNE_EVERY == 0:     # forget finished ones now and then
            procs[:] = [p for p in procs if p.is_alive]
        return proc


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
        self.tracker: Tracker | None = None    # the running run's, while it runs
        self._links: dict[str, int] = {}       # event id -> its place in a chain of invokes (1, 2, ...)

    # -- numbering ---------------------------------------------------------------------------
    def next_event_id(self, link: int = 0) -> str:
        """A new event id; ``link`` > 0 for an event that handler code sent (see ``chain_link``)."""
        self.events_issued += 1
        event_id = f"evt-{self.events_issued:06d}"
        if link:
            self._links[event_id] = link
        return event_id

    def chain_link(self, parent_event_id: str | None) -> int:
        """The place, in a chain of invocations each started by the one before, of an event that
        the invocation of ``parent_event_id`` sends (1 for an event sent by a caller's event)."""
        return self._links.get(parent_event_id, 0) + 1 if parent_event_id is not None else 1

    def spawn(self, gen: Generator[Any, Any, Any]) -> simpy.Process:
        """Start ``gen`` as a process of the running run (so an abort stops it), if one runs."""
        tracker = self.tracker
        return tracker.spawn(gen) if tracker is not None else self.env.process(gen)

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
            try:
                yield env.timeout(retry.delay(attempt, self._retry_rng))
            except simpy.Interrupt:       # the run was aborted while the caller waited to retry
                self.ledger.settle(event_id, FAILED, env.now, RUN_INTERRUPTED_REASON)
                return record
            attempt += 1

    # -- drivers -------------------------------------------------------------------------------
    def start(self, fn: Function, wl: Workload, invocation_type: str, retry: SdkRetry | None,
              tracker: Tracker, t0: float) -> None:
        """Start the driver of one stream of traffic (it runs as a simpy process)."""
        rng = self.workload_rng()
        tracker.drivers += 1
        if invocation_type == EVENT:
            tracker.spawn(self.async_loop(fn, wl, rng, tracker, t0))
        elif wl.closed:
            tracker.spawn(self.closed_loop(fn, cast(ClosedLoop, wl), rng, retry, tracker))
        else:
            tracker.spawn(self.open_loop(fn, wl, rng, retry, tracker, t0))

    def open_loop(self, fn: Function, wl: Workload, rng: random.Random, retry: SdkRetry | None,
                  tracker: Tracker, t0: float) -> Generator:
        env, acct = self.env, self.account
        try:
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
                    tracker.spawn(self._sync_call(
                        acct.run_invocation(fn, ee, event, event_id, 1, None, REQUEST_RESPONSE), tracker))
                else:
                    tracker.pending += 1
                    tracker.spawn(self._finish_call(self.call(fn, event, event_id, retry, None), tracker))
        except simpy.Interrupt:          # the run was aborted: no more calls
            pass
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
            last_now, same_instant = -1.0, 0
            try:
                while wl.requests_per_client is None or sent < wl.requests_per_client:
                    if tracker.aborted or (wl.seconds is not None and env.now - t0 >= wl.seconds):
                        break
                    if env.now == last_now:
                        same_instant += 1
                        if same_instant > validation.MAX_CALLS_AT_ONE_INSTANT:
                            raise SimulationError(_NO_PROGRESS.format(n=same_instant, name=fn.name))
                    else:
                        last_now, same_instant = env.now, 0
                    event = make(made, rng)
                    made += 1
                    yield from self.call(fn, event, self.next_event_id(), retry, k)
                    sent += 1
                    if wl.think_s and not tracker.aborted:
                        yield env.timeout(wl.think_s)
            except simpy.Interrupt:      # the run was aborted
                pass
            tracker.finished_one()

        tracker.pending += wl.clients
        for k in range(wl.clients):
            tracker.spawn(client(k))
        tracker.driver_finished()
        return
        yield  # a generator, so simpy can run it as a process

    def async_loop(self, fn: Function, wl: Workload, rng: random.Random, tracker: Tracker,
                   t0: float) -> Generator:
        env = self.env
        q = self.async_queue(fn)
        try:
            for offset, event in wl.events(rng):
                delay = t0 + offset - env.now
                if delay > 0:
                    yield env.timeout(delay)
                event_id = self.next_event_id()
                q.accept(event, event_id)
                tracker.pending += 1
                tracker.spawn(self._finish_call(q.deliver(event, event_id, tracker), tracker))
        except simpy.Interrupt:          # the run was aborted: no more events
            pass
        tracker.driver_finished()

    # -- aborting a run --------------------------------------------------------------------------
    def abort(self, tracker: Tracker, issued: int) -> None:
        """Stop a run that cannot go on (an interrupt, or an error raised in a caller or a payload
        function): its callers stop, every invocation in flight (from any caller, event source
        mappings included) ends recorded as ``labkit.RunInterrupted``, and every event the run
        produced that is still pending settles, so the Lab is consistent and usable again.
        Records and messages already in streams and queues stay there, as on AWS."""
        env, acct = self.env, self.account
        tracker.aborted = True
        procs = {p for p in tracker.processes if p.is_alive}
        busy = []
        for fn in acct.functions.values():
            for ee in fn.environments:
                running = ee.running
                if running is not None:
                    busy.append(ee)
                    if running.process is not None and running.process.is_alive:
                        procs.add(running.process)
        stops = []
        for proc in procs:
            if proc is not env.active_process:
                stops.append(Interruption(proc, RUN_INTERRUPTED_REASON))
        # The stops are due now, ahead of every other event: process exactly those.
        while any(not stop.processed for stop in stops) and env.peek() == env.now:
            try:
                env.step()
            except Exception:        # a process that fails as it stops must not stop the others
                continue
        for ee in busy:              # an invocation whose process could not end it
            if ee.running is not None:
                acct.abort_running(ee)
        for event_id in self.event_ids_since(issued):
            entry = self.ledger.states.get(event_id)
            if entry is not None and entry.state == PENDING:
                queued = any(event_id in q.records for q in self.async_queues.values())
                self.ledger.settle(event_id, DROPPED if queued else FAILED, env.now, RUN_INTERRUPTED_REASON)
