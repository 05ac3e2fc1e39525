"""The simulator backend: a simulated AWS account on a simpy clock (the default backend).

It owns everything one simulated account needs: the runtime model
(``labkit.runtime.Account``), the ledger of events, the dispatcher that drives
traffic (``labkit.drivers``), the simulated services that handler code reaches
with ordinary AWS code (``labkit.services``), and the event sources (streams,
queues, mappings). It receives only checked arguments from ``labkit.Lab`` and
answers each run with an immutable ``RunRecords`` (see ``labkit.backends.base``).

Time carries on from one run to the next, so environments warmed by one run
serve the next. A run's records are the ones made while it ran: an invocation
still in flight when a run stops (``until_s``) is recorded in the next run, or
not at all if none follows before it ends.
"""

from __future__ import annotations

import time as _wall
from dataclasses import replace
from typing import Any

import simpy

from .. import interrupts, kernel, progress
from ..config import FunctionConfig
from ..drivers import Dispatcher, Tracker
from ..errors import InvalidParameterValueException
from ..event_sources.destinations import DestinationQueue
from ..event_sources.kinesis import KinesisEventSourceMapping, KinesisStream
from ..event_sources.kinesis import producer as kinesis_producer
from ..event_sources.ledger import Ledger
from ..event_sources.sqs import RedrivePolicy, SqsEventSourceMapping, SqsQueue
from ..event_sources.sqs import produce as sqs_produce
from ..records import RECLAIMED, EnvironmentRecord, EventRecord, FunctionInfo, RunRecords
from ..retry import SdkRetry
from ..runtime import Account, Function
from ..sandbox import HandlerCode
from ..services import Services
from ..services.database import DatabaseServer
from ..services.pool import TraditionalServer
from ..services.proxy import DatabaseProxy
from ..workload import Workload
from .base import Traffic

NAN = float("nan")


class SimulatorBackend:
    """A simulated account in one Region, seeded: identical inputs give identical records."""

    name = "simulator"

    def __init__(self, seed: int = 0, **account_options: Any) -> None:
        self.seed = seed
        self.account = Account(seed, **account_options)
        kernel.install(self.account.region)
        self.env: simpy.Environment = self.account.env
        self.region: str = self.account.region
        self.ledger = Ledger()      # the final state of every event, from every source
        self.dispatcher = Dispatcher(self.account, self.ledger, seed)
        # Simulated services; handler code's `import boto3` / `urllib.request` get fakes wired to them.
        self.services = Services(self.account, seed, self.dispatcher)
        self.services.install(self.account.module_overrides)
        self._kept_lifecycle: list = []

    @property
    def now(self) -> float:
        return self.env.now

    # -- functions -----------------------------------------------------------------------------
    def deploy(self, config: FunctionConfig, code: HandlerCode) -> Function:
        fn = self.account.add_function(config, code)
        if config.provisioned_concurrency:
            # Allocation finishes before traffic: let the clock run until every
            # provisioned environment has completed its init (and no further: other
            # processes, e.g. simulated services, may run forever).
            self._step_until(simpy.AllOf(self.env, fn.provisioning), self.env.now, 0.0)
        return fn

    def function_names(self) -> list[str]:
        return list(self.account.functions)

    # -- runs ----------------------------------------------------------------------------------
    def run(self, traffic: list[Traffic], *, retry: SdkRetry | None = None,
            async_config: dict[str, dict] | None = None) -> RunRecords:
        env, dispatcher = self.env, self.dispatcher
        self._begin()
        tracker = Tracker(env)
        t0 = env.now
        issued = dispatcher.events_issued
        horizon = 0.0
        for name, cfg in (async_config or {}).items():
            dispatcher.async_queue(self.account.functions[name], **cfg)
        for item in traffic:
            horizon = max(horizon, item.workload.horizon_s)
            dispatcher.start(item.function, item.workload, item.invocation_type, retry, tracker, t0)
        wall0 = _wall.perf_counter()
        self._step_until(tracker.done, t0, horizon, tracker, issued)
        self.account.reclaim_idle()
        functions = list(dict.fromkeys(item.function for item in traffic))
        return self._records(t0, functions, dispatcher.event_ids_since(issued), _wall.perf_counter() - wall0)

    def send(self, source: KinesisStream | SqsQueue, workload: Workload, *, partition_key=None, group_id=None,
             until_s: float | None = None) -> RunRecords:
        """Produce ``workload`` into ``source`` and run until every record/message is settled
        (or ``until_s`` simulated seconds have passed)."""
        env = self.env
        self._begin()
        t0 = env.now
        keys0 = len(self.ledger.states)
        issued = self.dispatcher.events_issued
        tracker = Tracker(env)
        rng = self.dispatcher.workload_rng()
        if isinstance(source, KinesisStream):
            prod = tracker.spawn(kinesis_producer(source, workload, partition_key, rng=rng))

            def wait_drained():
                yield prod
                yield source.when_drained()
            done = tracker.spawn(wait_drained())
        else:
            prod = tracker.spawn(sqs_produce(source, workload, rng, group_id=group_id))
            done = source.when_drained(after=prod)
        wall0 = _wall.perf_counter()
        if until_s is not None:
            limit = env.timeout(until_s)
            self._step_until(env.any_of([done, limit]), t0, until_s, tracker, issued)
        else:
            self._step_until(done, t0, workload.horizon_s, tracker, issued)
        self.account.reclaim_idle()
        acct = self.account
        functions = list({r.function: acct.functions[r.function] for r in acct.records}.values())
        return self._records(t0, functions, list(self.ledger.states)[keys0:], _wall.perf_counter() - wall0)

    def advance(self, seconds: float) -> None:
        env = self.env
        # As env.run(until=...): a stop due before anything else scheduled at that instant.
        until = env.event()
        until._ok, until._value = True, None
        env.schedule(until, simpy.core.URGENT, seconds)
        self._step_until(until, env.now, seconds)
        self.account.reclaim_idle()

    def _step_until(self, done: simpy.Event, t0: float, horizon_s: float, tracker: Tracker | None = None,
                    issued: int = 0) -> None:
        """Step the simulation until ``done``. An interrupt stops it between two events (never
        halfway through one); then, or when a caller or a payload function raises, the run is
        aborted (``Dispatcher.abort``) before the exception reaches the learner."""
        self.dispatcher.tracker = tracker
        with interrupts.deferred():
            try:
                progress.run_until(self.env, done, t0, horizon_s)
                interrupts.check()             # one that arrived as the run was ending
            except BaseException:
                if tracker is not None:
                    self.dispatcher.abort(tracker, issued)
                raise
            finally:
                self.dispatcher.tracker = None

    # -- the records of one run ----------------------------------------------------------------------
    def _begin(self) -> None:
        """Start a run's record buffers: what happened between runs belongs to no run, except
        environments reclaimed at this very instant (their idle time ran out as the run starts)."""
        acct, now = self.account, self.env.now
        self._kept_lifecycle = [e for e in self._kept_lifecycle + acct.lifecycle
                                if e.event == RECLAIMED and e.time_s >= now]
        acct.clear_buffers()

    def _records(self, t0: float, functions: list[Function], event_ids: list[str], wall_s: float) -> RunRecords:
        acct = self.account
        invocations = tuple(acct.records)
        used: dict[str, int] = {}
        for r in invocations:
            if r.environment_id is not None:
                used[r.environment_id] = used.get(r.environment_id, 0) + 1
        environments = tuple(
            EnvironmentRecord(ee.id, fn.name, ee.provisioned, ee.created_at, used[ee.id],
                              NAN if ee.reclaimed_at is None else ee.reclaimed_at, ee.log_stream_name)
            for fn in functions for ee in fn.environments if ee.id in used)
        states = self.ledger.states
        events = tuple(EventRecord(e, states[e].state, states[e].reason, states[e].time_s)
                       for e in event_ids if e in states)
        async_events = tuple(replace(rec) for rec in self.dispatcher.async_records(event_ids))
        return RunRecords(
            t0=t0, t1=self.env.now,
            functions=tuple(FunctionInfo(fn.name, fn.config) for fn in functions),
            invocations=invocations, event_ids=tuple(event_ids),
            lifecycle=tuple(acct.lifecycle) + tuple(self._kept_lifecycle),
            environments=environments, events=events, async_events=async_events,
            logs={rid: tuple(lines) for rid, lines in acct.logs.items()},
            init_reports=dict(acct.init_reports), runtime_errors=frozenset(acct.runtime_errors),
            concurrency_limit=acct.concurrency_limit, unreserved_concurrency=acct.unreserved_pool,
            region=acct.region, wall_s=wall_s, backend=self.name)

    # -- simulated services -------------------------------------------------------------------------
    def dynamodb_table(self, name: str, key: str = "id", *, items=(), **options):
        return self.services.dynamodb_table(name, key, items=items, **options)

    def reference_service(self, name: str, data, **options):
        return self.services.reference_service(name, data, **options)

    def database(self, name: str = "db", **options) -> DatabaseServer:
        return self.services.add_database(DatabaseServer(name, account=self.account, seed=self.seed,
                                                         region=self.region, **options))

    def db_proxy(self, database: DatabaseServer, name: str = "proxy", **options) -> DatabaseProxy:
        return self.services.add_database(DatabaseProxy(database, name, region=self.region, **options))

    def traditional_server(self, database: DatabaseServer, handler=None, **options) -> TraditionalServer:
        return TraditionalServer(self.dispatcher, database, handler=handler, **options)

    # -- event sources ------------------------------------------------------------------------------
    def queue(self, name: str) -> DestinationQueue:
        return DestinationQueue(name)

    def kinesis_stream(self, name: str, shard_count: int, **options) -> KinesisStream:
        return KinesisStream(self.account, self.ledger, name, shard_count, **options)

    def sqs_queue(self, name: str, *, dead_letter_queue=None, max_receive_count=None, **options) -> SqsQueue:
        redrive = None
        if dead_letter_queue is not None or max_receive_count is not None:
            redrive = RedrivePolicy(dead_letter_queue, max_receive_count)
        return SqsQueue(self.account, name, redrive_policy=redrive, ledger=self.ledger, **options)

    def event_source_mapping(self, fn: Function, source, **options):
        if isinstance(source, KinesisStream):
            return KinesisEventSourceMapping(source, fn, **options)
        if isinstance(source, SqsQueue):
            return SqsEventSourceMapping(self.account, source, fn, **options)
        raise InvalidParameterValueException("EventSourceArn", source,
                                             "a lab.kinesis_stream(...) or lab.sqs_queue(...)")

    def close(self) -> None:
        self.account.close()
