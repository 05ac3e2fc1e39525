"""Lesson 05 support: shard ordering (partition keys, per-key order, poison records).

The lesson's running example is a shared document editor (the MindMup case from the
granularity article): users edit documents at the same time, every edit is an event
``{"doc": "doc-3", "seq": 7, "user": "user-12", "op": {...}}`` and a Lambda function
applies it to the document, stored in a simulated DynamoDB table, by reading the
document, changing it and writing it back, with no lock.

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
* Exercise 1 (``design_exercise``): partition key and shard count for a required
  throughput, keeping each document's edits in order.
  Exercise 2 (``poison_exercise``): mapping settings that stop a poison record from
  blocking its shard without losing it.
"""

import json
import math
import random
import textwrap

import numpy as np
import pandas as pd

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException
from labkit.event_sources.destinations import DestinationQueue
from labkit.event_sources.kinesis import KinesisMappingConfig
from labkit.exercises import Exercise, checker, correct, not_attempted, wrong
from labkit.plots import STYLE, TIME_LABEL, figure_style, legend_outside

# ---------------------------------------------------------------------------------------------
# Handler modules (the notebook shows the same code in cells of their own; a test keeps them equal)
# ---------------------------------------------------------------------------------------------

EDITOR_SOURCE = '''\
import base64
import json

import boto3
import labkit as lk

documents = boto3.resource("dynamodb").Table("documents")


def edits_in(event):
    """The edits in a batch, whether it came from Kinesis or from SQS."""
    for record in event["Records"]:
        if "kinesis" in record:
            yield json.loads(base64.b64decode(record["kinesis"]["data"]))
        else:
            yield json.loads(record["body"])


def apply_edit(edit):
    if not isinstance(edit.get("op"), dict):
        raise ValueError(f"cannot read edit {edit['seq']} of {edit['doc']}")
    # Read the document, change it, write it back: no lock, no condition.
    doc = documents.get_item(Key={"id": edit["doc"]}).get("Item", {"id": edit["doc"], "applied": ""})
    applied = doc["applied"].split()          # numbers of the edits applied so far, in order
    if str(edit["seq"]) in applied:
        return                    # delivered again (a retry): already applied, nothing to do
    lk.sleep(0.02)                # merging the edit into the text takes 20 ms
    doc["applied"] = " ".join(applied + [str(edit["seq"])])
    documents.put_item(Item=doc)


def handler(event, context):
    for edit in edits_in(event):
        apply_edit(edit)
'''

REPORTING_EDITOR_SOURCE = '''\
import base64
import json

import boto3
import labkit as lk

documents = boto3.resource("dynamodb").Table("documents")


def apply_edit(edit):
    if not isinstance(edit.get("op"), dict):
        raise ValueError(f"cannot read edit {edit['seq']} of {edit['doc']}")
    doc = documents.get_item(Key={"id": edit["doc"]}).get("Item", {"id": edit["doc"], "applied": ""})
    applied = doc["applied"].split()
    if str(edit["seq"]) in applied:
        return
    lk.sleep(0.02)
    doc["applied"] = " ".join(applied + [str(edit["seq"])])
    documents.put_item(Item=doc)


def reporting_handler(event, context):
    for record in event["Records"]:
        edit = json.loads(base64.b64decode(record["kinesis"]["data"]))
        try:
            apply_edit(edit)
        except ValueError:
            # Stop at the first failure and report it: Lambda keeps everything before
            # this record as done and retries from this record on.
            return {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}
    return {"batchItemFailures": []}
'''

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


def _deploy(lab, code, name="editor", handler_name="handler"):
    """Deploy ``code`` (a handler function, or its module's text) in ``lab``."""
    if isinstance(code, str):
        return lab.function(source=textwrap.dedent(code), handler_name=handler_name, name=name,
                            timeout_s=EDITOR_TIMEOUT_S)
    return lab.function(code, name=name, timeout_s=EDITOR_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# The edits
# ---------------------------------------------------------------------------------------------

def edit_events(edits=EDITS, documents=DOCUMENTS, rate_per_s=EDIT_RATE, *, seed=1, poison=None,
                record_bytes=None, users=50):
    """``[(offset_s, edit), ...]``: ``edits`` edits arriving as a Poisson process at
    ``rate_per_s``, each on a document drawn uniformly from ``documents`` and numbered
    ``seq`` = 1, 2, 3 ... within its document. ``poison`` (an index) corrupts that edit:
    its ``op`` is unreadable text. ``record_bytes`` pads each edit's text so its JSON is
    exactly that many bytes."""
    for name, v, lo in (("edits", edits, 1), ("documents", documents, 1), ("users", users, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InvalidParameterValueException(name, v, f"an integer >= {lo}")
    if isinstance(rate_per_s, bool) or not isinstance(rate_per_s, (int, float)) or not rate_per_s > 0:
        raise InvalidParameterValueException("rate_per_s", rate_per_s, "a number > 0")
    rng = random.Random(f"{seed}:lesson05:edits")
    width = len(str(documents - 1))
    seqs, out, t = {}, [], 0.0
    for i in range(edits):
        t += rng.expovariate(rate_per_s)
        doc = f"doc-{rng.randrange(documents):0{width}d}"
        seqs[doc] = seqs.get(doc, 0) + 1
        edit = {"doc": doc, "seq": seqs[doc], "user": f"user-{rng.randrange(users):02d}",
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


def edit_workload(edits=EDITS, documents=DOCUMENTS, rate_per_s=EDIT_RATE, **options):
    """``edit_events`` as an open-loop workload for ``lab.send``."""
    ev = edit_events(edits, documents, rate_per_s, **options)
    return lk.workload.replay([t for t, _ in ev], [e for _, e in ev])


def by_document(payload):
    """The partition key / message group id the lesson uses: the document's id."""
    return payload["doc"]


# ---------------------------------------------------------------------------------------------
# What happened to every edit
# ---------------------------------------------------------------------------------------------

LOG_COLUMNS = ["doc", "seq", "request_id", "read_s", "write_s", "concurrent", "out_of_order", "lost"]


def edit_log(lab, table=TABLE, t0=0.0):
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
        params = rec.detail[0]
        if rec.operation == "GetItem":
            reads[(rec.request_id, params["Key"]["id"])] = rec.start_s
        elif rec.operation == "PutItem":
            item = params["Item"]
            doc = item["id"]
            read_s = reads.pop((rec.request_id, doc), rec.start_s)
            rows.append([doc, int(item["applied"].split()[-1]), rec.request_id, read_s - t0, rec.time_s - t0])
    final = {}
    sim = lab.services.dynamodb.tables.get(table)
    if sim is not None:
        for item in sim.items():
            final[item["id"]] = {int(s) for s in str(item.get("applied", "")).split()}
    out = []
    by_doc = {}
    for row in rows:
        by_doc.setdefault(row[0], []).append(row)
    for doc, doc_rows in by_doc.items():
        overlap = _overlapping([(r[3], r[4]) for r in doc_rows])
        highest = 0
        for r, ov in zip(doc_rows, overlap):
            _, seq, rid, read_s, write_s = r
            out.append([doc, seq, rid, read_s, write_s, ov, seq < highest, seq not in final.get(doc, ())])
            highest = max(highest, seq)
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


def edit_summary(log, edits=None):
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

def deliver(lab, fn, route, workload, *, shards=2, parallelization_factor=1, **mapping_options):
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


def edit_documents(route="kinesis", shards=2, parallelization_factor=1, documents=DOCUMENTS, *,
                   edits=EDITS, rate_per_s=EDIT_RATE, handler=EDITOR_SOURCE, seed=1):
    """Send the same edits through one route and report what happened to them.

    ``shards`` and ``parallelization_factor`` apply to the Kinesis route only. Returns a
    dict: the settings, ``edit_summary`` counts, ``max_concurrency`` (invocations at once),
    ``log`` (``edit_log``), and for Kinesis ``max_iterator_age_s`` and ``iterator_age``
    (``iterator_age_series``; NaN and None for the queues)."""
    lab = lk.Lab(seed=seed)
    lab.dynamodb_table(TABLE)
    fn = _deploy(lab, handler)
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


def comparison_table(results):
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


def plot_edits(result, ax):
    """Every written edit as a mark: x = when it was written, y = its document. Blue dots
    were applied in order; orange triangles after a later edit of the same document;
    red crosses were erased by a concurrent write (lost)."""
    log = result["log"]
    c = STYLE["colors"]
    docs = sorted(set(log["doc"])) if len(log) else []
    row = {d: i for i, d in enumerate(docs)}
    y = log["doc"].map(row).to_numpy(float)
    x = log["write_s"].to_numpy(float)
    ok = ~(log["lost"] | log["out_of_order"]).to_numpy(bool)
    late = (log["out_of_order"] & ~log["lost"]).to_numpy(bool)
    lost = log["lost"].to_numpy(bool)
    ax.scatter(x[ok], y[ok], s=9, color=c["warm"], linewidths=0, label="applied in order")
    ax.scatter(x[late], y[late], s=22, marker="^", color=c["init"], linewidths=0,
               label="applied after a later edit")
    ax.scatter(x[lost], y[lost], s=26, marker="x", color=c["throttles"], linewidths=1.2,
               label="lost (overwritten)")
    ax.set_ylim(len(docs) - 0.5, -0.5)
    if len(docs) <= 12:
        ax.set_yticks(range(len(docs)))
        ax.set_yticklabels(docs)
    ax.set_xlim(0, max(1.0, float(x.max()) * 1.03) if len(x) else 1.0)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("document")
    ax.set_title(f"{ROUTE_LABELS[result['route']].split(',')[0]}: {result['lost']} lost, "
                 f"{result['out_of_order']} out of order, last write at {result['done_s']:.1f} s")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=7, frameon=False,
              handletextpad=0.3, columnspacing=1.0)
    return ax


def iterator_age_series(mapping, period_s=1.0, per_shard=False):
    """IteratorAge like CloudWatch's Maximum statistic: the largest age (seconds) reported by a
    batch that finished in each ``period_s``, for the whole mapping or (``per_shard``) per shard.
    Periods in which no batch finished are absent."""
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


def plot_iterator_age(mappings, ax=None, per_shard=False, t0=0.0, title="IteratorAge (maximum per second)",
                      marks=()):
    """IteratorAge over time: one line per entry of ``mappings`` (a dict label -> a Kinesis
    mapping or an ``iterator_age_series`` frame), or with ``per_shard`` one line per shard of
    each. ``marks`` are ``(time_s, label)`` pairs drawn as dotted vertical lines."""
    if not isinstance(mappings, dict):
        mappings = {"": mappings}
    with figure_style(ax is None):
        if ax is None:
            import matplotlib.pyplot as plt
            _, ax = plt.subplots(figsize=STYLE["figsize"], layout="constrained")
        palette = STYLE["functions"]
        k = 0
        for label, mapping in mappings.items():
            series = mapping if isinstance(mapping, pd.DataFrame) else iterator_age_series(mapping, per_shard=per_shard)
            for shard, g in series.groupby("shard_id", sort=True):
                name = " ".join(p for p in (label, shard if per_shard else "") if p) or "IteratorAge"
                ax.plot(g["period_start_s"] - t0, g["iterator_age_s"], color=palette[k % len(palette)], lw=1.6,
                        marker="o", ms=2.5, label=name)
                k += 1
        for t, text in marks:
            ax.axvline(t - t0, color=STYLE["colors"]["limit"], ls=":", lw=1.2, label=text)
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.set_title(title)
        ax.set_xlabel(TIME_LABEL)
        ax.set_ylabel("age of the batch's last record (s)")
        legend_outside(ax)
    return ax


# ---------------------------------------------------------------------------------------------
# A poison record
# ---------------------------------------------------------------------------------------------

POISON_EDITS = 300        # 30 s of edits at 10 per second ...
POISON_RATE = 10.0
POISON_SHARDS = 2         # ... on 2 shards
POISON_INDEX = 40         # the 41st edit (about 4 s in) is unreadable
POISON_RUN_S = 600        # how long a poison trial may run (a blocked shard would run for a day)
MAX_BLOCK_S = 120         # exercise 2: no good edit may wait longer than this
SETTING_NAMES = tuple(f for f in KinesisMappingConfig.__dataclass_fields__ if f != "starting_position")


def poison_workload(seed=1):
    """The poison scenario's edits: ``POISON_EDITS`` edits over ``DOCUMENTS`` documents, one unreadable."""
    return edit_workload(POISON_EDITS, DOCUMENTS, POISON_RATE, seed=seed, poison=POISON_INDEX)


ON_FAILURE_CHOICES = "a queue from lab.queue(...), True (a destination queue), or None (no destination)"


def mapping_settings(settings, failure_queue_name="edits-failed"):
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

    def __init__(self, lab, stream, mapping, run, failures, edits):
        self.lab, self.stream, self.mapping, self.run = lab, stream, mapping, run
        self.failures, self.edits = failures, edits

    @property
    def poison(self):
        return self.edits[self.edits["poison"]].iloc[0]

    @property
    def good(self):
        return self.edits[~self.edits["poison"]]

    def summary(self):
        """Where the good edits ended up (applied, sent to the destination, dropped, stuck when the
        trial stopped), what happened to the bad one, and the longest wait of an edit on its shard."""
        good, p = self.good, self.poison
        states = good["state"].value_counts()
        blocked = p["shard_id"]
        same_shard = good[good["shard_id"] == blocked]
        bad = {"failure_destination": "to destination", "pending": "stuck"}.get(p["state"], p["state"])
        return {
            "applied": int(states.get("succeeded", 0)),          # good edits only, in these four
            "to destination": int(states.get("failure_destination", 0)),
            "dropped": int(states.get("dropped", 0)),
            "stuck": int(states.get("pending", 0)),
            "bad edit": bad,
            "max wait (s)": round(float(same_shard["wait_s"].max()), 1) if len(same_shard) else 0.0,
        }

    def __repr__(self):
        return f"<PoisonTrial {self.summary()}>"


def records_in(stream, batch_info):
    """The edits a failure record's ``KinesisBatchInfo`` points at, read back from the stream
    (as a consumer would with a shard iterator AT_SEQUENCE_NUMBER, while retention lasts)."""
    shard = next(s for s in stream.shards if s.id == batch_info["shardId"])
    lo, hi = batch_info["startSequenceNumber"], batch_info["endSequenceNumber"]
    return [json.loads(r.data) for r in shard.records if lo <= r.sequence_number <= hi]


def poison_trial(settings=None, handler=EDITOR_SOURCE, *, handler_name="handler", until_s=POISON_RUN_S, seed=1):
    """Send ``poison_workload()`` through a 2-shard stream to the editor with the mapping
    ``settings`` (see ``mapping_settings``; None = AWS's defaults, with ``BATCH_SIZE``) and run
    for at most ``until_s`` seconds. ``handler`` is a function or its module's text (then
    ``handler_name`` names the entry point). Returns a ``PoisonTrial``."""
    opts = mapping_settings(settings or {})
    lab = lk.Lab(seed=seed)
    lab.dynamodb_table(TABLE)
    fn = _deploy(lab, handler, handler_name=handler_name)
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
            end = run.t1 if state == "pending" else t
            rows.append((edit["doc"], edit["seq"], not isinstance(edit["op"], dict), shard.id, r.arrival_s - t0,
                         state, reason, end - r.arrival_s))
    edits = pd.DataFrame(rows, columns=["doc", "seq", "poison", "shard_id", "arrival_s", "state", "reason", "wait_s"])
    edits = edits.sort_values("arrival_s", kind="stable").reset_index(drop=True)
    return PoisonTrial(lab, stream, mapping, run, opts.get("on_failure"), edits)


def describe_settings(settings):
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


def remedy_table(trials):
    """One row per ``(label, PoisonTrial)``: where the edits ended up."""
    return pd.DataFrame([{"settings": label, **t.summary()} for label, t in trials])


# ---------------------------------------------------------------------------------------------
# Exercise 1: partition key and shard count
# ---------------------------------------------------------------------------------------------

DESIGN_RATE = 600          # edits per second at the busiest hour ...
DESIGN_DOCUMENTS = 300     # ... over this many documents ...
DESIGN_RECORD_BYTES = 4000 # ... each edit's record this many bytes of JSON
DESIGN_SECONDS = 20        # the checker simulates this much of the busiest hour
DESIGN_FIELDS = ("doc", "seq", "user", "op")
MB = 1024 * 1024           # Kinesis's "1 MB" per second per shard is 1,048,576 bytes
DESIGN_PLACEHOLDER = {"partition_key": ..., "shard_count": ...}


def design_events(seed=1):
    """The busiest hour's edits (``DESIGN_SECONDS`` of it)."""
    return edit_events(DESIGN_RATE * DESIGN_SECONDS, DESIGN_DOCUMENTS, DESIGN_RATE, seed=seed,
                       record_bytes=DESIGN_RECORD_BYTES, users=500)


def _key_function(partition_key):
    if isinstance(partition_key, str):
        if partition_key not in DESIGN_FIELDS:
            raise InvalidParameterValueException(
                "partition_key", partition_key, f"the name of a field of an edit ({', '.join(DESIGN_FIELDS)}) "
                "or a function of the edit")
        return lambda edit: str(edit[partition_key])
    if callable(partition_key):
        return partition_key
    raise InvalidParameterValueException("partition_key", partition_key,
                                         "the name of a field of an edit, or a function of the edit")


def design_trial(design, seed=1):
    """Produce ``design_events()`` into a stream of ``design["shard_count"]`` shards with
    ``design["partition_key"]`` (a field name or a function of the edit). No consumer: this
    is about the writes. Returns ``(stream, keys)`` (the key of every edit, in order)."""
    if not isinstance(design, dict) or set(design) != {"partition_key", "shard_count"}:
        raise InvalidParameterValueException("design", design, 'a dict with the keys "partition_key" and "shard_count"')
    key_of = _key_function(design["partition_key"])
    events = design_events(seed)
    keys = [key_of(e) for _, e in events]
    lab = lk.Lab(seed=seed)
    stream = lab.kinesis_stream("edits", shard_count=design["shard_count"])
    for k in keys[:1]:
        stream.shard_for(k)    # validates the key as PutRecord does (a string of 1-256 characters)
    wl = lk.workload.replay([t for t, _ in events], [e for _, e in events])
    stream.produce(wl, key_of)
    lab.account.env.run(until=DESIGN_SECONDS + 1)
    return stream, keys


def _plural(n, one, many):
    return f"{n:,} {one if n == 1 else many}"


@checker(placeholder=DESIGN_PLACEHOLDER)
def check_design(answer):
    """Every put accepted at the busiest hour, and each document's edits in one shard, in order."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Fill in both values of the dict (replace each ...), run that cell, then check again.")
    try:
        stream, keys = design_trial(answer)
    except InvalidParameterValueException as e:
        return wrong(f"This design cannot run: {e}")
    events = design_events()
    if len(set(keys)) == 1:
        return wrong(f"Every edit got the same partition key ({keys[0]!r}), so every edit goes to the same shard, "
                     "however many shards the stream has: the other shards sit idle while that one is asked for "
                     "far more than one shard can take. Order per document holds, but only because nothing runs "
                     "in parallel at all.")
    shard_of = {}
    for (_, e), k in zip(events, keys):
        sid = stream.shard_for(k).id
        shard_of.setdefault(e["doc"], set()).add(sid)
    spread = {d: s for d, s in shard_of.items() if len(s) > 1}
    if spread:
        doc = max(sorted(spread), key=lambda d: len(spread[d]))
        n_edits = sum(1 for _, e in events if e["doc"] == doc)
        return wrong(f"The {n_edits} edits of {doc} went to {len(spread[doc])} different shards "
                     f"({len(spread)} of the {DESIGN_DOCUMENTS} documents are split like this). Each shard has its "
                     "own consumer, so two edits of one document can be applied at the same time and in either "
                     "order. Kinesis keeps order per partition key value: every edit of a document must get the "
                     "same key.")
    # Order as a consumer will see it: within each shard, every document's edits by increasing seq.
    for shard in stream.shards:
        last = {}
        for r in shard.records:
            e = json.loads(r.data)
            if e["seq"] <= last.get(e["doc"], 0):
                return wrong(f"In {shard.id}, edit {e['seq']} of {e['doc']} comes after a later edit of the same "
                             "document.")
            last[e["doc"]] = e["seq"]
    puts = stream.puts
    rejected = int((puts["outcome"] == "rejected").sum())
    n = len(stream.shards)
    if rejected:
        counts = puts.groupby("shard_id").size()
        share = float(counts.max()) / len(puts)
        per_shard = puts[puts["shard_id"] == counts.idxmax()]
        mb_s = per_shard["bytes"].sum() / DESIGN_SECONDS / MB
        rec_s = len(per_shard) / DESIGN_SECONDS
        limits = (f"A shard accepts at most {facts.KINESIS_SHARD_WRITE_RECORDS_PER_S:,} records/s and "
                  f"{facts.KINESIS_SHARD_WRITE_BYTES_PER_S / MB:g} MB/s "
                  f"({facts.KINESIS_SHARD_WRITE_BYTES_PER_S:,} bytes/s).")
        if n > 1 and share > 1.5 / n:
            return wrong(f"{_plural(rejected, 'put was', 'puts were')} rejected with "
                         f"ProvisionedThroughputExceededException. The load is uneven: one shard received "
                         f"{share:.0%} of the edits (about {rec_s:,.0f} records/s, {mb_s:.2f} MB/s), because your key "
                         f"has only {len(set(keys))} different values for {n} shards. {limits}")
        return wrong(f"{rejected:,} of {len(puts):,} puts were rejected with "
                     f"ProvisionedThroughputExceededException: the stream is too small for the busiest hour. "
                     f"The busiest shard was sent about {rec_s:,.0f} records/s and {mb_s:.2f} MB/s. {limits} "
                     "Check both limits.")
    need = max(DESIGN_RATE / facts.KINESIS_SHARD_WRITE_RECORDS_PER_S,
               DESIGN_RATE * DESIGN_RECORD_BYTES / facts.KINESIS_SHARD_WRITE_BYTES_PER_S)
    if n > 2 * math.ceil(need):
        return wrong(f"Every put was accepted and each document stays in one shard, but {n} shards is far more than "
                     "the busiest hour needs: a provisioned shard is billed by the hour whether it is busy or idle. "
                     "Work out what each of the two write limits requires and keep a little headroom.")
    counts = puts.groupby("shard_id").size()
    busiest = puts[puts["shard_id"] == counts.idxmax()]["bytes"].sum() / DESIGN_SECONDS
    return correct(f"All {len(puts):,} puts were accepted, and each document's edits stay in one shard, in order, "
                   f"so one consumer applies them one after another. The busiest of your {n} shards ran at "
                   f"{busiest / facts.KINESIS_SHARD_WRITE_BYTES_PER_S:.0%} of its byte limit.")


DESIGN_HINTS = (
    "Two questions. Which field must have the same value for every edit whose order matters? And how much "
    "does the busiest hour write per second, in records and in bytes?",
    f"Kinesis keeps order per partition key, so edits that must stay in order need the same key. A shard "
    f"accepts at most {facts.KINESIS_SHARD_WRITE_RECORDS_PER_S:,} records/s and 1 MB/s: divide the load by each "
    "limit and take the larger answer, rounded up.",
    f"The key is the document's id (\"doc\"). {DESIGN_RATE} edits/s is under one shard's record limit, but "
    f"{DESIGN_RATE} x {DESIGN_RECORD_BYTES:,} bytes is {DESIGN_RATE * DESIGN_RECORD_BYTES:,} bytes/s, "
    f"{DESIGN_RATE * DESIGN_RECORD_BYTES / MB:.2f} MB/s (Kinesis counts 1 MB as {MB:,} bytes). Keys are "
    "hashed, so shards are not loaded exactly evenly: keep a little headroom.",
)

_DESIGN_MB_S = DESIGN_RATE * DESIGN_RECORD_BYTES / MB
_R, _B = DESIGN_RATE, f"{DESIGN_RECORD_BYTES:,}"
DESIGN_SOLUTION = f'''
my_design = {{
    "partition_key": "doc",   # all edits of a document get the same key: one shard, in order
    "shard_count": 3,         # {_R} records/s fit in one shard, but {_R} x {_B} B = {_DESIGN_MB_S:.2f} MB/s
}}                             # needs 3 shards of 1 MB/s ({_DESIGN_MB_S / 2:.0%} of 2 shards' limit)
q1.check(my_design)
'''

design_exercise = Exercise("partition-design", check_design, hints=DESIGN_HINTS, solution=DESIGN_SOLUTION,
                           title="Partition key and shard count for the busiest hour")


# ---------------------------------------------------------------------------------------------
# Exercise 2: a poison record must neither block its shard nor disappear
# ---------------------------------------------------------------------------------------------

POISON_PLACEHOLDER = {}


def _gives_up(settings):
    """Whether these settings ever make Lambda give up on a failing record (before retention)."""
    return settings.get("maximum_retry_attempts", -1) >= 0 or settings.get("maximum_record_age_s", -1) >= 0


@checker(placeholder=POISON_PLACEHOLDER, not_attempted_message=(
    "Put your mapping settings in the dict (for example {\"batch_size\": 10, ...}), run that cell, "
    "then check again."))
def check_poison_settings(answer):
    """The shard moves on within MAX_BLOCK_S, the poison edit is kept in a failure destination,
    and every other edit is applied."""
    dest = answer.get("on_failure") if isinstance(answer, dict) else None
    if dest is not None and dest is not True and not isinstance(dest, DestinationQueue):
        return wrong(f"on_failure takes a queue from lab.queue(...) or True (both mean: a destination queue), "
                     f"or None for no destination; got {dest!r}.")
    try:
        opts = mapping_settings(answer)
    except InvalidParameterValueException as e:
        return wrong(f"Lambda would not accept these settings: {e}")
    except TypeError as e:
        return wrong(f"Lambda would not accept these settings: {e}")
    trial = poison_trial(answer)
    s = trial.summary()
    p = trial.poison
    has_dest = "on_failure" in opts
    minutes = POISON_RUN_S // 60
    if p["state"] == "pending":
        if not _gives_up(opts):
            if has_dest:
                return wrong(f"After {minutes} minutes the shard is still blocked: {s['stuck']} good "
                             "edits wait behind the bad one. A failure destination only receives records that Lambda "
                             "gives up on, and with these settings it never gives up: it retries until the record "
                             "leaves the stream, a day later.")
            return wrong(f"After {minutes} minutes the shard is still blocked: {s['stuck']} good edits "
                         "wait behind the bad one, and the IteratorAge keeps climbing. With these settings Lambda "
                         "retries the failing batch until the record leaves the stream, a day later.")
        return wrong(f"After {minutes} minutes the shard is still blocked: {s['stuck']} good edits wait "
                     "behind the bad one. Your settings do make Lambda give up in the end, but far too late.")
    lost_good = s["dropped"]
    if p["state"] == "dropped":
        extra = (f" So were {lost_good} good edits that shared its batch." if lost_good else "")
        return wrong("The shard moved on, but the bad edit was dropped: Lambda gave up on it and, with no failure "
                     f"destination, nothing records which edit it was, so no one can find or repair it.{extra}")
    if lost_good:
        return wrong(f"{lost_good} good edits were dropped without a trace: they shared a batch with the bad one "
                     "when Lambda gave up on it.")
    if s["to destination"]:
        good = trial.good
        aged = int(((good["state"] == "failure_destination") & (good["reason"] == "RecordAgeExceeded")).sum())
        if aged:
            return wrong(f"The bad edit is safe in the failure destination, but "
                         f"{_plural(aged, 'good edit', 'good edits')} went there too without ever being applied: they "
                         "were held up with the bad one until they were older than MaximumRecordAgeInSeconds, and "
                         "Lambda discards records that old, good or bad. "
                         "Make Lambda give up on the bad record sooner, and on that record alone.")
        return wrong(f"The bad edit is safe in the failure destination, but {s['to destination']} good edits "
                     "went there with it, because Lambda gave up on its whole batch: they were never applied. Find a "
                     "way for Lambda to narrow a failing batch down to the record that fails.")
    if s["stuck"]:
        return wrong(f"{s['stuck']} good edits were never applied.")
    if s["max wait (s)"] > MAX_BLOCK_S:
        return wrong(f"Nothing was lost, but the shard was blocked for {s['max wait (s)']:.0f} s: edits on that "
                     f"shard waited that long to be applied. Make Lambda give up on the bad record within "
                     f"{MAX_BLOCK_S // 60} minutes.")
    body = trial.failures.messages[0].body
    return correct(f"The bad edit ({p['doc']} #{p['seq']}) is in the failure destination "
                   f"(condition {body['requestContext']['condition']}), all {s['applied']} other edits were "
                   f"applied, and no edit waited more than {s['max wait (s)']:.0f} s.")


POISON_HINTS = (
    "Three things must happen: Lambda must stop retrying the bad record at some point, it must keep a note of "
    "it somewhere when it does, and it must not give up on the good records that share its batch.",
    "MaximumRetryAttempts or MaximumRecordAgeInSeconds decide when Lambda gives up; an on-failure destination "
    "(on_failure=lab.queue(...), or on_failure=True) is where it leaves a note of what it gave up on. What "
    "narrows a failing batch "
    "down to the one record that fails?",
    "Set bisect_batch_on_function_error=True: a failing batch is split in two and each half is tried on its own, "
    "again and again, until the bad record is alone. Splitting does not use up retries. Combine it with a small "
    "maximum_retry_attempts and an on_failure queue.",
)

POISON_SOLUTION = '''
my_settings = {
    "bisect_batch_on_function_error": True,   # split a failing batch until the bad record is alone
    "maximum_retry_attempts": 2,              # then give up on it after two retries ...
    "on_failure": lab.queue("edits-failed"),  # ... and leave its shard and sequence numbers here (True works too)
}
q2.check(my_settings)
'''

poison_exercise = Exercise("poison-record", check_poison_settings, hints=POISON_HINTS, solution=POISON_SOLUTION,
                           title="Unblock the shard without losing the bad edit")


__all__ = [
    "EDITOR_SOURCE", "REPORTING_EDITOR_SOURCE", "ROUTES", "ROUTE_LABELS", "KINESIS_ONLY", "edit_events", "edit_workload",
    "by_document", "edit_log", "edit_summary", "deliver", "edit_documents", "comparison_table", "plot_edits",
    "iterator_age_series", "plot_iterator_age", "poison_workload", "mapping_settings", "PoisonTrial",
    "records_in", "poison_trial", "describe_settings", "remedy_table", "design_events", "design_trial",
    "check_design", "design_exercise", "check_poison_settings", "poison_exercise",
]
