"""The runtime model: an account, its functions, their execution environments.

This module is the state model only (in moto's sense): admission, routing,
the init/invoke lifecycle, faults, billing and the records they leave. The
convenience layer (``labkit.lab``), the workloads and the plots sit on top.

Semantics, each pinned by a test in ``tests/test_runtime.py``:

* **Admission.** A function with reserved concurrency ``r`` runs at most ``r``
  invocations at once (``r == 0`` throttles every call); the others share the
  unreserved pool (account limit minus all reservations). Provisioned
  concurrency of a function without a reservation is claimed from that pool
  even while idle. A request that needs a *new* environment also needs a token
  from the scaling bucket (``labkit.scaling``). Otherwise it is throttled with
  ``TooManyRequestsException`` and the matching Reason.
* **Routing.** A free provisioned environment first; then the most recently
  freed idle on-demand environment; else a new environment (a cold start).
  There is no affinity between a caller and an environment.
* **One event at a time.** An environment is busy from the start of its init
  (or invoke) until the invocation ends.
* **Idle reclaim.** An on-demand environment idle for ``idle_reclaim_s`` is
  reclaimed (destroyed with its globals and ``/tmp``).
* **Init.** Runtime start (``runtime_init_ms``) plus the module's own code,
  limited to 10 s on demand; past that Lambda retries init inside the invoke,
  under the function timeout. An exception in init fails the invocation.
* **Faults.** At exactly its timeout an invocation is stopped
  (``Sandbox.Timedout``) and the environment is reset: the next invocation
  re-runs init inside its own duration (no Init Duration), ``/tmp`` survives.
  An exception in the handler is a function error (``Unhandled``); the
  environment stays warm. ``sys.exit`` is ``Runtime.ExitError`` and resets it.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator
from datetime import datetime, timezone
from typing import Any

import simpy
from greenlet import getcurrent

from . import arns, billing, bridge, concurrency, facts, scaling, validation
from .bridge import ActivationGreenlet
from .config import FunctionConfig
from .marshaller import marshal_response
from .errors import InvalidParameterValueException, SimulationError
from . import interrupts
from .interrupts import RunInterrupted
from .records import (COLD, CREATED, ERROR, IDLE, INIT_DONE, INIT_FAILED, INVOKE_START, PROVISIONED, RECLAIMED,
                      REINIT, REQUEST_RESPONSE, RESET, RUN_INTERRUPTED, SUCCESS, THROTTLED, TIMEOUT, WARM,
                      InvocationRecord, LifecycleEvent)
from .sandbox import EnvironmentNamespace, HandlerCode, InitError, format_stack
from .watchdog import POLL_S, WATCHDOG, CpuLimit, stop_tracing

NAN = float("nan")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
_PLAIN_JSON = (type(None), str, int, bool)   # responses that always marshal
_thread_time = time.thread_time
_perf_counter = time.perf_counter
_new = tuple.__new__                          # builds a record without NamedTuple's Python-level __new__

# Results of running code in a greenlet.
_OK, _ERR, _KILLED, _INIT_ERR, _EXIT, _ABORTED = range(6)
CODE_OK = _OK   # for services that run plain code through ``Account._run_code``


class Activation:
    """One run of handler-module code (an init, or an invocation) in its own greenlet."""

    __slots__ = ("lab", "env", "speed", "glet", "killed", "log", "request_id", "capacity", "vcpus", "cpu",
                 "deadline", "limit_s", "children", "environment", "real_s", "cpu_to_charge", "overran")

    def __init__(self, lab: Account, speed: float, log: list[str], request_id: str | None = None,
                 capacity: float | None = None, vcpus: int = 1, environment: ExecutionEnvironment | None = None):
        self.lab, self.env, self.speed = lab, lab.env, speed
        self.glet: Any = None          # its greenlet, once started
        self.killed = False
        self.log = log
        self.request_id = request_id   # of the invocation (simulated services record their caller)
        self.capacity = speed if capacity is None else capacity   # vCPU-s per s for all its threads
        self.vcpus = vcpus
        self.cpu: Any = None           # a CpuScheduler once the code starts threads
        self.deadline = math.inf
        self.limit_s = math.inf          # its time limit: the timeout (or init limit) it started with
        self.children: list[Activation] = []   # worker threads (labkit.concurrency)
        self.environment = environment  # the ExecutionEnvironment running this code (None: not Lambda)
        self.real_s = 0.0               # real time its code has run (labkit.watchdog)
        self.cpu_to_charge = 0.0        # real CPU not yet spent as simulated time (count_real_cpu)
        self.overran = False            # the watchdog stopped it

    def spawn(self, fn: Callable[[], Any]) -> Activation:
        """Run ``fn()`` in a new worker thread of this activation, sharing its CPU and deadline."""
        worker = Activation(self.lab, self.speed, self.log, self.request_id, self.capacity, self.vcpus,
                            self.environment)
        worker.cpu = self.cpu
        self.children.append(worker)
        self.env.process(self.lab._run_code(worker, fn, (), self.deadline))
        return worker

    def yield_to_loop(self, kind: int, payload: Any) -> Any:
        if self.killed:
            # Stopped already, yet the code caught the stop (a bare ``except:``) and waits
            # again. Raising here at once would spin forever inside the greenlet; hand
            # control back instead, so the runtime can stop it again or abandon it.
            self.glet.parent.switch(None)
            raise bridge.Killed()
        return self.glet.parent.switch((kind, payload))


class LambdaContext:
    """The ``context`` argument, as in Lambda's Python runtime."""

    def __init__(self, lab: Account, fn: Function, env_ns: EnvironmentNamespace, request_id: str, deadline_s: float,
                 log_stream_name: str):
        self._lab, self._deadline_s = lab, deadline_s
        cfg = fn.config
        self.aws_request_id = request_id
        self.function_name = cfg.name
        self.function_version = cfg.version
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = str(cfg.memory_mb)   # a string, as in the Python runtime
        self.log_group_name = f"/aws/lambda/{cfg.name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(round((self._deadline_s - self._lab.env.now) * 1000)))

    def __repr__(self):
        return f"LambdaContext([aws_request_id={self.aws_request_id}, function_name={self.function_name}])"


class ExecutionEnvironment:
    """One execution environment: its module namespace, ``/tmp``, log stream and state."""

    __slots__ = ("id", "function", "provisioned", "namespace", "needs_init", "busy", "freed_at",
                 "created_at", "reclaimed_at", "log_stream_name", "invocations", "resources", "running")

    def __init__(self, env_id: str, function: Function, provisioned: bool, namespace: EnvironmentNamespace,
                 created_at: float, log_stream_name: str):
        self.id, self.function, self.provisioned = env_id, function, provisioned
        self.namespace: EnvironmentNamespace | None = namespace   # None once the environment is gone
        self.needs_init = True
        self.busy = False
        self.freed_at: float | None = None
        self.created_at = created_at
        self.reclaimed_at: float | None = None
        self.log_stream_name = log_stream_name
        self.invocations = 0
        # What the environment's process holds open (database connections, ...): each has
        # ``release(time_s, reason)`` and is released when the process goes (reset, reclaim).
        self.resources: dict[Any, None] = {}
        self.running: Running | None = None      # the invocation it runs now, if any

    def hold(self, resource):
        self.resources[resource] = None

    def drop(self, resource):
        self.resources.pop(resource, None)

    def release_resources(self, time_s: float, reason: str) -> None:
        held, self.resources = list(self.resources), {}
        for r in held:
            r.release(time_s, reason)


class Running:
    """What an execution environment is running: enough to end it from outside (an aborted run)."""

    __slots__ = ("process", "activation", "args")

    def __init__(self, process: Any, args: tuple) -> None:
        self.process = process            # the simpy process driving the invocation
        self.activation: Activation | None = None   # the code running now (init or handler)
        self.args = args                  # rid, event_id, attempt, client, invocation_type, start_type, cold, arrival


class Function:
    """A deployed function: configuration, code, environments and concurrency state."""

    def __init__(self, account: Account, config: FunctionConfig, code: HandlerCode):
        self.account, self.config, self.code = account, config, code
        self.name = config.name
        self.idle: deque[ExecutionEnvironment] = deque()   # idle on-demand ones, most recently freed at the right
        self.provisioned_idle: list[ExecutionEnvironment] = []   # idle provisioned environments
        self.environments: list[ExecutionEnvironment] = []       # every environment ever created
        self.provisioning: list[simpy.Process] = []   # processes initialising provisioned environments
        self.retired = False         # True once a redeploy under the same name replaced it
        self.inflight = 0
        self.bucket = account._bucket_for(self)

    @property
    def reserved_concurrency(self) -> int | None:
        return self.config.reserved_concurrency

    @property
    def arn(self) -> str:
        """The function's ARN, in its account's Region."""
        return arns.function_arn(self.account.region, self.name)

    def __repr__(self):
        c = self.config
        extra = "" if c.reserved_concurrency is None else f", reserved_concurrency={c.reserved_concurrency}"
        if c.provisioned_concurrency:
            extra += f", provisioned_concurrency={c.provisioned_concurrency}"
        return f"<Function {c.name}: {c.memory_mb} MB, timeout {c.timeout_s} s{extra}>"


class Account:
    """The simulated Region of one AWS account: the simpy clock, limits, functions, records."""

    def __init__(self, seed=0, *, concurrency_limit=facts.REGIONAL_CONCURRENCY_LIMIT,
                 scaling_model="per-function", region="us-east-1", idle_reclaim_s=facts.IDLE_RECLAIM_S,
                 billing_model=facts.DEFAULT_BILLING_MODEL, start="2026-01-01T00:00:00Z",
                 scaling_throttle_reason=facts.THROTTLE_REASON_SCALING, count_real_cpu=False) -> None:
        validation.integer("seed", seed, allowed="an integer")
        validation.integer(
            "ConcurrentExecutions", concurrency_limit, facts.MIN_UNRESERVED_CONCURRENCY, validation.MAX_CONCURRENCY,
            allowed=f"an integer from {facts.MIN_UNRESERVED_CONCURRENCY} (the account keeps that many unreserved) "
                    f"to {validation.MAX_CONCURRENCY:,} (labkit's limit)")
        validation.choice("scaling_model", scaling_model, scaling.SCALING_MODELS)
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise InvalidParameterValueException("region", region, "an AWS Region name such as us-east-1 or eu-west-1")
        validation.seconds("idle_reclaim_s", idle_reclaim_s, lo_open=True)
        billing._check_model(billing_model)
        self.count_real_cpu = validation.boolean("count_real_cpu", count_real_cpu)
        self.seed = seed
        self.env = simpy.Environment()
        self.concurrency_limit = concurrency_limit
        self.scaling_model, self.region = scaling_model, region
        self.idle_reclaim_s = float(idle_reclaim_s)
        self.billing_model = billing_model
        self.scaling_throttle_reason = scaling_throttle_reason
        self.start = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(timezone.utc)
        self.epoch = self.start.timestamp()
        self.functions: dict[str, Function] = {}
        self._unreserved_pool = concurrency_limit
        self.unreserved_claimed = 0
        self._account_bucket = scaling.new_bucket(scaling_model, region) if scaling_model == "legacy-account" else None
        # Separate random streams, so adding randomness in one place leaves the others as they were.
        self._ids = random.Random(f"{seed}:ids")
        self._env_seeds = random.Random(f"{seed}:environments")
        # Buffers of the running run's records (the backend takes them when the run ends).
        self.records: list[InvocationRecord] = []
        # Lifecycle events as plain tuples: the cycle collector stops tracking tuples of plain
        # values, not NamedTuples, and a run makes two per invocation (``lifecycle`` names them).
        self._lifecycle: list[tuple] = []
        self.logs: dict[str, list[str]] = {}     # request_id -> captured handler output lines
        self.init_reports: dict[str, str] = {}   # request_id -> INIT_REPORT line (failed inits)
        self.runtime_errors: set[str] = set()  # request ids whose error the platform reports (REPORT Status: error)
        self._env_counter = itertools.count(1)
        self.call_seq = itertools.count()     # the order of this account's simulated service calls
        self._tmp_root = None
        # import name -> module, for handler code: simulated threads now, simulated services later.
        self.module_overrides = concurrency.module_overrides()

    @property
    def lifecycle(self) -> list[LifecycleEvent]:
        """Lifecycle events since the running (or latest) run began, named."""
        return [LifecycleEvent._make(e) for e in self._lifecycle]

    def clear_buffers(self) -> None:
        """Start a run's record buffers afresh (see ``labkit.backends.simulator``)."""
        self.records.clear()
        self._lifecycle.clear()
        self.logs.clear()
        self.init_reports.clear()
        self.runtime_errors.clear()

    # -- configuration -------------------------------------------------------------------
    @property
    def reserved_total(self) -> int:
        return sum(f.config.reserved_concurrency or 0 for f in self.functions.values())

    @property
    def unreserved_pool(self) -> int:
        return self._unreserved_pool

    def _bucket_for(self, fn):
        if self._account_bucket is not None:
            return self._account_bucket
        return scaling.new_bucket(self.scaling_model, self.region, self.env.now)

    def add_function(self, config: FunctionConfig, code: HandlerCode) -> Function:
        """Create the function, or redeploy it when the name exists (as ``UpdateFunctionCode``
        would: new code and configuration, and only new execution environments serve it)."""
        old = self.functions.get(config.name)
        if old is not None and old.inflight:
            raise SimulationError(f"{config.name} still has {old.inflight} invocations running; "
                                  "redeploy it after they end")
        old_reserved = (old.config.reserved_concurrency or 0) if old is not None else 0
        old_claim = (old.config.provisioned_concurrency
                     if old is not None and old.config.reserved_concurrency is None else 0)
        others_reserved = self.reserved_total - old_reserved
        max_reservable = self.concurrency_limit - facts.MIN_UNRESERVED_CONCURRENCY - others_reserved
        r = config.reserved_concurrency
        if r is not None and r > max_reservable:
            raise InvalidParameterValueException(
                "ReservedConcurrentExecutions", r, f"at most {max_reservable} in this account",
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{facts.MIN_UNRESERVED_CONCURRENCY}].")
        pc = config.provisioned_concurrency
        if r is None and pc:
            free = (self.concurrency_limit - others_reserved - facts.MIN_UNRESERVED_CONCURRENCY
                    - (self.unreserved_claimed - old_claim))
            if pc > free:
                raise InvalidParameterValueException(
                    "ProvisionedConcurrentExecutions", pc, f"at most {free} (unreserved concurrency minus 100)")
        if old is not None:
            self._retire(old, old_claim)
        fn = Function(self, config, code)
        self.functions[config.name] = fn
        self._unreserved_pool = self.concurrency_limit - self.reserved_total   # read on every admission
        if r is None:
            self.unreserved_claimed += pc
        for _ in range(pc):
            ee = self._new_environment(fn, provisioned=True)
            fn.provisioning.append(self.env.process(self._provision(fn, ee)))
        return fn

    def _retire(self, fn, claim):
        """Take a function's old deployment out of service: its idle environments end now."""
        now = self.env.now
        del self.functions[fn.name]
        self.unreserved_claimed -= claim
        fn.retired = True
        for ee in list(fn.idle) + list(fn.provisioned_idle):
            ee.reclaimed_at = now
            ee.release_resources(now, "redeployed")
            ee.namespace = None
            self._lifecycle.append((now, ee.id, fn.name, RECLAIMED, None))
        fn.idle.clear()
        fn.provisioned_idle.clear()

    def _provision(self, fn, ee):
        log = []
        ee.namespace._log_sink = log.append    # module-level print() needs somewhere to go
        yield self.env.timeout(fn.config.runtime_init_ms / 1000)
        # Provisioned init is not bound by the 10 s on-demand limit (max(130 s, timeout) on AWS).
        act = Activation(self, fn.config.single_thread_speed, log, environment=ee)
        status, value = yield from self._run_code(act, ee.namespace.run_init, (),
                                                  self.env.now + max(130.0, fn.config.timeout_s))
        if status != _OK:
            # labkit's choice (AWS documents no detail): a failing init fails that environment's
            # allocation (it must not crash the simulation): the environment never serves, so
            # requests spill over to on-demand environments and report the init error there.
            ee.release_resources(self.env.now, "reset")
            ee.namespace.reset()
            self._lifecycle.append((self.env.now, ee.id, fn.name, INIT_FAILED, None))
            return
        ee.needs_init = False
        ee.freed_at = self.env.now
        self._lifecycle.append((self.env.now, ee.id, fn.name, INIT_DONE, None))
        fn.provisioned_idle.append(ee)

    # -- environments --------------------------------------------------------------------
    def _tmp_factory(self):
        if self._tmp_root is None:
            self._tmp_root = tempfile.mkdtemp(prefix="labkit-tmp-")
        return tempfile.mkdtemp(dir=self._tmp_root)

    def _new_environment(self, fn, provisioned=False):
        n = next(self._env_counter)
        now = self.env.now
        day = datetime.fromtimestamp(self.epoch + now, timezone.utc).strftime("%Y/%m/%d")
        stream = f"{day}/[{fn.config.version}]{self._ids.getrandbits(128):032x}"
        ns = EnvironmentNamespace(fn.code, self._tmp_factory, self._env_seeds.getrandbits(64), None,
                                  self.module_overrides)
        ee = ExecutionEnvironment(f"env-{n:04d}", fn, provisioned, ns, now, stream)
        fn.environments.append(ee)
        self._lifecycle.append((now, ee.id, fn.name, CREATED, None))
        return ee

    def reclaim_idle(self, fn: Function | None = None) -> None:
        """Reclaim every on-demand environment whose idle time has run out by now."""
        now = self.env.now
        for f in ([fn] if fn is not None else self.functions.values()):
            idle = f.idle
            while idle:
                freed = idle[0].freed_at
                if freed is None or freed + self.idle_reclaim_s > now:
                    break
                ee = idle.popleft()
                ee.reclaimed_at = freed + self.idle_reclaim_s
                ee.release_resources(ee.reclaimed_at, "reclaimed")
                ee.namespace = None
                self._lifecycle.append((ee.reclaimed_at, ee.id, f.name, RECLAIMED, None))

    # -- admission -----------------------------------------------------------------------
    def admit(self, fn: Function) -> tuple[ExecutionEnvironment | None, str | None]:
        """Pick an environment for one request now, or return the throttle Reason."""
        r = fn.config.reserved_concurrency
        if r is not None:
            if fn.inflight >= r:
                return None, facts.THROTTLE_REASON_RESERVED
            delta = 0
        else:
            pc = fn.config.provisioned_concurrency
            delta = max(pc, fn.inflight + 1) - max(pc, fn.inflight)
            if self.unreserved_claimed + delta > self.unreserved_pool:
                return None, facts.THROTTLE_REASON_ACCOUNT
        if fn.provisioned_idle:
            ee = fn.provisioned_idle.pop()
        else:
            self.reclaim_idle(fn)
            if fn.idle:
                ee = fn.idle.pop()
            elif fn.bucket.take(self.env.now):
                ee = self._new_environment(fn)
            else:
                return None, self.scaling_throttle_reason
        fn.inflight += 1
        self.unreserved_claimed += delta
        ee.busy = True
        return ee, None

    def _release(self, fn, ee):
        if fn.config.reserved_concurrency is None:
            pc = fn.config.provisioned_concurrency
            self.unreserved_claimed -= max(pc, fn.inflight) - max(pc, fn.inflight - 1)
        fn.inflight -= 1
        ee.busy = False
        ee.freed_at = self.env.now
        if ee.provisioned:
            fn.provisioned_idle.append(ee)
        else:
            fn.idle.append(ee)

    def request_id(self) -> str:
        """A seeded version-4 UUID (the same text ``uuid.UUID(int=..., version=4)`` gives, faster)."""
        x = self._ids.getrandbits(128)
        x = (x & ~(0xc000 << 48) | (0x8000 << 48)) & ~(0xf000 << 64) | (4 << 76)
        h = f"{x:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    # -- one invocation attempt ----------------------------------------------------------
    def throttle_record(self, fn: Function, event_id: str | None, attempt: int, client: int | None, reason: str | None,
                        invocation_type: str = REQUEST_RESPONSE) -> InvocationRecord:
        """Record a throttled attempt (``TooManyRequestsException`` with ``reason``) and return it."""
        now = self.env.now
        rec = _new(InvocationRecord, (self.request_id(), fn.name, event_id, attempt, invocation_type, client, None,
                                      None, False, now, now, NAN, now, NAN, NAN, 0, fn.config.memory_mb, THROTTLED,
                                      "TooManyRequestsException", "Rate Exceeded.", reason, 0.0, None))
        self.records.append(rec)
        return rec

    def invoke_once(self, fn: Function, event: Any, event_id: str | None, attempt: int = 1, client: int | None = None,
                    invocation_type: str = REQUEST_RESPONSE) -> Generator[Any, Any, InvocationRecord]:
        """One invocation attempt as a generator for a simpy process; returns its ``InvocationRecord``."""
        ee, reason = self.admit(fn)
        if ee is None:
            return self.throttle_record(fn, event_id, attempt, client, reason, invocation_type)
        return (yield from self.run_invocation(fn, ee, event, event_id, attempt, client, invocation_type))

    def run_invocation(self, fn: Function, ee: ExecutionEnvironment, event: Any, event_id: str | None, attempt: int,
                       client: int | None, invocation_type: str) -> Generator[Any, Any, InvocationRecord]:
        env, cfg = self.env, fn.config
        arrival = start = env.now
        rid = self.request_id()
        log: list[str] = []
        ns = ee.namespace
        assert ns is not None                   # an environment in service has its namespace
        ns._log_sink = log.append
        speed = cfg.single_thread_speed
        lc = self._lifecycle
        init_ms = NAN
        cold = False
        error_type = error_message = response = None
        ee.running = running = Running(env.active_process, (rid, event_id, attempt, client, invocation_type))
        if ee.needs_init and ee.invocations == 0 and not ee.provisioned:
            # Cold start: the Init phase, limited to 10 s, before the Invoke phase.
            cold = True
            start_type = COLD
            if cfg.runtime_init_ms:
                try:
                    yield env.timeout(cfg.runtime_init_ms / 1000)
                except simpy.Interrupt:
                    return self.abort_running(ee, COLD, True, arrival, start, log)
            running.activation = act = Activation(self, speed, log, rid, cfg.cpu_share, cfg.vcpus, ee)
            status, value = yield from self._run_code(act, ns.run_init, (),
                                                      start + facts.INIT_LIMIT_S)
            init_ms = (env.now - start) * 1000
            if status == _ABORTED:
                return self.abort_running(ee, COLD, True, arrival, start, log, init_ms)
            if status == _OK:
                ee.needs_init = False
                lc.append((env.now, ee.id, fn.name, INIT_DONE, rid))
            elif status == _KILLED:
                init_ms = facts.INIT_LIMIT_S * 1000
                self.init_reports[rid] = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: timeout"
                ee.release_resources(env.now, "reset")
                ns.reset()
            else:
                etype, emsg = _init_failure(status, value)
                self.init_reports[rid] = (f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\t"
                                          f"Status: error\tError Type: {etype}")
                return self._finish(fn, ee, rid, event_id, attempt, client, invocation_type, COLD, True,
                                    arrival, start, env.now, init_ms, 0.0, ERROR, etype, emsg, None,
                                    reset=True, runtime_error=True, log=log)
        else:
            start_type = REINIT if ee.needs_init else (PROVISIONED if ee.provisioned else WARM)
        invoke_start = env.now
        deadline = invoke_start + cfg.timeout_s
        lc.append((invoke_start, ee.id, fn.name, INVOKE_START, rid))
        status = _OK
        if ee.needs_init:
            # A suppressed init: init re-runs inside the invoke, under the function timeout.
            if cfg.runtime_init_ms:
                try:
                    yield env.timeout(min(cfg.runtime_init_ms / 1000, cfg.timeout_s))
                except simpy.Interrupt:
                    return self.abort_running(ee, start_type, cold, arrival, start, log, init_ms, invoke_start)
            running.activation = act = Activation(self, speed, log, rid, cfg.cpu_share, cfg.vcpus, ee)
            status, value = yield from self._run_code(act, ns.run_init, (), deadline)
            if status == _ABORTED:
                return self.abort_running(ee, start_type, cold, arrival, start, log, init_ms, invoke_start)
            if status == _OK:
                ee.needs_init = False
            elif status != _KILLED:
                etype, emsg = _init_failure(status, value)
                return self._finish(fn, ee, rid, event_id, attempt, client, invocation_type, start_type, cold,
                                    arrival, start, invoke_start, init_ms, (env.now - invoke_start) * 1000,
                                    ERROR, etype, emsg, None, reset=True, runtime_error=True, log=log)
        if status == _OK:
            ctx = LambdaContext(self, fn, ns, rid, deadline, ee.log_stream_name)
            running.activation = act = Activation(self, speed, log, rid, cfg.cpu_share, cfg.vcpus, ee)
            status, value = yield from self._run_code(act, ns.handler, (event, ctx), deadline)
            self._stop_children(act)
            if status == _ABORTED:
                return self.abort_running(ee, start_type, cold, arrival, start, log, init_ms, invoke_start)
        reset = runtime_error = False
        if status == _OK:
            outcome, response = SUCCESS, value
            try:
                if type(value) not in _PLAIN_JSON:
                    # Serialised when the handler returns, as the runtime does: later changes to
                    # a module-level object must not rewrite an earlier caller's answer.
                    response = marshal_response(value)   # as AWS's Python runtime (labkit.marshaller)
            except (TypeError, ValueError) as e:
                outcome, response = ERROR, None
                error_type, error_message = "Runtime.MarshalError", f"Unable to marshal response: {e}"
                runtime_error = True
        elif status == _KILLED:
            outcome, reset = TIMEOUT, True
            error_type = "Sandbox.Timedout"
            error_message = f"RequestId: {rid} Error: Task timed out after {cfg.timeout_s:.2f} seconds"
        elif status == _EXIT:
            outcome, reset, runtime_error = ERROR, True, True
            error_type = "Runtime.ExitError"
            error_message = f"RequestId: {rid} Error: Runtime exited with error: {value}"
        else:
            outcome = ERROR
            error_type, error_message, stack = value
            log.append(f"[ERROR] {error_type}: {error_message}")
            if stack:
                log.append("Traceback (most recent call last):")
                log.extend(s.rstrip("\n") for s in stack)
            response = {"errorMessage": error_message, "errorType": error_type,
                        "requestId": rid, "stackTrace": stack}
        duration_ms = cfg.timeout_s * 1000.0 if outcome == TIMEOUT else (env.now - invoke_start) * 1000
        return self._finish(fn, ee, rid, event_id, attempt, client, invocation_type, start_type, cold, arrival,
                            start, invoke_start, init_ms, duration_ms, outcome, error_type, error_message,
                            response, reset=reset, runtime_error=runtime_error, log=log)

    def abort_running(self, ee: ExecutionEnvironment, start_type: str | None = None, cold: bool = False,
                      arrival: float | None = None, start: float | None = None, log: list[str] | None = None,
                      init_ms: float = NAN, invoke_start: float | None = None) -> InvocationRecord:
        """End the invocation ``ee`` runs as interrupted: its code is stopped, the environment is
        reset (its globals were left halfway), and the attempt is recorded as an error of type
        ``labkit.RunInterrupted``. Called from the invocation itself when its run is aborted, or
        by the backend for one whose process can no longer end it."""
        running = ee.running
        assert running is not None
        now = self.env.now
        if running.activation is not None and running.activation.glet is not None:
            self._kill(running.activation)
        rid, event_id, attempt, client, invocation_type = running.args
        arrival = now if arrival is None else arrival
        start = arrival if start is None else start
        invoke_start = now if invoke_start is None else invoke_start
        duration_ms = (now - invoke_start) * 1000
        return self._finish(ee.function, ee, rid, event_id, attempt, client, invocation_type,
                            start_type or (COLD if ee.invocations == 0 and not ee.provisioned else WARM),
                            cold, arrival, start, invoke_start, init_ms, duration_ms, ERROR, RUN_INTERRUPTED,
                            "The run was interrupted while this invocation was running: it was stopped, "
                            "and its execution environment reset.", None, reset=True, log=log)

    def _finish(self, fn, ee, rid, event_id, attempt, client, invocation_type, start_type, cold, arrival, start,
                invoke_start, init_ms, duration_ms, outcome, error_type, error_message, response,
                reset=False, runtime_error=False, log=None):
        cfg = fn.config
        now = self.env.now
        ee.invocations += 1
        ee.running = None
        if reset:
            ee.release_resources(now, "reset")
            ee.namespace.reset()
            ee.needs_init = True
            self._lifecycle.append((now, ee.id, fn.name, RESET, rid))
        self._lifecycle.append((now, ee.id, fn.name, IDLE, rid))
        self._release(fn, ee)
        init_billed = 0.0 if math.isnan(init_ms) else init_ms
        billed = billing.billed_duration_ms(duration_ms, init_billed, self.billing_model)
        cost = billing.invocation_cost(cfg.memory_mb, billed, cfg.architecture)
        rec = _new(InvocationRecord, (rid, fn.name, event_id, attempt, invocation_type, client, ee.id, start_type, cold,
                                      arrival, start, invoke_start, now, init_ms, duration_ms, billed, cfg.memory_mb,
                                      outcome, error_type, error_message, None, cost, response))
        self.records.append(rec)
        if runtime_error:
            self.runtime_errors.add(rid)
        if log:
            self.logs[rid] = log
        return rec

    # -- running code in a greenlet ------------------------------------------------------
    @staticmethod
    def _greenlet_main(fn, args):
        try:
            return _OK, fn(*args)
        except RunInterrupted:
            return _ABORTED, None
        except bridge.Killed:
            stop_tracing()      # in the greenlet that started it (see labkit.watchdog.CpuLimit)
            return _KILLED, None
        except InitError as e:
            return _INIT_ERR, e
        except SystemExit as e:
            return _EXIT, e.code
        except (KeyboardInterrupt, GeneratorExit) as e:
            # Raised by the handler itself (the learner's stop button arrives as RunInterrupted):
            # like any exception the runtime does not catch, it ends the runtime process.
            return _EXIT, type(e).__name__
        except Exception as e:
            return _ERR, (type(e).__name__, str(e), format_stack(e.__traceback__))
        finally:
            # The activation refers to its greenlet: drop the reference back, so both are freed
            # by reference counting when the invocation ends, not left to the cycle collector.
            getcurrent().activation = None

    def _run_code(self, act: Activation, fn: Callable, args: tuple, deadline: float) -> Generator[Any, Any, tuple]:
        """Drive ``fn(*args)`` in a greenlet until it returns or ``deadline``; yields simpy events.

        Each stretch of the code between two waits runs under the watchdog (``labkit.watchdog``)
        with what is left of its time: code that never waits is stopped there as a timeout.
        With ``count_real_cpu`` the real CPU time of each stretch is also spent as simulated
        time, at the function's CPU share, before the code's wait request is served."""
        env = self.env
        act.deadline = deadline
        act.limit_s = deadline - env.now
        glet = act.glet = ActivationGreenlet(self._greenlet_main)
        glet.activation = act
        try:
            msg = self._resume(act, glet.switch, fn, args)
            while True:
                if act.overran:                      # the watchdog stopped it: a timeout
                    remaining = deadline - env.now
                    if remaining > 0:
                        yield env.timeout(remaining)
                    return self._kill(act)
                if act.cpu_to_charge > 0:            # count_real_cpu: the stretch's CPU as simulated time
                    work, act.cpu_to_charge = act.cpu_to_charge, 0.0
                    remaining = deadline - env.now
                    done = act.cpu.request(work) if act.cpu is not None else env.timeout(work / act.speed)
                    limit = env.timeout(max(remaining, 0.0))
                    yield done | limit
                    if not done.processed:
                        done.callbacks.append(_defuse)
                        return self._kill(act)
                if glet.dead:
                    return msg
                kind, payload = msg
                remaining = deadline - env.now
                if kind == bridge.SLEEP:
                    if payload > remaining:
                        if remaining > 0:
                            yield env.timeout(remaining)
                        return self._kill(act)
                    if payload > 0:
                        yield env.timeout(payload)
                    msg = self._resume(act, glet.switch, None)
                    continue
                event = payload
                # Not yet processed (a simpy Timeout, for one, counts as "triggered" from the
                # moment it is created): wait for it, but no longer than the deadline.
                if event.callbacks is not None:
                    limit = env.timeout(max(remaining, 0.0))
                    try:
                        yield event | limit
                    except simpy.Interrupt:
                        raise
                    except BaseException as e:   # the awaited event failed: raise it in the handler
                        msg = self._resume(act, glet.throw, e)
                        continue
                    if event.callbacks is not None:   # the deadline came first
                        event.callbacks.append(_defuse)
                        return self._kill(act)
                msg = self._resume(act, glet.switch, event.value) if event.ok else self._resume(act, glet.throw,
                                                                                                 event.value)
        except simpy.Interrupt:              # the run was aborted (labkit.backends.simulator)
            self._kill(act)
            return _ABORTED, None

    def _resume(self, act: Activation, method: Callable, *args: Any) -> Any:
        """Run the activation's code until it next waits (or ends), under the watchdog."""
        if interrupts.requested():     # the learner asked to stop: no more handler code runs
            raise simpy.Interrupt(RUN_INTERRUPTED)
        measured = self.count_real_cpu
        # Real time the code may run. count_real_cpu: the real CPU time that what is left of
        # its simulated time buys at its CPU share. Otherwise (real CPU takes no simulated
        # time): its time limit, less the real time it has already run, so that no code holds
        # the kernel for longer than its timeout in all.
        allowance = (act.deadline - self.env.now) * act.speed if measured else act.limit_s - act.real_s
        if allowance < 0:              # its time is spent already: it does not run again
            act.overran = True
            return None
        token = WATCHDOG.arm(allowance)
        t0 = _thread_time() if measured else _perf_counter()
        overran = False
        try:
            msg = method(*args)
        except CpuLimit:                                # delivered as the code gave control back
            msg, overran = None, True
        while True:
            try:
                overran = WATCHDOG.disarm(token) or overran
                break
            except CpuLimit:
                overran = True
        if measured:
            act.cpu_to_charge += _thread_time() - t0
        else:
            act.real_s += _perf_counter() - t0
        if overran:
            act.overran = True
        return msg

    @classmethod
    def _kill(cls, act):
        cls._stop_children(act)
        act.killed = True
        for _ in range(1000):
            if act.glet.dead or not act.glet:   # ended, or never started (then it never will)
                break
            # Code that catches the stop and spins is stopped again by the watchdog.
            token = WATCHDOG.arm(2 * POLL_S)
            try:
                act.glet.throw(bridge.Killed())
            except CpuLimit:
                pass
            while True:
                try:
                    WATCHDOG.disarm(token)
                    break
                except CpuLimit:
                    pass
        else:
            # Code that keeps catching the stop is abandoned, and kept referenced: were it
            # garbage-collected, greenlet would resume it outside the simulation, where its
            # sleeps are real ones.
            _ABANDONED.append(act.glet)
        return _KILLED, None

    @classmethod
    def _stop_children(cls, act):
        """Stop worker threads still running when their invocation ends."""
        for child in act.children:
            if child.glet is not None and not child.glet.dead:
                cls._kill(child)
        act.children.clear()

    # -- housekeeping --------------------------------------------------------------------
    def close(self) -> None:
        if self._tmp_root is not None:
            shutil.rmtree(self._tmp_root, ignore_errors=True)
            self._tmp_root = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


_ABANDONED: list = []   # greenlets of handler code that would not stop (see Account._kill)


def _defuse(event):
    event.defused = True


def _init_failure(status, value):
    """errorType and errorMessage of a failed init."""
    if status == _INIT_ERR:
        return value.error_type, value.message
    if status == _EXIT:
        return "Runtime.ExitError", f"Runtime exited with error: exit status {value}"
    etype, emsg, _ = value
    return etype, emsg
