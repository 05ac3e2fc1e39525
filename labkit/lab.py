"""The notebooks' entry point: ``Lab`` (an account), its functions and runs.

>>> import labkit as lk
>>> lab = lk.Lab(seed=1)
>>> fn = lab.function(source="def handler(event, context):\\n    return event['n'] * 2\\n")
>>> run = lab.invoke(fn, lk.workload.sequential(3))
>>> run.summary()["succeeded"]
3
"""

from __future__ import annotations

from typing import Any

from . import bridge, validation
from .backends.base import Traffic
from .backends.simulator import SimulatorBackend
from .config import FunctionConfig
from .errors import InvalidParameterValueException, SimulationError
from .event_sources.kinesis import KinesisStream
from .event_sources.sqs import SqsQueue
from .records import EVENT, REQUEST_RESPONSE
from .retry import SdkRetry
from .run import Run
from .sandbox import HandlerCode
from .workload import Workload, sequential

__all__ = ["Lab", "SdkRetry"]


class Lab:
    """A simulated AWS account in one Region, with a seeded random source.

    ``Lab(seed=1)`` has AWS's default limits. Options (all checked like AWS would):
    ``concurrency_limit`` (1,000), ``scaling_model`` ("per-function" since Nov 2023,
    or "legacy-account"), ``region``, ``idle_reclaim_s`` (600, an observation, not
    an AWS promise), ``billing_model`` ("2025-08", "2020-12", "pre-2020-12").

    Time carries on from one ``invoke`` to the next, so environments warmed by
    one run serve the next; ``advance(seconds)`` lets the account sit idle.

    ``Lab`` checks arguments and delegates to its backend (``labkit.backends``);
    every run returns a ``Run`` over an immutable bundle of records.
    """

    def __init__(self, seed: int = 0, **account_options: Any) -> None:
        bridge.refuse_inside_handler("lk.Lab()")
        self.backend = SimulatorBackend(seed, **account_options)
        self.seed = seed

    # Simulator internals, for lessons and tests that look inside the model.
    @property
    def account(self):
        """The simulated account (``labkit.runtime.Account``): clock, functions, environments."""
        return self.backend.account

    @property
    def ledger(self):
        """The final state of every event, from every source (``labkit.event_sources.ledger``)."""
        return self.backend.ledger

    @property
    def services(self):
        """The simulated services handler code reaches (``labkit.services.Services``)."""
        return self.backend.services

    # -- functions -------------------------------------------------------------------
    def function(self, handler=None, *, source=None, handler_name="handler", name=None, **config):
        """Deploy a function. ``handler`` is a ``def handler(event, context)`` function;
        its whole module (a file, or the notebook cell that defines it) becomes the
        function's code, run once per execution environment as its init. Or pass the
        module's text as ``source``. ``config``: memory_mb, timeout_s,
        ephemeral_storage_mb, reserved_concurrency, provisioned_concurrency,
        architecture, runtime_init_ms."""
        bridge.refuse_inside_handler("lab.function()")
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
            existing = set(self.backend.function_names())
            name, k = default_name, 2
            while name in existing:
                name, k = f"{default_name}-{k}", k + 1
        return self.backend.deploy(FunctionConfig(name=name, **config), code)

    # -- traffic ---------------------------------------------------------------------
    def invoke(self, fn, workload, *, retry=None) -> Run:
        """Send ``workload`` to ``fn`` as synchronous (RequestResponse) calls; return the Run."""
        return self.simulate([(fn, workload)], retry=retry)

    def invoke_async(self, fn, workload, **config) -> Run:
        """Send ``workload`` to ``fn`` as asynchronous (``Event``) invocations; return the Run.

        Each call is accepted with 202 into the function's internal queue; the run lasts
        until every event has reached a final state (succeeded, destination, DLQ or
        dropped), which with retries can be hours of simulated time. ``config``: see
        ``async_queue``."""
        return self.simulate([(fn, workload, EVENT)], async_config={fn.name: config} if config else None)

    def simulate(self, traffic, *, retry=None, async_config=None) -> Run:
        """Run several streams of traffic at once (e.g. a noisy neighbour).

        Each item is ``(function, workload)`` for synchronous calls or
        ``(function, workload, "Event")`` for asynchronous ones; ``async_config`` maps
        a function name to its asynchronous settings (see ``async_queue``). The run
        ends when every call has returned and every asynchronous event is settled."""
        bridge.refuse_inside_handler("lab.invoke()")
        if retry is not None and not isinstance(retry, SdkRetry):
            raise InvalidParameterValueException("retry", retry, "None or an lk.SdkRetry(...)")
        names = self.backend.function_names()
        for fn in (async_config or {}):
            if fn not in names:
                raise InvalidParameterValueException("async_config", fn, f"names of this Lab's functions {names}")
        checked = [self._traffic(item) for item in traffic]
        return Run(self.backend.run(checked, retry=retry, async_config=async_config))

    def _traffic(self, item) -> Traffic:
        fn, wl, kind = (tuple(item) + (REQUEST_RESPONSE,))[:3]
        if kind not in (REQUEST_RESPONSE, EVENT):
            raise InvalidParameterValueException("InvocationType", kind, "RequestResponse or Event")
        if getattr(fn, "account", None) is not self.backend.account:
            raise SimulationError(f"{fn!r} does not belong to this Lab")
        if getattr(fn, "retired", False):
            raise SimulationError(f"{fn.name} was redeployed since this function object was made: "
                                  "invoke the object the latest lab.function(...) returned")
        if isinstance(wl, (list, tuple)):
            events = list(wl)
            wl = sequential(len(events), payload=events.__getitem__)
        if not isinstance(wl, Workload):
            raise InvalidParameterValueException("workload", wl, "an lk.workload.* object or a list of events")
        if kind == EVENT and wl.closed:
            raise InvalidParameterValueException(
                "workload", wl, "an open-loop lk.workload (asynchronous callers do not wait for answers)")
        return Traffic(fn, wl, kind)

    def advance(self, seconds) -> None:
        """Let ``seconds`` of simulated time pass with no new traffic (idle environments may be reclaimed)."""
        self.backend.advance(validation.seconds("seconds", seconds))

    @property
    def now(self) -> float:
        """Simulated seconds since the Lab was created."""
        return self.backend.now

    # -- asynchronous invocation ----------------------------------------------------------
    def queue(self, name):
        """A destination or dead-letter queue whose messages you can read (``.messages``)."""
        return self.backend.queue(name)

    def async_queue(self, fn, **config):
        """The function's asynchronous-invocation settings (``PutFunctionEventInvokeConfig``):
        ``maximum_retry_attempts`` (0-2), ``maximum_event_age_s`` (60-21,600), ``on_success``,
        ``on_failure``, ``dead_letter_queue`` (queues from ``lab.queue``), ``duplicate_rate``,
        ``payload_limit_bytes``. Returns the function's internal event queue."""
        return self.backend.dispatcher.async_queue(fn, **config)

    # -- streams and queues ------------------------------------------------------------
    def kinesis_stream(self, name="stream", shard_count=1, *, retention_hours=None):
        """A Kinesis data stream of ``shard_count`` shards (records routed by MD5 of the partition key)."""
        kw = {} if retention_hours is None else {"retention_hours": retention_hours}
        return self.backend.kinesis_stream(name, shard_count, **kw)

    def sqs_queue(self, name="queue", *, dead_letter_queue=None, max_receive_count=None, **options):
        """An SQS queue (FIFO when the name ends in ``.fifo``). A redrive policy sends a message
        to ``dead_letter_queue`` (``lab.queue(...)`` or another SQS queue) after
        ``max_receive_count`` receives. Options: ``visibility_timeout_s``,
        ``message_retention_s``, ``content_based_deduplication``."""
        return self.backend.sqs_queue(name, dead_letter_queue=dead_letter_queue,
                                      max_receive_count=max_receive_count, **options)

    def event_source_mapping(self, fn, source, **options):
        """Connect ``source`` (a Kinesis stream or an SQS queue) to ``fn``; polling starts at once.
        Options are the mapping's settings in snake case (``batch_size``,
        ``maximum_batching_window_s``, ``parallelization_factor``, ``maximum_retry_attempts``,
        ``maximum_record_age_s``, ``bisect_batch_on_function_error``,
        ``report_batch_item_failures``, ``on_failure``, ``maximum_concurrency`` ...)."""
        return self.backend.event_source_mapping(fn, source, **options)

    def send(self, source, workload, *, partition_key=None, group_id=None, until_s=None) -> Run:
        """Produce ``workload`` into ``source`` and run until every record/message is settled
        (or ``until_s`` simulated seconds have passed); return the Run.

        Kinesis needs ``partition_key(payload)``; FIFO queues need ``group_id`` (a string or a
        function of the payload)."""
        bridge.refuse_inside_handler("lab.send()")
        if not isinstance(workload, Workload) or workload.closed:
            raise InvalidParameterValueException("workload", workload, "an open-loop lk.workload.* object")
        if isinstance(source, KinesisStream):
            if partition_key is None:
                raise InvalidParameterValueException("partition_key", None, "a function of the payload (Kinesis)")
        elif not isinstance(source, SqsQueue):
            raise InvalidParameterValueException("source", source, "a lab.kinesis_stream(...) or lab.sqs_queue(...)")
        if until_s is not None:
            validation.seconds("until_s", until_s)
        return Run(self.backend.send(source, workload, partition_key=partition_key, group_id=group_id,
                                     until_s=until_s))

    # -- simulated services ----------------------------------------------------------
    def dynamodb_table(self, name, key="id", *, items=(), **options):
        """Create a simulated DynamoDB table; return it as boto3's ``Table`` (handlers reach
        it with ``boto3.resource("dynamodb").Table(name)``; ``table.sim`` has its items and
        counters). Options: ``key_type``, ``sort_key``, ``sort_key_type``,
        ``read_units_per_s``, ``write_units_per_s``, ``burst_s``, ``latency_s``, ``jitter_s``
        (see ``labkit.services.dynamodb``)."""
        bridge.refuse_inside_handler("lab.dynamodb_table()")
        return self.backend.dynamodb_table(name, key, items=items, **options)

    def reference_service(self, name, data, **options):
        """Create a simulated HTTP reference-data service that handlers reach with
        ``urllib.request.urlopen(service.url + "/key")``. Options: ``url``, ``latency_s``,
        ``jitter_s``, ``rps_limit``, ``version_every_s`` (see ``labkit.services.reference``)."""
        bridge.refuse_inside_handler("lab.reference_service()")
        return self.backend.reference_service(name, data, **options)

    def database(self, name="db", **options):
        """Create a simulated MySQL-style database that handlers reach with
        ``pymysql.connect(host=db.host, ...)``. Options: ``max_connections``, ``vcpus``,
        ``query_cpu_s``, ``handshake_s``, ``auth_cpu_s``, ``network_rtt_s``, ``user``,
        ``password``, ``database``, ``host`` (see ``labkit.services.database``)."""
        bridge.refuse_inside_handler("lab.database()")
        return self.backend.database(name, **options)

    def db_proxy(self, database, name="proxy", **options):
        """Put an RDS-Proxy-style endpoint in front of ``database``; handlers connect to
        ``proxy.host``. Options: ``max_connections_percent``, ``connection_borrow_timeout_s``,
        ``max_client_connections``, ``handshake_s``, ``overhead_s``, ``host``
        (see ``labkit.services.proxy``)."""
        bridge.refuse_inside_handler("lab.db_proxy()")
        return self.backend.db_proxy(database, name, **options)

    def traditional_server(self, database, handler=None, **options):
        """The traditional baseline: ``processes`` (5) worker processes with a pool of
        ``pool_size`` (10) connections each, serving ``handler(event, conn)`` without Lambda;
        ``server.serve(workload)`` runs it (see ``labkit.services.pool``)."""
        bridge.refuse_inside_handler("lab.traditional_server()")
        return self.backend.traditional_server(database, handler=handler, **options)

    def close(self) -> None:
        """Release what the Lab holds (its environments' temporary folders)."""
        self.backend.close()
