"""Lesson 03 (throttling per event-source type): the experiments.

Pure functions behind the notebook's experiments and its widget:

* ``run_overload`` sends the *same* overload to one function code reached four
  ways (a synchronous caller, an asynchronous caller, a Kinesis stream, an SQS
  queue), each in a fresh Lab with the same seed, so every source sees exactly
  the same arrivals. ``outcome_table`` compares what happened to every event:
  processed, lost, how long it waited.
* ``sdk_retry_table``: the synchronous caller again, without and with SDK retries.
* ``scaling_models``: a flash sale against today's per-function scaling rate and
  the account-level model used before Nov 2023.
* ``noisy_neighbour`` / ``function_table``: two functions sharing a small account.
* ``source_outcomes``: the widget (sliders -> shares).

The handler modules are files in ``handlers/`` (``WORKER_SOURCE``, ... are their texts).
Every function builds its own seeded Lab(s), so results repeat exactly.
"""

from __future__ import annotations

import functools
import json
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import labkit as lk
from labkit import facts, metrics
from labkit.errors import InvalidParameterValueException
from labkit.lab import Lab
from labkit.records import SUCCEEDED, SUCCESS, THROTTLED
from labkit.retry import SdkRetry
from labkit.run import Run
from labkit.workload import Workload

from .handlers import CHECKOUT_SOURCE, FLASH_SALE_SOURCE, REPORT_SOURCE, WORKER_SOURCE

if TYPE_CHECKING:
    from labkit.runtime import Function

# A handler: a ``def handler(event, context)`` function (its notebook cell is its module), or a module's text.
Handler = Callable[..., Any] | str

SOURCE_TYPES = ("synchronous", "asynchronous", "Kinesis", "SQS")
WHAT_THE_CALLER_GETS = {"synchronous": "200 or 429", "asynchronous": "202 Accepted",
                        "Kinesis": "PutRecord OK", "SQS": "SendMessage OK"}

RESERVED = 10          # the worker's reserved concurrency in the comparison
OVERLOAD_RATE = 30     # orders per second ...
OVERLOAD_SECONDS = 10  # ... for this long: 300 orders, three times what 10 environments can do
SHARDS = 4
VISIBILITY_TIMEOUT_S = facts.SQS_DEFAULT_VISIBILITY_TIMEOUT_S   # the default; also 6 x the worker's timeout,
                                                                # as AWS recommends
WORKER_TIMEOUT_S = 5
LATE_AFTER_S = 1.0     # an event that waited longer than this before it ran was "delayed"


def overload(rate_per_s: float = OVERLOAD_RATE, seconds: float = OVERLOAD_SECONDS) -> Workload:
    """The overload every source type receives: evenly spaced orders ``{"n": i}``."""
    return lk.workload.constant(rate_per_s, seconds)


def deploy(lab: Lab, code: Handler, default_handler: str, **config: Any) -> Function:
    """Deploy ``code`` (a handler function, or its module's text, whose entry point is
    ``default_handler``) in ``lab``."""
    if isinstance(code, str):
        return lab.function(source=textwrap.dedent(code), handler_name=default_handler, **config)
    return lab.function(code, **config)


def _partition_key(payload):
    # One key per order, so records spread over every shard.
    if isinstance(payload, dict) and "n" in payload:
        return f"order-{payload['n']}"
    return json.dumps(payload, sort_keys=True, default=str)[:256] or "order"


# ---------------------------------------------------------------------------------------------
# The same overload, four callers
# ---------------------------------------------------------------------------------------------

class SourceRun:
    """One source type's experiment: its Run, its objects and one row per event.

    ``events`` columns (seconds since the first order was sent): ``sent_s``;
    ``start_s`` when the invocation that processed it started (NaN if none did);
    ``done_s`` when it reached its final state; ``state`` (see the Ledger).
    """

    def __init__(self, source: str, run: Run, function: Function, events: pd.DataFrame, stream: Any = None,
                 queue: Any = None, mapping: Any = None) -> None:
        self.source, self.run, self.function, self.events = source, run, function, events
        self.stream, self.queue, self.mapping = stream, queue, mapping

    def __repr__(self) -> str:
        return f"<SourceRun {self.source}: {len(self.events)} events, {self.run!r}>"


def run_overload(handler: Handler = WORKER_SOURCE, *, workload: Workload | None = None,
                 reserved_concurrency: int | None = RESERVED, timeout_s: float = WORKER_TIMEOUT_S,
                 shards: int = SHARDS, batch_size: int = 1, sqs_maximum_concurrency: int | None = None,
                 visibility_timeout_s: float = VISIBILITY_TIMEOUT_S, retry: SdkRetry | None = None, seed: int = 1,
                 sources: Iterable[str] = SOURCE_TYPES) -> dict[str, SourceRun]:
    """Send ``workload`` (default: ``overload()``) to ``handler`` through each of ``sources``.

    Each source type gets a fresh ``Lab(seed=seed)`` and its own copy of the function
    (``reserved_concurrency``), so all of them see identical arrival times. Returns
    ``{source: SourceRun}`` in the order of ``sources``."""
    workload = overload() if workload is None else workload
    unknown = [s for s in sources if s not in SOURCE_TYPES]
    if unknown:
        raise InvalidParameterValueException("sources", unknown, f"names from {SOURCE_TYPES}")
    out = {}
    for source in sources:
        lab = Lab(seed=seed)
        fn = deploy(lab, handler, "handler", name=f"worker-{source.lower()}",
                     reserved_concurrency=reserved_concurrency, timeout_s=timeout_s)
        if source == "synchronous":
            run = lab.invoke(fn, workload, retry=retry)
            out[source] = SourceRun(source, run, fn, _sync_events(run))
        elif source == "asynchronous":
            run = lab.invoke_async(fn, workload)
            out[source] = SourceRun(source, run, fn, _async_events(run))
        elif source == "Kinesis":
            stream = lab.kinesis_stream("orders", shards)
            mapping = lab.event_source_mapping(fn, stream, batch_size=batch_size)
            run = lab.send(stream, workload, partition_key=_partition_key)
            out[source] = SourceRun(source, run, fn, _kinesis_events(run, stream, mapping), stream=stream,
                                    mapping=mapping)
        else:
            queue = lab.sqs_queue("orders", visibility_timeout_s=visibility_timeout_s)
            mapping = lab.event_source_mapping(fn, queue, batch_size=batch_size,
                                               maximum_concurrency=sqs_maximum_concurrency)
            run = lab.send(queue, workload)
            out[source] = SourceRun(source, run, fn, _sqs_events(run, queue, mapping), queue=queue,
                                    mapping=mapping)
    return out


_EVENT_COLUMNS = ["event_id", "sent_s", "start_s", "done_s", "state"]


def _frame(rows, t0):
    df = pd.DataFrame(rows, columns=_EVENT_COLUMNS)
    for c in ("sent_s", "start_s", "done_s"):
        df[c] = df[c].astype(float) - t0
    return df


def _success_starts(run):
    inv = run.invocations
    ok = inv[inv["outcome"] == SUCCESS]
    return dict(zip(ok["event_id"], ok["start_s"], strict=True))


def _sync_events(run):
    inv = run.invocations
    sent = inv.groupby("event_id")["arrival_s"].min()
    starts = _success_starts(run)
    ev = run.events
    rows = [(e, sent[e], starts.get(e, math.nan), t, s)
            for e, s, t in zip(ev["event_id"], ev["state"], ev["time_s"], strict=True)]
    return _frame(rows, run.t0)


def _async_events(run):
    ae = run.async_events
    starts = _success_starts(run)
    rows = [(e, r, starts.get(e, math.nan), f, s)
            for e, r, f, s in zip(ae["event_id"], ae["received_s"], ae["finished_s"], ae["state"], strict=True)]
    return _frame(rows, run.t0)


def _kinesis_events(run, stream, mapping):
    b = mapping.batches
    ok = b[b["outcome"] == SUCCESS]
    # Successful batches per shard as sequence ranges (fixed-width numbers compare as strings).
    ranges = {}
    for shard, first, last, t in zip(ok["shard_id"], ok["first_sequence"], ok["last_sequence"], ok["invoked_s"],
                                     strict=True):
        ranges.setdefault(shard, []).append((first, last, t))
    for v in ranges.values():
        v.sort()
    rows = []
    for r in stream.records.itertuples(index=False):
        start = math.nan
        for first, last, t in ranges.get(r.shard_id, ()):
            if first <= r.sequence_number <= last:
                start = t
                break
        done = r.settled_s if r.settled_s is not None else math.nan
        rows.append((r.record_id, r.arrival_s, start, done, r.state))
    return _frame(rows, run.t0)


def _sqs_events(run, queue, mapping):
    start_of = mapping.processing_starts()
    st = queue.states()
    rows = [(k, s, start_of.get(m, math.nan), math.nan if d is None else d, state)
            for m, k, s, d, state in zip(st["message_id"], st["ledger_key"], st["sent_s"], st["settled_s"],
                                          st["state"], strict=True)]
    return _frame(rows, run.t0)


def outcome_table(results: Mapping[str, SourceRun], late_after_s: float = LATE_AFTER_S) -> pd.DataFrame:
    """One row per entry of ``results`` (labelled by its key): what the caller got, and what
    became of every event.

    ``processed``: a function invocation handled it. ``not processed``: it ended in any
    other state (an error for the caller, dropped, a destination) or is still pending.
    ``delayed``: processed, but only more than ``late_after_s`` after it was sent.
    ``max wait``: the longest time from sent to processing. ``Throttles``: the
    metric (every throttled attempt). ``all done``: when the last event was settled.
    """
    rows = []
    for source, res in results.items():
        ev = res.events
        processed = ev["state"] == SUCCEEDED
        wait = (ev["start_s"] - ev["sent_s"])[processed]
        s = res.run.summary()
        got = WHAT_THE_CALLER_GETS[res.source]
        if res.source == "synchronous":
            errors = int((~processed).sum())
            got = f"429 for {errors}" if errors else "200 for all"
        rows.append({
            "source": source, "caller got": got, "sent": len(ev), "processed": int(processed.sum()),
            "not processed": int((~processed).sum()), "delayed": int((wait > late_after_s).sum()),
            "max wait (s)": round(float(wait.max()), 1) if len(wait) else math.nan,
            "Throttles": s["throttles"], "peak concurrency": s["max_concurrency"],
            "all done (s)": round(float(ev["done_s"].max()), 1) if len(ev) else math.nan,
        })
    return pd.DataFrame(rows)


def waiting_metrics(results: Mapping[str, SourceRun]) -> pd.DataFrame:
    """Per source type, the CloudWatch metric that shows events waiting, and its largest value (s).

    Asynchronous: ``AsyncEventAge`` (time in Lambda's queue before an attempt). Kinesis:
    ``IteratorAge`` (age of a batch's last record when the batch finished). SQS:
    ``ApproximateAgeOfOldestMessage`` (sampled each second). A synchronous call never waits."""
    rows = []
    for source, res in results.items():
        if source == "synchronous":
            rows.append({"source": source, "metric that shows the wait": "- (nothing waits: watch Throttles)",
                         "largest value (s)": math.nan})
        elif source == "asynchronous":
            m = res.run.metrics(1.0)
            rows.append({"source": source, "metric that shows the wait": "AsyncEventAge",
                         "largest value (s)": round(float(np.nanmax(m["AsyncEventAgeMax_ms"])) / 1000, 1)})
        elif source == "Kinesis":
            age = res.mapping.iterator_age["iterator_age_ms"]
            rows.append({"source": source, "metric that shows the wait": "IteratorAge",
                         "largest value (s)": round(float(age.max()) / 1000, 1)})
        else:
            m = res.queue.metrics(1.0, t0=res.run.t0, t1=res.run.t1)
            rows.append({"source": source, "metric that shows the wait": "ApproximateAgeOfOldestMessage",
                         "largest value (s)": round(float(m["ApproximateAgeOfOldestMessage"].max()), 1)})
    return pd.DataFrame(rows)


def waiting_steps(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Events waiting over time: sent, but neither processing nor settled yet. Returns (t, n)."""
    end = events["start_s"].where(events["start_s"].notna(), events["done_s"]).to_numpy(float)
    sent = events["sent_s"].to_numpy(float)
    end = np.where(np.isnan(end), np.inf, end)
    times = np.concatenate([sent, end])
    deltas = np.concatenate([np.ones(len(sent)), -np.ones(len(end))])
    order = np.lexsort((deltas, times))
    t, level = times[order], np.cumsum(deltas[order])
    keep = np.isfinite(t)
    return np.concatenate([[0.0], t[keep]]), np.concatenate([[0.0], level[keep]])


def lost_steps(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Events that ended unprocessed, cumulatively over time. Returns (t, n)."""
    done = np.sort(events.loc[events["state"] != SUCCEEDED, "done_s"].dropna().to_numpy(float))
    return np.concatenate([[0.0], done]), np.arange(len(done) + 1, dtype=float)


# ---------------------------------------------------------------------------------------------
# SDK retries
# ---------------------------------------------------------------------------------------------

RETRY_POLICIES = (("no retries", None), ("SDK standard (3 attempts)", SdkRetry()),
                  ("SDK legacy (5 attempts)", SdkRetry.legacy()))


def sdk_retry_table(handler: Handler = WORKER_SOURCE, *, workload: Workload | None = None,
                    reserved_concurrency: int | None = RESERVED, seed: int = 1) -> pd.DataFrame:
    """The synchronous caller under each retry policy: calls that still failed, the attempts
    Lambda saw (Invocations + Throttles) and how long the successful calls took the caller
    (from its first attempt to the answer, retries' waits included)."""
    rows = []
    for label, retry in RETRY_POLICIES:
        res = run_overload(handler, workload=workload, reserved_concurrency=reserved_concurrency, retry=retry,
                           seed=seed, sources=("synchronous",))["synchronous"]
        ev = res.events
        ok = ev["state"] == SUCCEEDED
        took = (ev["done_s"] - ev["sent_s"])[ok]
        s = res.run.summary()
        rows.append({"client": label, "calls": len(ev), "failed calls": int((~ok).sum()),
                     "Invocations": s["invocations"], "Throttles": s["throttles"],
                     "p50 call (s)": round(float(took.median()), 2), "slowest call (s)": round(float(took.max()), 2)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# A burst against the scaling rate
# ---------------------------------------------------------------------------------------------


SCALING_MODELS: tuple[tuple[str, dict[str, str]], ...] = (
    ("per function (since Nov 2023)", dict()),
    ("account, us-east-1 (before)", dict(scaling_model="legacy-account", region="us-east-1")),
    ("account, eu-central-1 (before)", dict(scaling_model="legacy-account", region="eu-central-1")),
)


def scaling_models(handler: Handler = FLASH_SALE_SOURCE, *, rate_per_s: float = 400, seconds: float = 20,
                   concurrency_limit: int = 5000, seed: int = 1) -> dict[str, Run]:
    """A flash sale (``rate_per_s`` for ``seconds``) against one unreserved function in an
    account whose concurrency limit is raised to ``concurrency_limit``, under each scaling
    model. Returns ``{label: Run}``."""
    out = {}
    for label, options in SCALING_MODELS:
        lab = Lab(seed=seed, concurrency_limit=concurrency_limit, **options)
        fn = deploy(lab, handler, "handler", name="flash-sale", timeout_s=10)
        out[label] = lab.invoke(fn, lk.workload.constant(rate_per_s, seconds))
    return out


def scaling_table(runs: Mapping[str, Run]) -> pd.DataFrame:
    """Per scaling model: requests, throttles, peak concurrency, first throttle (s)."""
    rows = []
    for label, run in runs.items():
        inv = run.invocations
        thr = inv[inv["outcome"] == THROTTLED]
        s = run.summary()
        rows.append({"scaling model": label, "requests": s["calls"], "Throttles": s["throttles"],
                     "peak concurrency": s["max_concurrency"],
                     "first throttle (s)": round(float(thr["start_s"].min() - run.t0), 2) if len(thr) else math.nan})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The noisy neighbour
# ---------------------------------------------------------------------------------------------

NEIGHBOUR_ACCOUNT_LIMIT = 200   # a scaled-down account: everything else stays as on AWS
CHECKOUT_RATE = 40              # orders per second, Poisson arrivals, for ...
CHECKOUT_SECONDS = 60
REPORT_PAGES = 1000             # report-builder's fan-out: this many pages ...
REPORT_AT_S, REPORT_SPREAD_S = 15.0, 20.0   # ... sent from t = 15 s, over 20 s
DAYS = (1, 2, 3)


def checkout_traffic() -> Workload:
    """Checkout's traffic: Poisson orders at ``CHECKOUT_RATE`` for ``CHECKOUT_SECONDS``."""
    return lk.workload.poisson(CHECKOUT_RATE, CHECKOUT_SECONDS)


def report_traffic() -> Workload:
    """report-builder's fan-out: ``REPORT_PAGES`` pages from ``REPORT_AT_S``, over ``REPORT_SPREAD_S``."""
    return lk.workload.burst(REPORT_PAGES, at_s=REPORT_AT_S, spread_s=REPORT_SPREAD_S)


def noisy_neighbour(checkout_reserved: int | None = None, *, day: int = 1, neighbour: bool = True,
                    checkout: Handler = CHECKOUT_SOURCE, report: Handler = REPORT_SOURCE) -> Run:
    """One minute of ``checkout`` traffic on ``day`` (the seed) in an account of
    ``NEIGHBOUR_ACCOUNT_LIMIT`` concurrency, with ``report-builder`` fanning out at the
    same time (unless ``neighbour=False``). ``checkout_reserved`` is checkout's reserved
    concurrency (None: it shares the unreserved pool). Returns the Run."""
    lab = Lab(seed=day, concurrency_limit=NEIGHBOUR_ACCOUNT_LIMIT)
    co = deploy(lab, checkout, "checkout", name="checkout", reserved_concurrency=checkout_reserved, timeout_s=3)
    traffic = [(co, checkout_traffic())]
    if neighbour:
        rb = deploy(lab, report, "report_builder", name="report-builder", timeout_s=30)
        traffic.append((rb, report_traffic()))
    return lab.simulate(traffic)


def function_table(run: Run) -> pd.DataFrame:
    """Per function of ``run``: requests, throttles, peak concurrency, reserved concurrency."""
    inv = run.invocations
    rows = []
    for fn in run.functions:
        d = inv[inv["function"] == fn.name]
        r = fn.config.reserved_concurrency
        rows.append({"function": fn.name, "reserved": "-" if r is None else r, "requests": int(d["event_id"].nunique()),
                     "Throttles": int((d["outcome"] == THROTTLED).sum()),
                     "peak concurrency": metrics.max_concurrency(d)})
    return pd.DataFrame(rows)


@functools.cache
def checkout_peak(day: int) -> int:
    """Checkout's peak concurrency on ``day`` when it runs alone (the measurement learners make)."""
    run = noisy_neighbour(day=day, neighbour=False)
    return int(function_table(run)["peak concurrency"].iloc[0])


# ---------------------------------------------------------------------------------------------
# Widget: reserved concurrency and burst size -> outcome shares per source type
# ---------------------------------------------------------------------------------------------

WIDGET_SPREAD_S = 5.0


def source_outcomes(reserved_concurrency: int | None = 10, burst: int = 100,
                    handler: Handler = WORKER_SOURCE) -> pd.DataFrame:
    """``burst`` orders sent over ``WIDGET_SPREAD_S`` seconds to the worker with
    ``reserved_concurrency``, through each source type. Returns a DataFrame with, per
    source, the share of events processed promptly (waited at most ``LATE_AFTER_S``),
    processed late, and not processed, plus the longest wait."""
    results = run_overload(handler, workload=lk.workload.burst(burst, spread_s=WIDGET_SPREAD_S),
                           reserved_concurrency=reserved_concurrency)
    rows = []
    for source, res in results.items():
        ev = res.events
        ok = ev["state"] == SUCCEEDED
        wait = (ev["start_s"] - ev["sent_s"])[ok]
        n = max(len(ev), 1)
        rows.append({"source": source, "promptly": int((wait <= LATE_AFTER_S).sum()) / n,
                     "late": int((wait > LATE_AFTER_S).sum()) / n, "not processed": int((~ok).sum()) / n,
                     "max wait (s)": round(float(wait.max()), 1) if len(wait) else 0.0})
    return pd.DataFrame(rows)
