"""The notebooks' entry point: ``Lab`` (an account), its functions and runs.

>>> import labkit as lk
>>> lab = lk.Lab(seed=1)
>>> fn = lab.function(source="def handler(event, context):\\n    return event['n'] * 2\\n")
>>> run = lab.invoke(fn, lk.workload.sequential(3))
>>> run.summary()["succeeded"]
3
"""

import math
import os
import random
import time as _wall
from dataclasses import dataclass

import simpy

from . import facts, progress
from .config import FunctionConfig
from .errors import InvalidParameterValueException, SimulationError
from .event_sources.ledger import Ledger
from .lab_sources import EventSourcesMixin
from .run import Run
from .runtime import SUCCESS, THROTTLED, Account
from .sandbox import HandlerCode
from .services import Services
from .workload import Workload


@dataclass(frozen=True)
class SdkRetry:
    """Client-side retries of throttled calls, as an AWS SDK does them.

    The delay before attempt ``n + 1`` is ``uniform(0, 1) * min(base_s * 2 ** (n - 1), cap_s)``
    ("full jitter"). ``SdkRetry()`` is botocore's *standard* mode (3 attempts in
    all, cap 20 s); ``SdkRetry.legacy()`` is botocore's default *legacy* mode
    (5 attempts, no cap).
    """

    max_attempts: int = facts.SDK_STANDARD_MAX_ATTEMPTS
    base_s: float = facts.SDK_STANDARD_BASE_S
    cap_s: float = facts.SDK_STANDARD_CAP_S

    def __post_init__(self):
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise InvalidParameterValueException("max_attempts", self.max_attempts, "an integer >= 1")
        for name in ("base_s", "cap_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0:
                raise InvalidParameterValueException(name, v, "a number >= 0")

    @classmethod
    def legacy(cls):
        return cls(max_attempts=5, base_s=1.0, cap_s=math.inf)

    def delay(self, failed_attempt, rng):
        return rng.random() * min(self.base_s * 2 ** (failed_attempt - 1), self.cap_s)


class _Tracker:
    """Counts a run's outstanding calls and fires ``done`` when all have finished."""

    def __init__(self, env):
        self.env = env
        self.pending = 0
        self.drivers = 0
        self.done = env.event()

    def finished_one(self):
        self.pending -= 1
        self._check()

    def driver_finished(self):
        self.drivers -= 1
        self._check()

    def _check(self):
        if self.pending == 0 and self.drivers == 0 and not self.done.triggered:
            self.done.succeed()


class Lab(EventSourcesMixin):
    """A simulated AWS account in one Region, with a seeded random source.

    ``Lab(seed=1)`` has AWS's default limits. Options (all checked like AWS would):
    ``concurrency_limit`` (1,000), ``scaling_model`` ("per-function" since Nov 2023,
    or "legacy-account"), ``region``, ``idle_reclaim_s`` (600, an observation, not
    an AWS promise), ``billing_model`` ("2025-08", "2020-12", "pre-2020-12").

    Time carries on from one ``invoke`` to the next, so environments warmed by
    one run serve the next; ``advance(seconds)`` lets the account sit idle.
    """

    _in_init = False

    def __init__(self, seed=0, **account_options):
        _refuse_inside_handler("lk.Lab()")
        self.account = Account(seed, **account_options)
        self.seed = seed
        self.ledger = Ledger()      # the final state of every event, from every source
        # Handler cells also run in the kernel; a module-level boto3 client there needs a Region.
        os.environ.setdefault("AWS_DEFAULT_REGION", self.account.region)
        self._workloads = 0
        self._events = 0
        self._retry_rng = random.Random(f"{seed}:sdk-retry")
        # Simulated services; handler code's `import boto3` / `urllib.request` get fakes wired to them.
        self.services = Services(self.account, seed)
        self.services.install(self.account.module_overrides)
        self.services.lab = self

    # -- functions -------------------------------------------------------------------
    def function(self, handler=None, *, source=None, handler_name="handler", name=None, **config):
        """Deploy a function. ``handler`` is a ``def handler(event, context)`` function;
        its whole module (a file, or the notebook cell that defines it) becomes the
        function's code, run once per execution environment as its init. Or pass the
        module's text as ``source``. ``config``: memory_mb, timeout_s,
        ephemeral_storage_mb, reserved_concurrency, provisioned_concurrency,
        architecture, runtime_init_ms."""
        _refuse_inside_handler("lab.function()")
        if (handler is None) == (source is None):
            raise SimulationError("give exactly one of: a handler function, or source='...module text...'")
        if handler is not None:
            code = HandlerCode.from_callable(handler)
            default_name = handler.__name__.replace("_", "-")
        else:
            if not isinstance(source, str):
                raise InvalidParameterValueException("source", type(source).__name__, "the module's text, as a str")
            code = HandlerCode(source, handler_name=handler_name)
            default_name = "my-function"
        if name is None:
            name, k = default_name, 2
            while name in self.account.functions:
                name, k = f"{default_name}-{k}", k + 1
        cfg = FunctionConfig(name=name, **config)
        fn = self.account.add_function(cfg, code)
        if cfg.provisioned_concurrency:
            # Allocation finishes before traffic: let the clock run until every
            # provisioned environment has completed its init (and no further: other
            # processes, e.g. simulated services, may run forever).
            env = self.account.env
            env.run(until=simpy.AllOf(env, fn.provisioning))
        return fn

    # -- traffic ---------------------------------------------------------------------
    def invoke(self, fn, workload, *, retry=None):
        """Send ``workload`` to ``fn`` as synchronous (RequestResponse) calls; return the Run."""
        return self.simulate([(fn, workload)], retry=retry)

    def simulate(self, traffic, *, retry=None, async_config=None):
        """Run several streams of traffic at once (e.g. a noisy neighbour).

        Each item is ``(function, workload)`` for synchronous calls or
        ``(function, workload, "Event")`` for asynchronous ones; ``async_config`` maps
        a function name to its asynchronous settings (see ``async_queue``). The run
        ends when every call has returned and every asynchronous event is settled."""
        _refuse_inside_handler("lab.invoke()")
        acct = self.account
        env = acct.env
        if retry is not None and not isinstance(retry, SdkRetry):
            raise InvalidParameterValueException("retry", retry, "None or an lk.SdkRetry(...)")
        tracker = _Tracker(env)
        t0 = env.now
        row0 = len(acct.rows)
        life0 = len(acct.lifecycle)
        event0 = self._events
        horizon = 0.0
        for fn, cfg in (async_config or {}).items():
            if fn not in acct.functions:
                raise InvalidParameterValueException("async_config", fn, f"names of this Lab's functions {list(acct.functions)}")
            self.async_queue(acct.functions[fn], **cfg)
        for item in traffic:
            fn, wl, kind = (tuple(item) + ("RequestResponse",))[:3]
            if kind not in ("RequestResponse", "Event"):
                raise InvalidParameterValueException("InvocationType", kind, "RequestResponse or Event")
            if getattr(fn, "account", None) is not acct:
                raise SimulationError(f"{fn!r} does not belong to this Lab")
            if getattr(fn, "retired", False):
                raise SimulationError(f"{fn.name} was redeployed since this function object was made: "
                                      "invoke the object the latest lab.function(...) returned")
            if isinstance(wl, (list, tuple)):
                from .workload import sequential
                events = list(wl)
                wl = sequential(len(events), payload=lambda i: events[i])
            if not isinstance(wl, Workload):
                raise InvalidParameterValueException("workload", wl, "an lk.workload.* object or a list of events")
            self._workloads += 1
            rng = random.Random(f"{self.seed}:workload:{self._workloads}")
            horizon = max(horizon, wl.horizon_s)
            tracker.drivers += 1
            if kind == "Event":
                env.process(self._async_driver(fn, self._check_async_workload(wl), rng, tracker, t0))
            elif wl.closed:
                env.process(self._closed_loop(fn, wl, rng, retry, tracker))
            else:
                env.process(self._open_loop(fn, wl, rng, retry, tracker, t0))
        wall0 = _wall.perf_counter()
        progress.run_until(env, tracker.done, t0, horizon)
        acct.reclaim_idle()
        event_ids = [f"evt-{k:06d}" for k in range(event0 + 1, self._events + 1)]
        return Run(self, row0, len(acct.rows), life0, t0, env.now, [item[0] for item in traffic],
                   wall_s=_wall.perf_counter() - wall0, event_ids=event_ids)

    def advance(self, seconds):
        """Let ``seconds`` of simulated time pass with no new traffic (idle environments may be reclaimed)."""
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise InvalidParameterValueException("seconds", seconds, "a number >= 0")
        env = self.account.env
        env.run(until=env.now + seconds)
        self.account.reclaim_idle()

    @property
    def now(self):
        """Simulated seconds since the Lab was created."""
        return self.account.env.now

    # -- simulated services ----------------------------------------------------------
    def dynamodb_table(self, name, key="id", *, items=(), **options):
        """Create a simulated DynamoDB table; return it as boto3's ``Table`` (handlers reach
        it with ``boto3.resource("dynamodb").Table(name)``; ``table.sim`` has its items and
        counters). Options: ``key_type``, ``sort_key``, ``sort_key_type``,
        ``read_units_per_s``, ``write_units_per_s``, ``burst_s``, ``latency_s``, ``jitter_s``
        (see ``labkit.services.dynamodb``)."""
        _refuse_inside_handler("lab.dynamodb_table()")
        return self.services.dynamodb_table(name, key, items=items, **options)

    def reference_service(self, name, data, **options):
        """Create a simulated HTTP reference-data service that handlers reach with
        ``urllib.request.urlopen(service.url + "/key")``. Options: ``url``, ``latency_s``,
        ``jitter_s``, ``rps_limit``, ``version_every_s`` (see ``labkit.services.reference``)."""
        _refuse_inside_handler("lab.reference_service()")
        return self.services.reference_service(name, data, **options)

    def database(self, name="db", **options):
        """Create a simulated MySQL-style database that handlers reach with
        ``pymysql.connect(host=db.host, ...)``. Options: ``max_connections``, ``vcpus``,
        ``query_cpu_s``, ``handshake_s``, ``auth_cpu_s``, ``network_rtt_s``, ``user``,
        ``password``, ``database``, ``host`` (see ``labkit.services.database``)."""
        _refuse_inside_handler("lab.database()")
        from .services.database import DatabaseServer
        return self.services.add_database(DatabaseServer(name, account=self.account, seed=self.seed,
                                                         region=self.account.region, **options))

    def db_proxy(self, database, name="proxy", **options):
        """Put an RDS-Proxy-style endpoint in front of ``database``; handlers connect to
        ``proxy.host``. Options: ``max_connections_percent``, ``connection_borrow_timeout_s``,
        ``max_client_connections``, ``handshake_s``, ``overhead_s``, ``host``
        (see ``labkit.services.proxy``)."""
        _refuse_inside_handler("lab.db_proxy()")
        from .services.proxy import DatabaseProxy
        return self.services.add_database(DatabaseProxy(database, name, region=self.account.region, **options))

    def traditional_server(self, database, handler=None, **options):
        """The traditional baseline: ``processes`` (5) worker processes with a pool of
        ``pool_size`` (10) connections each, serving ``handler(event, conn)`` without Lambda;
        ``server.serve(workload)`` runs it (see ``labkit.services.pool``)."""
        _refuse_inside_handler("lab.traditional_server()")
        from .services.pool import TraditionalServer
        return TraditionalServer(self, database, handler=handler, **options)

    # -- drivers ---------------------------------------------------------------------
    def _next_event_id(self):
        self._events += 1
        return f"evt-{self._events:06d}"

    def _open_loop(self, fn, wl, rng, retry, tracker, t0):
        env, acct = self.account.env, self.account
        for offset, event in wl.events(rng):
            delay = t0 + offset - env.now
            if delay > 0:
                yield env.timeout(delay)
            event_id = self._next_event_id()
            self.ledger.register(event_id, env.now)
            if retry is None:
                # Admit inline: a throttled call without retries needs no process.
                ee, reason = acct._admit(fn)
                if ee is None:
                    self._settle_sync(acct.throttle_row(fn, event_id, 1, None, reason))
                    continue
                tracker.pending += 1
                env.process(self._sync_call(
                    acct._run_invocation(fn, ee, event, event_id, 1, None, "RequestResponse"), tracker))
            else:
                tracker.pending += 1
                env.process(self._finish_call(self._call(fn, event, event_id, retry, None), tracker))
        tracker.driver_finished()

    @staticmethod
    def _finish_call(gen, tracker):
        yield from gen
        tracker.finished_one()

    def _sync_call(self, gen, tracker):
        """One admitted synchronous call, as a simpy process: run it, settle it, count it."""
        row = yield from gen
        self._settle_sync(row)
        tracker.finished_one()

    def _settle_sync(self, row):
        """A synchronous caller got its answer: success, or the error/throttle it must handle."""
        if row[17] == SUCCESS:
            self.ledger.settle(row[2], "succeeded", self.account.env.now)
        else:
            self.ledger.settle(row[2], "failed", self.account.env.now, row[20] or row[18])

    def _call(self, fn, event, event_id, retry, client):
        """One synchronous call, retried on throttles when ``retry`` says so."""
        acct, env = self.account, self.account.env
        attempt = 1
        if event_id not in self.ledger.states:
            self.ledger.register(event_id, env.now)
        while True:
            row = yield from acct.invoke_once(fn, event, event_id, attempt, client)
            if row[17] != THROTTLED or retry is None or attempt >= retry.max_attempts:
                self._settle_sync(row)
                return row
            yield env.timeout(retry.delay(attempt, self._retry_rng))
            attempt += 1

    def _closed_loop(self, fn, wl, rng, retry, tracker):
        env = self.account.env
        t0 = env.now
        counter = [0]
        from .workload import _payload_fn
        make = _payload_fn(wl.payload)

        def client(k):
            sent = 0
            while wl.requests_per_client is None or sent < wl.requests_per_client:
                if wl.seconds is not None and env.now - t0 >= wl.seconds:
                    break
                event = make(counter[0], rng)
                counter[0] += 1
                yield from self._call(fn, event, self._next_event_id(), retry, k)
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


def _refuse_inside_handler(what):
    from . import bridge
    if bridge.current() is not None:
        raise SimulationError(
            f"{what} was called from inside a simulated execution environment. Keep the handler in a "
            "notebook cell of its own (like a handler.py file), without the code that drives the Lab.")
