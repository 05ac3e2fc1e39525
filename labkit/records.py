"""What a run leaves behind, as named records: the vocabulary every layer shares.

Backends (the simulator, later real AWS) *write* these records; ``labkit.run.Run``,
metrics, plots and exercise checkers only *read* them, by field name. The
DataFrame columns of ``run.invocations``, ``run.lifecycle``, ``run.environments``,
``run.events`` and ``run.async_events`` are the fields of the types below, in order.

* ``InvocationRecord``: one invocation attempt (throttled attempts included).
* ``LifecycleEvent``: one step in the life of an execution environment.
* ``EnvironmentRecord``: one execution environment that served a run.
* ``LedgerEntry`` / ``EventRecord``: the final state of one event (nothing is
  lost silently: see ``labkit.event_sources.ledger``).
* ``AsyncEventRecord``: the life of one asynchronous event in Lambda's queue.
* ``RunRecords``: the immutable bundle of one run's records, which ``Run`` presents.

The string constants name the values these records hold (outcomes, start types,
lifecycle events, ledger states), so no module spells them out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from collections.abc import Mapping
from typing import Any, NamedTuple

# -- outcomes of one invocation attempt ---------------------------------------------------------
SUCCESS = "success"
ERROR = "error"
TIMEOUT = "timeout"
THROTTLED = "throttled"
OUTCOMES = (SUCCESS, ERROR, TIMEOUT, THROTTLED)

# The error type of an attempt stopped because its run was aborted (an interrupt, or an error
# raised in the driving code): a labkit event, not something AWS reports.
RUN_INTERRUPTED = "labkit.RunInterrupted"
RUN_INTERRUPTED_REASON = "RunInterrupted"     # the ledger's reason for events it left unsettled

# -- how an attempt started ---------------------------------------------------------------------
COLD = "cold"                  # a new environment ran its Init phase first
WARM = "warm"                  # an idle on-demand environment was reused
PROVISIONED = "provisioned"    # a pre-initialised provisioned environment served it
REINIT = "reinit"              # init re-ran inside the invoke after a reset (no Init Duration)
START_TYPES = (COLD, WARM, PROVISIONED, REINIT)

# -- invocation types ---------------------------------------------------------------------------
REQUEST_RESPONSE = "RequestResponse"
EVENT = "Event"

# -- lifecycle events of an execution environment -----------------------------------------------
CREATED = "created"
INIT_DONE = "init_done"
INIT_FAILED = "init_failed"
INVOKE_START = "invoke_start"
IDLE = "idle"
RESET = "reset"
RECLAIMED = "reclaimed"
LIFECYCLE_EVENTS = (CREATED, INIT_DONE, INIT_FAILED, INVOKE_START, IDLE, RESET, RECLAIMED)

# -- states of an event in the ledger -----------------------------------------------------------
PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
FAILURE_DESTINATION = "failure_destination"
DEAD_LETTER_QUEUE = "dead_letter_queue"
DROPPED = "dropped"
FINAL_STATES = (SUCCEEDED, FAILED, FAILURE_DESTINATION, DEAD_LETTER_QUEUE, DROPPED)


class InvocationRecord(NamedTuple):
    """One invocation attempt (see ``labkit.run`` for the meaning of each field)."""

    request_id: str
    function: str
    event_id: str | None
    attempt: int
    invocation_type: str
    client: int | None
    environment_id: str | None
    start_type: str | None
    cold: bool
    arrival_s: float
    start_s: float
    invoke_start_s: float
    end_s: float
    init_duration_ms: float
    duration_ms: float
    billed_duration_ms: float
    memory_mb: int
    outcome: str
    error_type: str | None
    error_message: str | None
    throttle_reason: str | None
    cost_usd: float
    response: Any


INVOCATION_COLUMNS = InvocationRecord._fields


class LifecycleEvent(NamedTuple):
    """One step in the life of an execution environment (``event`` is one of
    ``LIFECYCLE_EVENTS``; ``request_id`` names the invocation that caused it, if any)."""

    time_s: float
    environment_id: str
    function: str
    event: str
    request_id: str | None


LIFECYCLE_COLUMNS = LifecycleEvent._fields


class EnvironmentRecord(NamedTuple):
    """One execution environment that served a run, as the run saw it when it ended."""

    environment_id: str
    function: str
    provisioned: bool
    created_s: float
    invocations: int
    reclaimed_s: float
    log_stream_name: str


ENVIRONMENT_COLUMNS = EnvironmentRecord._fields


@dataclass(slots=True)
class LedgerEntry:
    """The state of one event: ``PENDING`` until it settles in one of ``FINAL_STATES``."""

    state: str
    reason: str | None
    time_s: float


class EventRecord(NamedTuple):
    """One event's state as a run reports it."""

    event_id: str
    state: str
    reason: str | None
    time_s: float


EVENT_COLUMNS = EventRecord._fields


@dataclass(slots=True)
class AsyncEventRecord:
    """The life of one asynchronous event: received, first invoked, settled; attempts on the
    function, function errors, throttles, duplicate deliveries; final state and reason."""

    event_id: str
    function: str
    received_s: float
    first_invoke_s: float | None = None
    finished_s: float | None = None
    attempts: int = 0
    function_errors: int = 0
    throttles: int = 0
    duplicates: int = 0
    state: str = PENDING
    reason: str | None = None

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, name) for name in ASYNC_EVENT_COLUMNS)


ASYNC_EVENT_COLUMNS = tuple(AsyncEventRecord.__dataclass_fields__)


class FunctionInfo(NamedTuple):
    """A function as a run saw it: its name and its configuration (a frozen ``FunctionConfig``)."""

    name: str
    config: Any


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class RunRecords:
    """Everything one run produced, fixed when the run ended: later simulated time never
    changes it. A backend builds it; ``labkit.run.Run`` only queries and presents it.

    ``event_ids`` are the events the run produced, in the order they were made;
    ``events`` their states when the run ended (``async_events`` likewise, copies).
    ``concurrency_limit`` and ``unreserved_concurrency`` are the account's figures.
    ``logs`` maps a request id to the lines its code wrote (between START and END);
    ``init_reports`` maps a request id to the INIT_REPORT line of its failed init;
    ``runtime_errors`` holds the request ids whose error the platform reports
    (``Status: error`` on the REPORT line)."""

    t0: float
    t1: float
    functions: tuple[FunctionInfo, ...]
    invocations: tuple[InvocationRecord, ...]
    event_ids: tuple[str, ...] = ()
    lifecycle: tuple[LifecycleEvent, ...] = ()
    environments: tuple[EnvironmentRecord, ...] = ()
    events: tuple[EventRecord, ...] = ()
    async_events: tuple[AsyncEventRecord, ...] = ()
    logs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    init_reports: Mapping[str, str] = field(default_factory=dict)
    runtime_errors: frozenset[str] = frozenset()
    concurrency_limit: int = 1000
    unreserved_concurrency: int = 1000
    region: str = "us-east-1"
    wall_s: float = 0.0
    backend: str = "simulator"

    def __post_init__(self):
        object.__setattr__(self, "logs", _frozen(self.logs))
        object.__setattr__(self, "init_reports", _frozen(self.init_reports))


# -- simulated services: database, proxy, traditional server, HTTP ------------------------------
# Rows of the DataFrames that labkit.services.database, .proxy, .traditional and the services'
# ``calls`` give (``db.connections``, ``db.queries``, ``db.refused``, ``db.metrics()``,
# ``proxy.client_connections``, ``proxy.borrows``, ``proxy.metrics()``, ``ServerRun.requests``,
# ``lab.services.calls``): the columns are the fields, in order.

# Outcomes of a statement or a proxy borrow (with ERROR, "error <errno>" and TIMEOUT above).
OK = "ok"                      # done
ABANDONED = "abandoned"        # the caller was stopped while the server worked on it

_NAN = float("nan")            # not known yet


class ConnectionRecord(NamedTuple):
    """One connection to a simulated database: who held it (``owner`` ``"lambda"``,
    ``"notebook"``, ``"code"``, ``"proxy"`` or ``"server"``; ``holder`` the environment, proxy
    or server process), whether it was opened in ``"init"`` or ``"invoke"``, when it opened
    and closed (``closed_s`` None while open), why it closed, and its statements."""

    connection_id: int
    owner: str
    holder: str | None
    function: str | None
    opened_in: str | None
    request_id: str | None
    opened_s: float
    closed_s: float | None
    close_reason: str | None
    queries: int


DB_CONNECTION_COLUMNS = ConnectionRecord._fields


class QueryRecord(NamedTuple):
    """One statement a simulated database served: ``statement`` is its verb (``"SELECT"``,
    ...); ``outcome`` ``OK``, ``"error <errno>"``, ``ERROR`` or ``ABANDONED``."""

    connection_id: int
    owner: str
    request_id: str | None
    statement: str
    start_s: float
    end_s: float
    latency_ms: float
    cpu_ms: float
    outcome: str


DB_QUERY_COLUMNS = QueryRecord._fields


class RefusedConnection(NamedTuple):
    """One connection a simulated database refused (MySQL error 1040, too many connections)."""

    time_s: float
    owner: str
    holder: str | None
    function: str | None
    request_id: str | None


DB_REFUSAL_COLUMNS = RefusedConnection._fields


class DatabaseMetrics(NamedTuple):
    """One period of a simulated database's metrics (see ``DatabaseServer.metrics``)."""

    time_s: float
    open_connections: int
    connections_opened: int
    connections_closed: int
    refused: int
    queries: int
    queries_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    cpu_utilization: float


DB_METRIC_COLUMNS = DatabaseMetrics._fields


class ClientConnectionRecord(NamedTuple):
    """One client connection to a simulated RDS Proxy (the session a handler holds)."""

    client_connection_id: int
    owner: str
    holder: str | None
    function: str | None
    request_id: str | None
    opened_s: float
    closed_s: float | None
    close_reason: str | None
    statements: int
    pinned: bool


PROXY_CLIENT_COLUMNS = ClientConnectionRecord._fields


class BorrowRecord(NamedTuple):
    """One borrow of a database connection by a proxy's statement: when it started, how long
    it waited (ms), ``OK`` or ``TIMEOUT``."""

    time_s: float
    wait_ms: float
    outcome: str
    client_connection_id: int
    request_id: str | None


PROXY_BORROW_COLUMNS = BorrowRecord._fields


class ProxyMetrics(NamedTuple):
    """One period of a simulated proxy's metrics (see ``DatabaseProxy.metrics``)."""

    time_s: float
    client_connections: int
    database_connections: int
    borrows: int
    borrow_timeouts: int
    borrow_wait_p99_ms: float


PROXY_METRIC_COLUMNS = ProxyMetrics._fields


@dataclass(slots=True)
class ServerRequest:
    """One request to the traditional server: arrival, start (connection in hand), end, the
    wait for a connection and the whole latency, its outcome and response."""

    request_id: str
    event_id: str
    process: str
    arrival_s: float
    start_s: float = _NAN
    end_s: float = _NAN
    wait_ms: float = _NAN
    latency_ms: float = _NAN
    outcome: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    response: object = None

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, c) for c in SERVER_COLUMNS)


SERVER_COLUMNS = tuple(ServerRequest.__dataclass_fields__)


class ServiceCall(NamedTuple):
    """One call to a simulated service (DynamoDB, HTTP) as a row of ``lab.services.calls``:
    a ``labkit.services.base.CallRecord`` with its one-line ``summary``."""

    start_s: float
    time_s: float
    request_id: str | None
    service: str
    resource: str
    operation: str
    target: Any
    outcome: str
    summary: str


SERVICE_CALL_COLUMNS = ServiceCall._fields

# -- event sources: Kinesis and SQS -------------------------------------------------------------
# The tables of ``labkit.event_sources.kinesis`` (``stream.puts``, ``stream.records``,
# ``mapping.batches``, ``mapping.iterator_age``) and ``labkit.event_sources.sqs``
# (``mapping.batches``, ``mapping.concurrency()``, ``queue.history()``, ``queue.metrics()``,
# ``queue.states()``): one named record per row; each table's columns are its type's fields.

# Outcomes of a batch besides those of its invocation (SUCCESS, ERROR, TIMEOUT, THROTTLED).
PARTIAL = "partial"                      # the function succeeded but reported some items as failed
INVALID_RESPONSE = "invalid_response"    # a batch-item-failures response that fails the whole batch
# Outcomes of one Kinesis put.
ACCEPTED = "accepted"
REJECTED = "rejected"                    # over the shard's write limit: never reaches the ledger
# Why an event source settles a record or message other than SUCCEEDED.
RETENTION_EXPIRED = "RetentionExpired"
MAX_RECEIVE_COUNT_EXCEEDED = "MaxReceiveCountExceeded"
RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


class KinesisPutRecord(NamedTuple):
    """One put attempt on a Kinesis stream (``stream.puts``). ``bytes`` counts the data and the
    partition key (as the shard's write limit does); a ``REJECTED`` put has no sequence number."""

    time_s: float
    partition_key: str
    shard_id: str
    sequence_number: str | None
    bytes: int
    outcome: str
    error_code: str | None


KINESIS_PUT_COLUMNS = KinesisPutRecord._fields


class KinesisRecordState(NamedTuple):
    """One accepted Kinesis record and its state in the ledger (``stream.records``); ``lane`` is
    its ParallelizationFactor lane (0 without a mapping), ``settled_s`` None while ``PENDING``."""

    record_id: str
    shard_id: str
    sequence_number: str
    partition_key: str
    lane: int
    arrival_s: float
    state: str
    reason: str | None
    settled_s: float | None


KINESIS_RECORD_COLUMNS = KinesisRecordState._fields


class KinesisBatchRecord(NamedTuple):
    """One invocation attempt of a Kinesis batch (``mapping.batches``). ``invoked_s`` and
    ``finished_s`` are the invocation's arrival and end; ``retry`` counts the retries before
    it; ``bisect_depth`` how often the batch was split (ids ``<batch>.1``, ``<batch>.2``)."""

    batch_id: str
    shard_id: str
    lane: int
    first_sequence: str
    last_sequence: str
    size: int
    payload_bytes: int
    request_id: str
    invoked_s: float
    finished_s: float
    outcome: str
    error_type: str | None
    retry: int
    bisect_depth: int


KINESIS_BATCH_COLUMNS = KinesisBatchRecord._fields


class IteratorAgeRecord(NamedTuple):
    """IteratorAge when a Kinesis batch attempt finished (``mapping.iterator_age``): the age of
    the batch's last record at ``time_s``."""

    time_s: float
    shard_id: str
    lane: int
    iterator_age_ms: float
    batch_id: str
    outcome: str


ITERATOR_AGE_COLUMNS = IteratorAgeRecord._fields


class SqsBatchRecord(NamedTuple):
    """One batch of an SQS event source mapping (``mapping.batches``), after its last attempt.
    ``started_s`` is the first non-throttled invocation's start (None if every attempt was
    throttled); ``receive_counts`` the messages' ApproximateReceiveCount in this batch;
    ``returned_ids`` the messages left in the queue; ``stale_deletes`` the deletes refused
    because a message had been received again meanwhile."""

    batch_id: str
    function: str
    queue: str
    request_id: str
    attempts: int
    throttles: int
    opened_s: float
    started_s: float | None
    end_s: float
    size: int
    payload_bytes: int
    message_ids: tuple[str, ...]
    group_ids: tuple[str | None, ...]
    receive_counts: tuple[int, ...]
    outcome: str
    error_type: str | None
    returned_ids: tuple[str, ...]
    deleted: int
    stale_deletes: int


SQS_BATCH_COLUMNS = SqsBatchRecord._fields


class SqsPollerSample(NamedTuple):
    """An SQS mapping's batches in flight and its pollers' slots from ``time_s`` on
    (``mapping.concurrency()``)."""

    time_s: float
    batches: int
    slots: int


SQS_POLLER_COLUMNS = SqsPollerSample._fields


class SqsQueueSample(NamedTuple):
    """An SQS queue's counts from ``time_s`` on (``queue.history()``); ``oldest_sent_s`` is the
    sent time of the oldest message still in the queue (NaN when it is empty)."""

    time_s: float
    visible: int
    not_visible: int
    oldest_sent_s: float


SQS_QUEUE_HISTORY_COLUMNS = SqsQueueSample._fields


class SqsQueueMetrics(NamedTuple):
    """An SQS queue's CloudWatch metrics at ``time_s`` (``queue.metrics(period_s)``)."""

    time_s: float
    ApproximateNumberOfMessagesVisible: int
    ApproximateNumberOfMessagesNotVisible: int
    ApproximateAgeOfOldestMessage: float


SQS_QUEUE_METRIC_COLUMNS = SqsQueueMetrics._fields


class SqsMessageState(NamedTuple):
    """One message an SQS queue accepted and its state in the ledger (``queue.states()``);
    ``ledger_key`` is ``"<MessageId>@<queue>"`` for a message redriven into that queue."""

    message_id: str
    ledger_key: str
    group_id: str | None
    seq: int
    body: str
    sent_s: float
    first_receive_s: float | None
    receive_count: int
    settled_s: float | None
    state: str
    reason: str | None


SQS_MESSAGE_COLUMNS = SqsMessageState._fields
