"""Lesson 03 support: throttling per event-source type.

Pure functions behind the notebook's experiments, its widget and its exercises:

* ``run_overload`` sends the *same* overload to one function code reached four
  ways (a synchronous caller, an asynchronous caller, a Kinesis stream, an SQS
  queue), each in a fresh Lab with the same seed, so every source sees exactly
  the same arrivals. ``outcome_table`` and ``plot_overload`` compare what
  happened to every event: processed, lost, how long it waited.
* ``sdk_retry_table``: the synchronous caller again, without and with SDK retries.
* ``scaling_models`` / ``plot_scaling_models``: a flash sale against today's
  per-function scaling rate and the account-level model used before Nov 2023.
* ``noisy_neighbour`` / ``function_table``: two functions sharing a small account.
* ``source_outcomes`` / ``plot_source_outcomes``: the widget (sliders -> shares).
* Exercise 1 (``async_exercise``): an asynchronous configuration that loses no event silently.
  Exercise 2 (``reserve_exercise``): reserved concurrency that shields a critical function.

Every function builds its own seeded Lab(s), so results repeat exactly.
"""

import functools
import json
import math
import textwrap

import numpy as np
import pandas as pd

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException
from labkit.exercises import Exercise, checker, correct, not_attempted, wrong
from labkit.plots import STYLE, figure_style, legend_outside

# ---------------------------------------------------------------------------------------------
# Handler modules (the notebook shows the same code in cells of their own)
# ---------------------------------------------------------------------------------------------

WORKER_SOURCE = '''\
import labkit as lk

WORK_PER_EVENT_S = 1.0   # one second of work for each order


def handler(event, context):
    # A batch from Kinesis or SQS carries "Records"; a direct call carries one order.
    records = event.get("Records", [event])
    lk.sleep(WORK_PER_EVENT_S * len(records))
    return {"processed": len(records)}
'''

CHECKOUT_SOURCE = '''\
import labkit as lk


def checkout(event, context):
    lk.sleep(0.5)   # price the basket and charge the card
    return {"order": event["n"], "status": "paid"}
'''

REPORT_SOURCE = '''\
import labkit as lk


def report_builder(event, context):
    lk.sleep(10)   # rebuild one page of the monthly sales report
    return {"page": event["n"]}
'''

RECEIPT_SOURCE = '''\
import random

import labkit as lk


def handler(event, context):
    if "email" not in event:
        raise ValueError(f"order {event['order']} has no e-mail address")
    lk.sleep(0.5)   # talk to the mail provider
    if random.random() < 0.1:   # the provider is sometimes too busy
        raise ConnectionError("421 mail server busy, try again later")
    return {"sent_to": event["email"]}
'''

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


def overload(rate_per_s=OVERLOAD_RATE, seconds=OVERLOAD_SECONDS):
    """The overload every source type receives: evenly spaced orders ``{"n": i}``."""
    return lk.workload.constant(rate_per_s, seconds)


def _deploy(lab, code, default_handler, **config):
    """Deploy ``code`` (a handler function, or its module's text) in ``lab``."""
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

    def __init__(self, source, run, function, events, stream=None, queue=None, mapping=None):
        self.source, self.run, self.function, self.events = source, run, function, events
        self.stream, self.queue, self.mapping = stream, queue, mapping

    def __repr__(self):
        return f"<SourceRun {self.source}: {len(self.events)} events, {self.run!r}>"


def run_overload(handler=WORKER_SOURCE, *, workload=None, reserved_concurrency=RESERVED,
                 timeout_s=WORKER_TIMEOUT_S, shards=SHARDS, batch_size=1, sqs_maximum_concurrency=None,
                 visibility_timeout_s=VISIBILITY_TIMEOUT_S, retry=None, seed=1, sources=SOURCE_TYPES):
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
        lab = lk.Lab(seed=seed)
        fn = _deploy(lab, handler, "handler", name=f"worker-{source.lower()}",
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
    ok = inv[inv["outcome"] == "success"]
    return dict(zip(ok["event_id"], ok["start_s"]))


def _sync_events(run):
    inv = run.invocations
    sent = inv.groupby("event_id")["arrival_s"].min()
    starts = _success_starts(run)
    ev = run.events
    rows = [(e, sent[e], starts.get(e, math.nan), t, s) for e, s, t in zip(ev["event_id"], ev["state"], ev["time_s"])]
    return _frame(rows, run.t0)


def _async_events(run):
    ae = run.async_events
    starts = _success_starts(run)
    rows = [(e, r, starts.get(e, math.nan), f, s)
            for e, r, f, s in zip(ae["event_id"], ae["received_s"], ae["finished_s"], ae["state"])]
    return _frame(rows, run.t0)


def _kinesis_events(run, stream, mapping):
    b = mapping.batches
    ok = b[b["outcome"] == "success"]
    # Successful batches per shard as sequence ranges (fixed-width numbers compare as strings).
    ranges = {}
    for shard, first, last, t in zip(ok["shard_id"], ok["first_sequence"], ok["last_sequence"], ok["invoked_s"]):
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
                                          st["state"])]
    return _frame(rows, run.t0)


def outcome_table(results, late_after_s=LATE_AFTER_S):
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
        processed = ev["state"] == "succeeded"
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


def waiting_metrics(results):
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


def waiting_steps(events):
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


def lost_steps(events):
    """Events that ended unprocessed, cumulatively over time. Returns (t, n)."""
    done = np.sort(events.loc[events["state"] != "succeeded", "done_s"].dropna().to_numpy(float))
    return np.concatenate([[0.0], done]), np.arange(len(done) + 1, dtype=float)


def plot_overload(results, reserved_concurrency=RESERVED):
    """Side by side, one column per source type: events waiting and events lost (top),
    invocations in flight against the reserved concurrency (bottom). Shared axes."""
    import matplotlib.pyplot as plt
    n = len(results)
    c = STYLE["colors"]
    t_end = max(float(r.events["done_s"].max()) for r in results.values()) * 1.03
    with figure_style(True):
        fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 5.6), sharex=True, sharey="row",
                                 layout="constrained", squeeze=False)
        for k, (source, res) in enumerate(results.items()):
            top, bottom = axes[0, k], axes[1, k]
            t, w = waiting_steps(res.events)
            top.fill_between(np.append(t, t_end), np.append(w, w[-1]), step="post",
                             color=c["idle"], alpha=0.45, lw=0, label="events waiting")
            t, lost = lost_steps(res.events)
            top.step(np.append(t, t_end), np.append(lost, lost[-1]), where="post", color=c["throttles"],
                     lw=1.8, label="events not processed (total)")
            top.set_title(f"{source}\n{WHAT_THE_CALLER_GETS[source]}", fontsize=10)
            steps = res.run.concurrency()
            x = np.concatenate([[0.0], steps["time_s"].to_numpy(float) - res.run.t0, [t_end]])
            y = np.concatenate([[0], steps["concurrency"].to_numpy(int),
                                [steps["concurrency"].iloc[-1] if len(steps) else 0]])
            bottom.step(x, y, where="post", color=c["invocations"], lw=1.4, label="invocations in flight")
            bottom.axhline(reserved_concurrency, color=c["limit"], ls="--", lw=1.0,
                           label=f"reserved concurrency = {reserved_concurrency}")
            bottom.set_xlabel("seconds since the first order")
            bottom.set_xlim(0, t_end)
        axes[0, 0].set_ylabel("events")
        axes[1, 0].set_ylabel("concurrent executions")
        axes[1, 0].set_ylim(0, max(reserved_concurrency, 1) * 1.3)
        legend_outside(axes[0, -1])
        legend_outside(axes[1, -1])
        fig.suptitle("The same overload, four callers", fontsize=12)
    return axes


# ---------------------------------------------------------------------------------------------
# SDK retries
# ---------------------------------------------------------------------------------------------

RETRY_POLICIES = (("no retries", None), ("SDK standard (3 attempts)", lk.SdkRetry()),
                  ("SDK legacy (5 attempts)", lk.SdkRetry.legacy()))


def sdk_retry_table(handler=WORKER_SOURCE, *, workload=None, reserved_concurrency=RESERVED, seed=1):
    """The synchronous caller under each retry policy: calls that still failed, the attempts
    Lambda saw (Invocations + Throttles) and how long the successful calls took the caller
    (from its first attempt to the answer, retries' waits included)."""
    rows = []
    for label, retry in RETRY_POLICIES:
        res = run_overload(handler, workload=workload, reserved_concurrency=reserved_concurrency, retry=retry,
                           seed=seed, sources=("synchronous",))["synchronous"]
        ev = res.events
        ok = ev["state"] == "succeeded"
        took = (ev["done_s"] - ev["sent_s"])[ok]
        s = res.run.summary()
        rows.append({"client": label, "calls": len(ev), "failed calls": int((~ok).sum()),
                     "Invocations": s["invocations"], "Throttles": s["throttles"],
                     "p50 call (s)": round(float(took.median()), 2), "slowest call (s)": round(float(took.max()), 2)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# A burst against the scaling rate
# ---------------------------------------------------------------------------------------------

FLASH_SALE_SOURCE = '''\
import labkit as lk


def handler(event, context):
    lk.sleep(5)   # five seconds per request
    return {"ok": True}
'''

SCALING_MODELS = (
    ("per function (since Nov 2023)", dict()),
    ("account, us-east-1 (before)", dict(scaling_model="legacy-account", region="us-east-1")),
    ("account, eu-central-1 (before)", dict(scaling_model="legacy-account", region="eu-central-1")),
)


def scaling_models(handler=FLASH_SALE_SOURCE, *, rate_per_s=400, seconds=20, concurrency_limit=5000, seed=1):
    """A flash sale (``rate_per_s`` for ``seconds``) against one unreserved function in an
    account whose concurrency limit is raised to ``concurrency_limit``, under each scaling
    model. Returns ``{label: Run}``."""
    out = {}
    for label, options in SCALING_MODELS:
        lab = lk.Lab(seed=seed, concurrency_limit=concurrency_limit, **options)
        fn = _deploy(lab, handler, "handler", name="flash-sale", timeout_s=10)
        out[label] = lab.invoke(fn, lk.workload.constant(rate_per_s, seconds))
    return out


def scaling_table(runs):
    """Per scaling model: requests, throttles, peak concurrency, first throttle (s)."""
    rows = []
    for label, run in runs.items():
        inv = run.invocations
        thr = inv[inv["outcome"] == "throttled"]
        s = run.summary()
        rows.append({"scaling model": label, "requests": s["calls"], "Throttles": s["throttles"],
                     "peak concurrency": s["max_concurrency"],
                     "first throttle (s)": round(float(thr["start_s"].min() - run.t0), 2) if len(thr) else math.nan})
    return pd.DataFrame(rows)


def plot_scaling_models(runs, period_s=1.0):
    """Concurrency (top) and throttles per second (bottom), one line per scaling model."""
    import matplotlib.pyplot as plt
    palette = STYLE["functions"]
    with figure_style(True):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(STYLE["figsize"][0], 6.4), sharex=True,
                                          layout="constrained")
        for k, (label, run) in enumerate(runs.items()):
            color = palette[k % len(palette)]
            steps = run.concurrency()
            x = np.concatenate([[0.0], steps["time_s"].to_numpy(float) - run.t0])
            y = np.concatenate([[0], steps["concurrency"].to_numpy(int)])
            top.step(x, y, where="post", color=color, lw=1.6, label=label)
            m = run.metrics(period_s)
            bottom.step(m["period_start_s"] - run.t0, m["Throttles"], where="post", color=color, lw=1.6,
                        label=label)
        top.set_title("Invocations in flight")
        top.set_ylabel("concurrent executions")
        bottom.set_title(f"Throttles per {period_s:g} s")
        bottom.set_ylabel("throttled requests")
        bottom.set_xlabel("seconds since the sale started")
        legend_outside(top)
        legend_outside(bottom)
    return top, bottom


# ---------------------------------------------------------------------------------------------
# The noisy neighbour
# ---------------------------------------------------------------------------------------------

NEIGHBOUR_ACCOUNT_LIMIT = 200   # a scaled-down account: everything else stays as on AWS
CHECKOUT_RATE = 40              # orders per second, Poisson arrivals, for ...
CHECKOUT_SECONDS = 60
REPORT_PAGES = 1000             # report-builder's fan-out: this many pages ...
REPORT_AT_S, REPORT_SPREAD_S = 15.0, 20.0   # ... sent from t = 15 s, over 20 s
DAYS = (1, 2, 3)


def checkout_traffic():
    return lk.workload.poisson(CHECKOUT_RATE, CHECKOUT_SECONDS)


def report_traffic():
    return lk.workload.burst(REPORT_PAGES, at_s=REPORT_AT_S, spread_s=REPORT_SPREAD_S)


def noisy_neighbour(checkout_reserved=None, *, day=1, neighbour=True, checkout=CHECKOUT_SOURCE,
                    report=REPORT_SOURCE):
    """One minute of ``checkout`` traffic on ``day`` (the seed) in an account of
    ``NEIGHBOUR_ACCOUNT_LIMIT`` concurrency, with ``report-builder`` fanning out at the
    same time (unless ``neighbour=False``). ``checkout_reserved`` is checkout's reserved
    concurrency (None: it shares the unreserved pool). Returns the Run."""
    lab = lk.Lab(seed=day, concurrency_limit=NEIGHBOUR_ACCOUNT_LIMIT)
    co = _deploy(lab, checkout, "checkout", name="checkout", reserved_concurrency=checkout_reserved, timeout_s=3)
    traffic = [(co, checkout_traffic())]
    if neighbour:
        rb = _deploy(lab, report, "report_builder", name="report-builder", timeout_s=30)
        traffic.append((rb, report_traffic()))
    return lab.simulate(traffic)


def function_table(run):
    """Per function of ``run``: requests, throttles, peak concurrency, reserved concurrency."""
    from labkit import metrics
    inv = run.invocations
    rows = []
    for fn in run.functions:
        d = inv[inv["function"] == fn.name]
        r = fn.config.reserved_concurrency
        rows.append({"function": fn.name, "reserved": "-" if r is None else r, "requests": int(d["event_id"].nunique()),
                     "Throttles": int((d["outcome"] == "throttled").sum()),
                     "peak concurrency": metrics.max_concurrency(d)})
    return pd.DataFrame(rows)


@functools.lru_cache(maxsize=None)
def checkout_peak(day):
    """Checkout's peak concurrency on ``day`` when it runs alone (the measurement learners make)."""
    run = noisy_neighbour(day=day, neighbour=False)
    return int(function_table(run)["peak concurrency"].iloc[0])


# ---------------------------------------------------------------------------------------------
# Widget: reserved concurrency and burst size -> outcome shares per source type
# ---------------------------------------------------------------------------------------------

WIDGET_SPREAD_S = 5.0


def source_outcomes(reserved_concurrency=10, burst=100, handler=WORKER_SOURCE):
    """``burst`` orders sent over ``WIDGET_SPREAD_S`` seconds to the worker with
    ``reserved_concurrency``, through each source type. Returns a DataFrame with, per
    source, the share of events processed promptly (waited at most ``LATE_AFTER_S``),
    processed late, and not processed, plus the longest wait."""
    results = run_overload(handler, workload=lk.workload.burst(burst, spread_s=WIDGET_SPREAD_S),
                           reserved_concurrency=reserved_concurrency)
    rows = []
    for source, res in results.items():
        ev = res.events
        ok = ev["state"] == "succeeded"
        wait = (ev["start_s"] - ev["sent_s"])[ok]
        n = max(len(ev), 1)
        rows.append({"source": source, "promptly": int((wait <= LATE_AFTER_S).sum()) / n,
                     "late": int((wait > LATE_AFTER_S).sum()) / n, "not processed": int((~ok).sum()) / n,
                     "max wait (s)": round(float(wait.max()), 1) if len(wait) else 0.0})
    return pd.DataFrame(rows)


def plot_source_outcomes(data, ax):
    """Horizontal stacked bars: promptly / late / not processed, one bar per source type."""
    c = STYLE["colors"]
    y = np.arange(len(data))[::-1]
    left = np.zeros(len(data))
    for col, color in (("promptly", c["provisioned"]), ("late", c["init"]), ("not processed", c["throttles"])):
        vals = data[col].to_numpy(float) * 100
        ax.barh(y, vals, left=left, color=color, label=col, height=0.6)
        left += vals
    for yi, w in zip(y, data["max wait (s)"]):
        ax.text(101, yi, f"max wait {w:g} s", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(data["source"])
    ax.set_xlim(0, 135)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of the orders")
    ax.set_title("What became of the orders")
    ax.grid(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.22), ncol=3, fontsize=8, frameon=False)
    return ax


# ---------------------------------------------------------------------------------------------
# Exercise 1: an asynchronous function that loses nothing silently
# ---------------------------------------------------------------------------------------------

RECEIPT_RESERVED = 5       # the mail provider allows five connections
RECEIPT_ORDERS = 500       # a flash sale's orders ...
RECEIPT_SPREAD_S = 10.0    # ... within ten seconds
POISON_EVERY, POISON_AT = 50, 7   # order i has no e-mail address when i % 50 == 7

TEAM_CONFIG = {"maximum_event_age_s": 60, "maximum_retry_attempts": 0, "on_failure": None}
ASYNC_PLACEHOLDER = {"maximum_event_age_s": ..., "maximum_retry_attempts": ..., "on_failure": ...}
ASYNC_KEYS = ("maximum_event_age_s", "maximum_retry_attempts", "on_failure", "dead_letter_queue")


def receipt_order(i):
    """Order ``i`` of the flash sale; a few have no e-mail address (they can never succeed)."""
    if i % POISON_EVERY == POISON_AT:
        return {"order": i}
    return {"order": i, "email": f"customer{i}@example.com"}


def receipt_orders():
    return lk.workload.burst(RECEIPT_ORDERS, spread_s=RECEIPT_SPREAD_S, payload=receipt_order)


DESTINATION_CHOICES = "True (a destination queue) or None (no destination)"


def _as_destination(lab, name, value, parameter):
    """``True``: a new queue ``name`` in ``lab``; ``None``: no destination. Nothing else is
    accepted, so that a typo such as ``"yes"`` does not quietly count as a destination."""
    if value is None:
        return None
    if value is True:
        return lab.queue(name)
    raise InvalidParameterValueException(parameter, value, DESTINATION_CHOICES)


def async_settings(lab, config):
    """Turn the exercise's config dict into ``invoke_async`` keyword arguments (validated)."""
    if not isinstance(config, dict):
        raise InvalidParameterValueException("config", type(config).__name__, f"a dict with keys from {ASYNC_KEYS}")
    unknown = [k for k in config if k not in ASYNC_KEYS]
    if unknown:
        raise InvalidParameterValueException("config", unknown[0], f"keys from {ASYNC_KEYS}")
    kw = {k: config[k] for k in ("maximum_event_age_s", "maximum_retry_attempts") if k in config}
    dest = _as_destination(lab, "receipt-failures", config.get("on_failure"), "on_failure")
    dlq = _as_destination(lab, "receipt-dlq", config.get("dead_letter_queue"), "dead_letter_queue")
    if dest is not None:
        kw["on_failure"] = dest
    if dlq is not None:
        kw["dead_letter_queue"] = dlq
    return kw


def receipt_burst(config, handler=RECEIPT_SOURCE, seed=1):
    """The flash sale's receipts, sent asynchronously to ``send-receipt`` (reserved
    concurrency ``RECEIPT_RESERVED``) with the asynchronous settings in ``config``
    (keys ``ASYNC_KEYS``; a missing key keeps AWS's default). Returns the Run."""
    lab = lk.Lab(seed=seed)
    fn = _deploy(lab, handler, "handler", name="send-receipt", reserved_concurrency=RECEIPT_RESERVED,
                 timeout_s=3)
    return lab.invoke_async(fn, receipt_orders(), **async_settings(lab, config))


def receipt_report(run):
    """Final states of the receipts: valid orders and orders without an e-mail address apart."""
    ae = run.async_events.set_index("event_id")
    kinds = ["valid order" if "email" in receipt_order(i) else "no e-mail address" for i in range(len(run.event_ids))]
    df = pd.DataFrame({"order": kinds, "state": ae.loc[run.event_ids, "state"].to_numpy(),
                       "reason": ae.loc[run.event_ids, "reason"].fillna("-").to_numpy()})
    out = df.groupby(["order", "state", "reason"]).size().reset_index(name="events")
    rank = {s: i for i, s in enumerate(("succeeded", "failure_destination", "dead_letter_queue", "dropped"))}
    out["_k"] = [(o != "valid order", rank.get(s, 9)) for o, s in zip(out["order"], out["state"])]
    return out.sort_values(["_k", "reason"], kind="stable").drop(columns="_k").reset_index(drop=True)


def _plural(n, one, many):
    return f"{n} {one if n == 1 else many}"


@checker(placeholder=ASYNC_PLACEHOLDER)
def check_async_config(answer):
    """Every valid order gets its receipt, and no event is dropped without a trace."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Fill in every value of the dict (replace each ...), run that cell, then check again.")
    if not isinstance(answer, dict):
        return wrong(f"Give a dict of settings, like the one in the exercise cell (got a {type(answer).__name__}).")
    unknown = [k for k in answer if k not in ASYNC_KEYS]
    if unknown:
        return wrong(f"Unknown setting {unknown[0]!r}: the settings are {', '.join(ASYNC_KEYS)}.")
    for key in ("on_failure", "dead_letter_queue"):
        value = answer.get(key)
        if value is not None and value is not True:
            return wrong(f"{key} takes True (send the events Lambda gives up on to a queue) or None (no "
                         f"destination), nothing else; got {value!r}.")
    try:
        run = receipt_burst(answer)
    except InvalidParameterValueException as e:
        return wrong(f"Lambda would reject this configuration: {e}")
    report = receipt_report(run)
    valid = report[report["order"] == "valid order"]
    poison = report[report["order"] != "valid order"]
    problems = []
    aged = int(valid.loc[valid["reason"] == "EventAgeExceeded", "events"].sum())
    if aged:
        problems.append(
            f"{_plural(aged, 'valid order', 'valid orders')} never got a receipt: throttled again and again, "
            "each waited in Lambda's queue, backing off, until it was older than MaximumEventAgeInSeconds.")
    exhausted = int(valid.loc[valid["reason"] == "RetriesExhausted", "events"].sum())
    if exhausted:
        problems.append(
            f"{_plural(exhausted, 'valid order', 'valid orders')} hit the mail server's temporary error "
            "(421) and had no retry left, so the receipt was never sent.")
    silent = int(report.loc[report["state"] == "dropped", "events"].sum())
    if silent:
        problems.append(
            f"{_plural(silent, 'event was', 'events were')} dropped: Lambda discarded them and nothing records "
            "which orders they were. Give events that fail for good somewhere to go.")
    if problems:
        return wrong(" ".join(problems))
    kept = int(poison["events"].sum())
    where = "failure destination" if "failure_destination" in set(poison["state"]) else "dead-letter queue"
    return correct(f"Every valid order got its receipt, and the {kept} orders that can never succeed are "
                   f"waiting in your {where} for someone to look at them.")


ASYNC_HINTS = (
    "Run lesson03.receipt_report(lesson03.receipt_burst(my_config)) and read the reasons. EventAgeExceeded: "
    "the event was throttled for so long that it grew too old. RetriesExhausted: the function itself failed "
    "on every attempt it was given. State 'dropped': nothing kept the event.",
    "Three settings, three problems. maximum_event_age_s is how long an event may wait in Lambda's queue "
    f"(throttled events back off for up to {facts.ASYNC_THROTTLE_BACKOFF_S[1] / 60:g} minutes between tries). "
    f"maximum_retry_attempts ({facts.ASYNC_MAX_RETRY_ATTEMPTS_RANGE[0]} to {facts.ASYNC_MAX_RETRY_ATTEMPTS_RANGE[1]}) "
    "is how many more times Lambda runs an event whose invocation failed. on_failure is where Lambda puts an "
    "event when it gives up.",
    "A burst like this one takes minutes to drain through five environments, not one: give events far "
    f"longer than {TEAM_CONFIG['maximum_event_age_s']} s (the default, {facts.ASYNC_DEFAULT_MAX_EVENT_AGE_S:,} s, "
    "is fine). Keep retries for the temporary mail-server errors. "
    "Set on_failure=True so the orders without an e-mail address land in a queue instead of vanishing.",
)

ASYNC_SOLUTION = '''
my_config = {
    "maximum_event_age_s": 3600,    # an hour: ample time for a burst to drain, even with 5-minute backoffs
    "maximum_retry_attempts": 2,    # temporary errors (421) get two more chances
    "on_failure": True,             # events Lambda gives up on go to a queue, with the reason
}
q1.check(my_config)
'''

async_exercise = Exercise("async-config", check_async_config, hints=ASYNC_HINTS, solution=ASYNC_SOLUTION,
                          title="Lose no receipt silently")


# ---------------------------------------------------------------------------------------------
# Exercise 2: reserved concurrency that shields the critical function
# ---------------------------------------------------------------------------------------------

HEADROOM = 4 / 3   # a reservation more than a third above the busiest day's peak wastes concurrency


def max_reservable():
    return NEIGHBOUR_ACCOUNT_LIMIT - facts.MIN_UNRESERVED_CONCURRENCY


@checker
def check_reservation(answer):
    """Checkout is never throttled on any day; the reservation leaves report-builder all it can."""
    if isinstance(answer, float) and answer.is_integer():
        return wrong(f"Reserved concurrency is a whole number, an int: write {int(answer)}, without the decimal "
                     f"point (got {answer!r}).")
    if isinstance(answer, bool) or not isinstance(answer, int):
        return wrong(f"Reserved concurrency is a whole number of execution environments (e.g. 25); got {answer!r}.")
    r = answer
    if r < 0:
        return wrong(f"Reserved concurrency cannot be negative (got {r}).")
    if r == 0:
        return wrong("A reserved concurrency of 0 throttles every call: checkout would take no orders at all. "
                     "(That is how you switch a function off on purpose.)")
    if r > max_reservable():
        return wrong(
            f"Lambda refuses a reservation of {r} here with InvalidParameterValueException: an account always keeps "
            f"{facts.MIN_UNRESERVED_CONCURRENCY} concurrency unreserved for the functions without a reservation, so in "
            f"this account of {NEIGHBOUR_ACCOUNT_LIMIT} at most {max_reservable()} can be reserved.")
    for day in DAYS:
        table = function_table(noisy_neighbour(r, day=day))
        throttles = int(table.loc[table["function"] == "checkout", "Throttles"].iloc[0])
        if throttles:
            return wrong(f"On day {day} checkout was still throttled {_plural(throttles, 'time', 'times')}: at its "
                         "busiest moment it needed more environments than you reserved for it.")
    busiest = max(checkout_peak(day) for day in DAYS)
    if r > busiest * HEADROOM:
        return wrong("Checkout was never throttled, but even on its busiest day it used much less than its "
                     "reservation: more than a quarter of it sat idle while report-builder was being throttled. "
                     "Size the reservation from checkout's peak, with modest headroom.")
    return correct(f"Checkout was never throttled on any of the three days, and report-builder keeps "
                   f"{NEIGHBOUR_ACCOUNT_LIMIT - r} of the account's {NEIGHBOUR_ACCOUNT_LIMIT}.")


RESERVE_HINTS = (
    "Reserved concurrency is both a floor and a ceiling: checkout needs a reservation at least as large as the "
    "most invocations it ever has in flight, and every unit above that is taken from report-builder.",
    "Measure it. lesson03.noisy_neighbour(day=d, neighbour=False) runs checkout alone on day d, and "
    "lesson03.function_table(run) shows its peak concurrency. Traffic differs from day to day: "
    "look at days 1, 2 and 3.",
    "Reserve the largest of the three peaks, or a little more for headroom. A reservation of more than about a "
    "third above that peak is rejected as wasteful.",
)

RESERVE_SOLUTION = '''
peaks = [lesson03.function_table(lesson03.noisy_neighbour(day=d, neighbour=False))["peak concurrency"].iloc[0]
         for d in (1, 2, 3)]
print("checkout's peak concurrency on days 1-3:", peaks)
checkout_reserved = int(max(peaks))   # the busiest day; add a little headroom if you like
q2.check(checkout_reserved)
'''

reserve_exercise = Exercise("reserve-checkout", check_reservation, hints=RESERVE_HINTS, solution=RESERVE_SOLUTION,
                            title="Shield checkout from its noisy neighbour")


__all__ = [
    "WORKER_SOURCE", "CHECKOUT_SOURCE", "REPORT_SOURCE", "RECEIPT_SOURCE", "FLASH_SALE_SOURCE", "SOURCE_TYPES",
    "overload", "run_overload", "SourceRun", "outcome_table", "waiting_steps", "lost_steps", "plot_overload",
    "sdk_retry_table", "scaling_models", "scaling_table", "plot_scaling_models", "noisy_neighbour",
    "function_table", "checkout_peak", "source_outcomes", "plot_source_outcomes", "receipt_order",
    "receipt_burst", "receipt_report", "async_settings", "check_async_config", "async_exercise",
    "check_reservation", "reserve_exercise", "TEAM_CONFIG", "ASYNC_PLACEHOLDER",
]
