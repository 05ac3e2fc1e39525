"""Lesson 05 (shard ordering: partition keys, per-key order, poison records): the experiments.

The lesson's running example is a shared document editor (the MindMup case from the
granularity article): users edit documents at the same time, every edit is an event
``{"doc": "doc-3", "seq": 7, "user": "user-12", "op": {...}}`` and a Lambda function
applies it to the document, stored in a simulated DynamoDB table, by reading the
document, changing it and writing it back, with no lock. The editor's handler modules
are files in ``handlers/`` (``EDITOR_SOURCE``, ``REPORTING_EDITOR_SOURCE``).

Pure functions behind the notebook (each builds its own seeded Lab):

* ``edit_events`` / ``edit_workload``: the edits, numbered per document (``seq``).
* ``edit_log`` / ``edit_summary``: what happened to every edit, read from the
  table's call records: when it was read and written, whether another invocation
  worked on the same document meanwhile (``concurrent``), whether it was written
  after a later edit of the same document (``out_of_order``) and whether a
  concurrent write erased it (``lost``).
* ``edit_documents`` (the widget's pure function) runs one configuration: an SQS
  standard queue, an SQS FIFO queue (group id = document) or a Kinesis stream
  (partition key = document) with its shards and ParallelizationFactor.
* ``poison_trial`` / ``remedy_table``: one unreadable edit in a Kinesis stream,
  under given event source mapping settings: is the shard blocked, and where does
  every edit end up?
"""

from __future__ import annotations

import json
import math
import random
import textwrap
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

import labkit as lk
from labkit import facts, validation
from labkit.errors import InvalidParameterValueException
from labkit.event_sources.destinations import DestinationQueue
from labkit.event_sources.kinesis import KinesisMappingConfig
from labkit.lab import Lab
from labkit.records import DROPPED, FAILURE_DESTINATION, PENDING, SUCCEEDED
from labkit.run import Run
from labkit.workload import Workload

from .handlers import EDITOR_SOURCE

if TYPE_CHECKING:
    from labkit.runtime import Function

# A handler: a ``def handler(event, context)`` function (its notebook cell is its module), or a module's text.
Handler = Callable[..., Any] | str

TABLE = "documents"
ROUTES = ("sqs-standard", "sqs-fifo", "kinesis")
ROUTE_LABELS = {"sqs-standard": "SQS standard queue", "sqs-fifo": "SQS FIFO queue, group id = document",
                "kinesis": "Kinesis stream, partition key = document"}
# Shards and ParallelizationFactor belong to the Kinesis mapping: the widget disables them for the queues.
KINESIS_ONLY = {"shards": lambda s: s["route"] == "kinesis",
                "parallelization_factor": lambda s: s["route"] == "kinesis"}
EDITS = 400              # edits in the comparison runs ...
EDIT_RATE = 100.0        # ... arriving at this rate (Poisson), edits per second
DOCUMENTS = 8            # ... spread evenly at random over this many documents
BATCH_SIZE = 10          # one batch of edits per invocation, for every route
EDITOR_TIMEOUT_S = 10    # a batch of 10 edits takes about 0.3 s
POISON_TEXT = "\u241f garbled \u241f"   # what the corrupted edit carries instead of an operation


def deploy(lab: Lab, code: Handler, name: str = "editor", handler_name: str = "handler") -> Function:
    """Deploy ``code`` (a handler function, or its module's text, whose entry point is ``handler_name``)
    in ``lab``, with the editor's timeout."""
    if isinstance(code, str):
        return lab.function(source=textwrap.dedent(code), handler_name=handler_name, name=name,
                            timeout_s=EDITOR_TIMEOUT_S)
    return lab.function(code, name=name, timeout_s=EDITOR_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# The edits
# ---------------------------------------------------------------------------------------------

def edit_events(edits: int = EDITS, documents: int = DOCUMENTS, rate_per_s: float = EDIT_RATE, *, seed: int = 1,
                poison: int | None = None, record_bytes: int | None = None,
                users: int = 50) -> list[tuple[float, dict[str, Any]]]:
    """``[(offset_s, edit), ...]``: ``edits`` edits arriving as a Poisson process at
    ``rate_per_s``, each on a document drawn uniformly from ``documents`` and numbered
    ``seq`` = 1, 2, 3 ... within its document. ``poison`` (an index) corrupts that edit:
    its ``op`` is unreadable text. ``record_bytes`` pads each edit's text so its JSON is
    exactly that many bytes."""
    validation.event_count("edits", edits, 1)
    for name, v in (("documents", documents), ("users", users)):
        validation.integer(name, v, 1)
    validation.number("rate_per_s", rate_per_s, 0, lo_open=True)
    if record_bytes is not None:   # each edit is one Kinesis record or SQS message: at most their size limit
        validation.integer("record_bytes", record_bytes, 1, facts.KINESIS_MAX_RECORD_BYTES,
                           allowed=f"None or an integer from 1 to {facts.KINESIS_MAX_RECORD_BYTES:,} "
                                   "(the largest Kinesis record)")
    rng = random.Random(f"{seed}:lesson05:edits")
    width = len(str(documents - 1))
    seqs: dict[str, int] = {}
    out, t = [], 0.0
    for i in range(edits):
        t += rng.expovariate(rate_per_s)
        doc = f"doc-{rng.randrange(documents):0{width}d}"
        seqs[doc] = seqs.get(doc, 0) + 1
        edit: dict[str, Any] = {
            "doc": doc, "seq": seqs[doc], "user": f"user-{rng.randrange(users):02d}",
            "op": {"insert": rng.choice(("lorem", "ipsum", "dolor", "sit", "amet")), "at": rng.randrange(500)}}
        if record_bytes is not None:
            pad = record_bytes - len(json.dumps(edit).encode("utf-8"))
            if pad < 0:
                raise InvalidParameterValueException("record_bytes", record_bytes, "enough bytes for one edit")
            edit["op"]["insert"] += "x" * pad
        if poison == i:
            edit["op"] = POISON_TEXT
        out.append((t, edit))
    return out


def edit_workload(edits: int = EDITS, documents: int = DOCUMENTS, rate_per_s: float = EDIT_RATE,
                  **options: Any) -> Workload:
    """``edit_events`` as an open-loop workload for ``lab.send``."""
    ev = edit_events(edits, documents, rate_per_s, **options)
    return lk.workload.replay([t for t, _ in ev], [e for _, e in ev])


def by_document(payload: dict[str, Any]) -> str:
    """The partition key / message group id the lesson uses: the document's id."""
    return payload["doc"]


# ---------------------------------------------------------------------------------------------
# What happened to every edit
# ---------------------------------------------------------------------------------------------

LOG_COLUMNS = ["doc", "seq", "request_id", "read_s", "write_s", "concurrent", "out_of_order", "lost"]


class _Write(NamedTuple):
    """One edit written back to its document: when its invocation read and wrote the document."""

    doc: str
    seq: int
    request_id: str | None
    read_s: float
    write_s: float


def edit_log(lab: Lab, table: str = TABLE, t0: float = 0.0) -> pd.DataFrame:
    """One row per edit the function wrote to ``table``, in the order of the writes.

    ``read_s`` / ``write_s``: when its invocation read the document and wrote it back
    (seconds after ``t0``). ``concurrent``: another invocation read or wrote the same
    document in between. ``out_of_order``: a later edit (higher ``seq``) of the same
    document had already been written. ``lost``: the edit is not in the document as it
    stands now (a concurrent write based on an older read erased it)."""
    reads, rows = {}, []
    for rec in lab.services.records():
        if rec.resource != table or rec.outcome != "ok":
            continue
        params, _item = rec.detail   # the request, and the item read or written
        if rec.operation == "GetItem":
            reads[(rec.request_id, params["Key"]["id"])] = rec.start_s
        elif rec.operation == "PutItem":
            item = params["Item"]
            doc = item["id"]
            read_s = reads.pop((rec.request_id, doc), rec.start_s)
            rows.append(_Write(doc, int(item["applied"].split()[-1]), rec.request_id, read_s - t0, rec.time_s - t0))
    final = {}
    sim = lab.services.dynamodb.tables.get(table)
    if sim is not None:
        for item in sim.items():
            final[item["id"]] = {int(s) for s in str(item.get("applied", "")).split()}
    out = []
    by_doc: dict[str, list[_Write]] = {}
    for row in rows:
        by_doc.setdefault(row.doc, []).append(row)
    for doc, doc_rows in by_doc.items():
        overlap = _overlapping([(r.read_s, r.write_s) for r in doc_rows])
        highest = 0
        for r, ov in zip(doc_rows, overlap, strict=True):
            out.append([doc, r.seq, r.request_id, r.read_s, r.write_s, ov, r.seq < highest,
                        r.seq not in final.get(doc, ())])
            highest = max(highest, r.seq)
    df = pd.DataFrame(out, columns=LOG_COLUMNS)
    return df.sort_values(["write_s", "doc"], kind="stable").reset_index(drop=True)


def _overlapping(spans):
    """For each ``(start, end)`` span, whether another span overlaps it (``a < end and start < b``).
    One invocation's own spans never overlap (it applies its edits one after another)."""
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    out = [False] * len(spans)
    reach = -math.inf                       # the latest end among spans that started earlier
    for k, i in enumerate(order):
        start, end = spans[i]
        if reach > start:
            out[i] = True
        if k + 1 < len(order) and spans[order[k + 1]][0] < end:
            out[i] = True
        reach = max(reach, end)
    return out


def edit_summary(log: pd.DataFrame, edits: int | None = None) -> dict[str, Any]:
    """Counts from ``edit_log``: edits written, concurrent, out of order, lost; when the last was written."""
    return {
        "edits": int(len(log) if edits is None else edits),
        "written": int(len(log)),
        "concurrent": int(log["concurrent"].sum()),
        "out_of_order": int(log["out_of_order"].sum()),
        "lost": int(log["lost"].sum()),
        "done_s": round(float(log["write_s"].max()), 2) if len(log) else math.nan,
    }


# ---------------------------------------------------------------------------------------------
# One configuration (the widget's pure function)
# ---------------------------------------------------------------------------------------------

def deliver(lab: Lab, fn: Function, route: str, workload: Workload, *, shards: int = 2,
            parallelization_factor: int = 1, **mapping_options: Any) -> tuple[Run, Any, Any]:
    """Connect ``fn`` to a new source of type ``route`` and send ``workload`` through it.
    Returns ``(run, source, mapping)``."""
    if route not in ROUTES:
        raise InvalidParameterValueException("route", route, f"one of {ROUTES}")
    mapping_options.setdefault("batch_size", BATCH_SIZE)
    if route == "kinesis":
        source = lab.kinesis_stream("edits", shard_count=shards)
        mapping = lab.event_source_mapping(fn, source, parallelization_factor=parallelization_factor,
                                           **mapping_options)
        run = lab.send(source, workload, partition_key=by_document)
    elif route == "sqs-fifo":
        source = lab.sqs_queue("edits.fifo")
        mapping = lab.event_source_mapping(fn, source, **mapping_options)
        run = lab.send(source, workload, group_id=by_document)
    else:
        source = lab.sqs_queue("edits")
        mapping = lab.event_source_mapping(fn, source, **mapping_options)
        run = lab.send(source, workload)
    return run, source, mapping


def edit_documents(route: str = "kinesis", shards: int = 2, parallelization_factor: int = 1,
                   documents: int = DOCUMENTS, *, edits: int = EDITS, rate_per_s: float = EDIT_RATE,
                   handler: Handler = EDITOR_SOURCE, seed: int = 1) -> dict[str, Any]:
    """Send the same edits through one route and report what happened to them.

    ``shards`` and ``parallelization_factor`` apply to the Kinesis route only. Returns a
    dict: the settings, ``edit_summary`` counts, ``max_concurrency`` (invocations at once),
    ``log`` (``edit_log``), and for Kinesis ``max_iterator_age_s`` and ``iterator_age``
    (``iterator_age_series``; NaN and None for the queues)."""
    lab = lk.Lab(seed=seed)
    lab.dynamodb_table(TABLE)
    fn = deploy(lab, handler)
    wl = edit_workload(edits, documents, rate_per_s, seed=seed)
    run, source, mapping = deliver(lab, fn, route, wl, shards=shards, parallelization_factor=parallelization_factor)
    log = edit_log(lab)
    out = {"route": route, "shards": shards if route == "kinesis" else None,
           "parallelization_factor": parallelization_factor if route == "kinesis" else None,
           "documents": documents, **edit_summary(log, edits),
           "max_concurrency": run.summary()["max_concurrency"],
           "max_iterator_age_s": math.nan, "log": log, "iterator_age": None}
    if route == "kinesis":
        age = mapping.iterator_age
        out["max_iterator_age_s"] = round(float(age["iterator_age_ms"].max()) / 1000, 2) if len(age) else 0.0
        out["iterator_age"] = iterator_age_series(mapping)
    return out


def comparison_table(results: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per ``edit_documents`` result: route, concurrency and what happened to the edits."""
    rows = []
    for r in results:
        route = r["route"]
        if route == "kinesis":
            route = f"kinesis ({r['shards']} shard{'s' if r['shards'] != 1 else ''}, PF {r['parallelization_factor']})"
        age = r.get("max_iterator_age_s", math.nan)
        rows.append({"route": route, "max concurrency": r["max_concurrency"], "edits": r["edits"],
                     "concurrent": r["concurrent"], "out of order": r["out_of_order"], "lost": r["lost"],
                     "last write (s)": r["done_s"],
                     "max IteratorAge (s)": "-" if age is None or math.isnan(age) else f"{age:.1f}"})
    return pd.DataFrame(rows)


def iterator_age_series(mapping: Any, period_s: float = 1.0, per_shard: bool = False) -> pd.DataFrame:
    """IteratorAge like CloudWatch's Maximum statistic: the largest age (seconds) reported by a
    batch that finished in each ``period_s``, for the whole mapping or (``per_shard``) per shard.
    Periods in which no batch finished are absent."""
    validation.seconds("period_s", period_s, lo_open=True)
    age = mapping.iterator_age
    if not len(age):
        return pd.DataFrame(columns=["shard_id", "period_start_s", "iterator_age_s"])
    df = age.assign(period_start_s=np.floor(age["time_s"] / period_s) * period_s,
                    iterator_age_s=age["iterator_age_ms"] / 1000.0)
    keys = ["shard_id", "period_start_s"] if per_shard else ["period_start_s"]
    out = df.groupby(keys, as_index=False)["iterator_age_s"].max()
    if not per_shard:
        out.insert(0, "shard_id", "all shards")
    return out


# ---------------------------------------------------------------------------------------------
# A poison record
# ---------------------------------------------------------------------------------------------

POISON_EDITS = 300        # 30 s of edits at 10 per second ...
POISON_RATE = 10.0
POISON_SHARDS = 2         # ... on 2 shards
POISON_INDEX = 40         # the 41st edit (about 4 s in) is unreadable
POISON_RUN_S = 600        # how long a poison trial may run (a blocked shard would run for a day)
SETTING_NAMES = tuple(f for f in KinesisMappingConfig.__dataclass_fields__ if f != "starting_position")


def poison_workload(seed: int = 1) -> Workload:
    """The poison scenario's edits: ``POISON_EDITS`` edits over ``DOCUMENTS`` documents, one unreadable."""
    return edit_workload(POISON_EDITS, DOCUMENTS, POISON_RATE, seed=seed, poison=POISON_INDEX)


ON_FAILURE_CHOICES = "a queue from lab.queue(...), True (a destination queue), or None (no destination)"


def mapping_settings(settings: dict[str, Any], failure_queue_name: str = "edits-failed") -> dict[str, Any]:
    """Check the learner's mapping settings (a dict of ``event_source_mapping`` options) and
    return a copy for a fresh Lab: ``on_failure`` may be a queue (``lab.queue(...)``) or True
    (meaning "a destination queue"), and becomes a new, empty destination queue; None (or no
    key) means no destination."""
    if not isinstance(settings, dict):
        raise InvalidParameterValueException("settings", type(settings).__name__,
                                             f"a dict of event source mapping settings ({', '.join(SETTING_NAMES)})")
    unknown = [k for k in settings if k not in SETTING_NAMES]
    if unknown:
        raise InvalidParameterValueException("settings", unknown[0], f"names from {', '.join(SETTING_NAMES)}")
    out = dict(settings)
    dest = out.get("on_failure")
    if dest is None:
        out.pop("on_failure", None)
    elif dest is True:
        out["on_failure"] = DestinationQueue(failure_queue_name)
    elif isinstance(dest, DestinationQueue):
        out["on_failure"] = DestinationQueue(dest.name)
    else:
        raise InvalidParameterValueException("on_failure", dest, ON_FAILURE_CHOICES)
    out.setdefault("batch_size", BATCH_SIZE)
    KinesisMappingConfig(**out)     # validates every value as CreateEventSourceMapping would
    return out


class PoisonTrial:
    """One poison trial: the Lab, stream, mapping, run, failure queue and one row per edit.

    ``edits`` columns: ``doc``, ``seq``, ``poison`` (the unreadable one), ``shard_id``,
    ``arrival_s``, ``state`` (final state, or ``pending``), ``reason``, ``wait_s`` (from
    arrival to the final state, or to the end of the trial if still pending)."""

    def __init__(self, lab: Lab, stream: Any, mapping: Any, run: Run, failures: DestinationQueue | None,
                 edits: pd.DataFrame) -> None:
        self.lab, self.stream, self.mapping, self.run = lab, stream, mapping, run
        self.failures, self.edits = failures, edits

    @property
    def poison(self) -> pd.Series:
        return self.edits[self.edits["poison"]].iloc[0]

    @property
    def good(self) -> pd.DataFrame:
        return self.edits[~self.edits["poison"]]

    def summary(self) -> dict[str, Any]:
        """Where the good edits ended up (applied, sent to the destination, dropped, stuck when the
        trial stopped), what happened to the bad one, and the longest wait of an edit on its shard."""
        good, p = self.good, self.poison
        states = good["state"].value_counts()
        blocked = p["shard_id"]
        same_shard = good[good["shard_id"] == blocked]
        bad = {FAILURE_DESTINATION: "to destination", PENDING: "stuck"}.get(p["state"], p["state"])
        return {
            "applied": int(states.get(SUCCEEDED, 0)),          # good edits only, in these four
            "to destination": int(states.get(FAILURE_DESTINATION, 0)),
            "dropped": int(states.get(DROPPED, 0)),
            "stuck": int(states.get(PENDING, 0)),
            "bad edit": bad,
            "max wait (s)": round(float(same_shard["wait_s"].max()), 1) if len(same_shard) else 0.0,
        }

    def __repr__(self) -> str:
        return f"<PoisonTrial {self.summary()}>"


def records_in(stream: Any, batch_info: dict[str, Any]) -> list[dict[str, Any]]:
    """The edits a failure record's ``KinesisBatchInfo`` points at, read back from the stream
    (as a consumer would with a shard iterator AT_SEQUENCE_NUMBER, while retention lasts)."""
    shard = next(s for s in stream.shards if s.id == batch_info["shardId"])
    lo, hi = batch_info["startSequenceNumber"], batch_info["endSequenceNumber"]
    return [json.loads(r.data) for r in shard.records if lo <= r.sequence_number <= hi]


def poison_trial(settings: dict[str, Any] | None = None, handler: Handler = EDITOR_SOURCE, *,
                 handler_name: str = "handler", until_s: float = POISON_RUN_S, seed: int = 1) -> PoisonTrial:
    """Send ``poison_workload()`` through a 2-shard stream to the editor with the mapping
    ``settings`` (see ``mapping_settings``; None = AWS's defaults, with ``BATCH_SIZE``) and run
    for at most ``until_s`` seconds. ``handler`` is a function or its module's text (then
    ``handler_name`` names the entry point). Returns a ``PoisonTrial``."""
    opts = mapping_settings(settings or {})
    lab = lk.Lab(seed=seed)
    lab.dynamodb_table(TABLE)
    fn = deploy(lab, handler, handler_name=handler_name)
    stream = lab.kinesis_stream("edits", shard_count=POISON_SHARDS)
    mapping = lab.event_source_mapping(fn, stream, **opts)
    t0 = lab.now
    run = lab.send(stream, poison_workload(seed), partition_key=by_document, until_s=until_s)
    rows = []
    for shard in stream.shards:
        for r in shard.records:
            edit = json.loads(r.data)
            entry = lab.ledger.states[r.record_id]
            state, reason, t = entry.state, entry.reason, entry.time_s
            end = run.t1 if state == PENDING else t
            rows.append((edit["doc"], edit["seq"], not isinstance(edit["op"], dict), shard.id, r.arrival_s - t0,
                         state, reason, end - r.arrival_s))
    edits = pd.DataFrame(rows, columns=["doc", "seq", "poison", "shard_id", "arrival_s", "state", "reason", "wait_s"])
    edits = edits.sort_values("arrival_s", kind="stable").reset_index(drop=True)
    return PoisonTrial(lab, stream, mapping, run, opts.get("on_failure"), edits)


def describe_settings(settings: dict[str, Any] | None) -> str:
    """Settings in AWS's names, for a table: ``"BisectBatchOnFunctionError, MaximumRetryAttempts=2, ..."``."""
    names = {"batch_size": "BatchSize", "parallelization_factor": "ParallelizationFactor",
             "maximum_retry_attempts": "MaximumRetryAttempts", "maximum_record_age_s": "MaximumRecordAgeInSeconds",
             "bisect_batch_on_function_error": "BisectBatchOnFunctionError",
             "report_batch_item_failures": "ReportBatchItemFailures", "on_failure": "OnFailure",
             "maximum_batching_window_s": "MaximumBatchingWindowInSeconds"}
    parts = []
    for k, v in (settings or {}).items():
        n = names.get(k, k)
        if v is True:
            parts.append(n)
        elif isinstance(v, DestinationQueue):
            parts.append(n)
        elif v is not False and v is not None:
            parts.append(f"{n}={v}")
    return ", ".join(parts) or "defaults"


def remedy_table(trials: Iterable[tuple[str, PoisonTrial]]) -> pd.DataFrame:
    """One row per ``(label, PoisonTrial)``: where the edits ended up."""
    return pd.DataFrame([{"settings": label, **t.summary()} for label, t in trials])
