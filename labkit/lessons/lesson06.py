"""Lesson 06 support: vertical memory scaling, threads, fan-out, and what they cost.

Pure functions behind the notebook's experiments, its widget and its exercises.
Every function builds its own seeded Lab(s), so results repeat exactly.

* Memory sweeps (``sweep``, ``sweep_table``): a CPU-bound and an I/O-bound handler
  through ``labkit.tuning.power_tune`` on x86_64 and arm64.
* Threads (``threads_curve``, ``plot_threads_curve``): the same CPU work in 1, 2 or 4
  threads, and an I/O-bound job in 1 or 4 threads, across memory sizes.
* The scavenger (after Vincenzo Zambianchi, *Go routines for stateless AWS Lambda
  functions*, Simply Business, 2021): a handler that scans a DynamoDB table in parallel
  segments and deletes stale items with a bounded pool of deleters.
  ``scavenge(memory_mb, readers, deleters)`` runs it until the table is clean (one
  invocation after another when the 15-minute limit cuts a run short) and returns
  duration, billed duration, cost and invocations. ``article_runs`` replays the
  article's configurations (``results_table``, ``plot_cost_vs_duration``); ``fan_out``
  and ``plans`` compare one invocation with many.
* Widget: ``scavenge`` + ``plot_progress`` (stale items left against time).
* Exercise 1 (``cheapest_exercise``): the cheapest configuration that meets a deadline.
  Exercise 2 (``doubling_exercise``): does doubling memory halve the cost?

Scale: the article's table held about 130,000 items. Ours holds 1,303, and every
operation on one of our items takes 100 times as long (latency and CPU) as on one
real item: think of each simulated item as a bundle of 100. Run times and costs land
where the article's did, and one run takes a fraction of a second to simulate.
"""

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker
from matplotlib.lines import Line2D

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException
from labkit.exercises import Exercise, checker, correct, not_attempted, wrong
from labkit.plots import OKABE_ITO, STYLE, figure_style, legend_outside

# ---------------------------------------------------------------------------------------------
# Part 1: memory sweeps of a CPU-bound and an I/O-bound handler
# ---------------------------------------------------------------------------------------------

CPU_BOUND_SOURCE = '''\
import labkit as lk


def render_thumbnail(event, context):
    lk.cpu(0.4)   # 0.4 s of work for one full vCPU, all in this one thread
    return {"thumbnail": "photo-small.jpg"}
'''

IO_BOUND_SOURCE = '''\
import time

import labkit as lk


def fetch_quote(event, context):
    lk.cpu(0.002)     # build the request and parse the answer: 2 ms of CPU
    time.sleep(0.3)   # wait 300 ms for a partner's API to answer
    return {"quote": 42}
'''

THREADS_SOURCE = '''\
import time
from concurrent.futures import ThreadPoolExecutor

import labkit as lk

PARTS = 4          # the job comes in four equal parts ...
PART_S = 0.3       # ... of 0.3 vCPU-seconds of work, or 0.3 s of waiting, each


def split_job(event, context):
    if event["kind"] == "cpu":
        part = lambda _: lk.cpu(PART_S)      # e.g. compress one chunk of a file
    else:
        part = lambda _: time.sleep(PART_S)  # e.g. wait for one call to another service
    with ThreadPoolExecutor(max_workers=event["threads"]) as pool:
        list(pool.map(part, range(PARTS)))
    return {"parts": PARTS}
'''

SWEEP_MEMORY = (128, 256, 512, 1024, 1769, 3008)
SWEEP_INVOCATIONS = 5
THREADS_MEMORY = (128, 256, 512, 1024, 1769, 3538, 5307, 7076, 10240)
PER_MILLION = 1_000_000


def sweep(handler=None, *, source=CPU_BOUND_SOURCE, handler_name=None, memory_sizes=SWEEP_MEMORY,
          architectures=("x86_64", "arm64"), invocations=SWEEP_INVOCATIONS, payload=None, seed=1):
    """A Power Tuning-style sweep (``labkit.tuning.power_tune``) of one handler: a handler
    function, or a module's text in ``source`` whose entry point is ``handler_name``
    (default: the first ``def`` in it). Returns the ``SweepResult``."""
    from labkit.tuning import power_tune
    options = dict(memory_sizes=memory_sizes, architectures=architectures, invocations=invocations,
                   payload=payload, seed=seed, timeout_s=60)
    if handler is not None:
        return power_tune(handler, **options)
    name = handler_name or source.split("def ", 1)[1].split("(", 1)[0]
    return power_tune(source=source, handler_name=name, **options)


def sweep_table(results, architecture="x86_64"):
    """One row per memory size: average warm duration (ms) and cost per million invocations
    (USD) of every sweep in ``results`` (a dict label -> SweepResult), for one architecture."""
    out = None
    for label, res in results.items():
        t = res.table[res.table["architecture"] == architecture]
        part = pd.DataFrame({"memory (MB)": t["memory_mb"].to_numpy(),
                             f"{label} (ms)": t["avg_duration_ms"].round(0).astype(int).to_numpy(),
                             f"{label} ($ per 1M)": (t["avg_cost_usd"] * PER_MILLION).round(2).to_numpy()})
        out = part if out is None else out.merge(part, on="memory (MB)")
    return out


def architecture_table(result):
    """x86_64 against arm64 for one sweep: duration, cost per million invocations and the saving."""
    t = result.table
    x86 = t[t["architecture"] == "x86_64"].set_index("memory_mb")
    arm = t[t["architecture"] == "arm64"].set_index("memory_mb")
    return pd.DataFrame({
        "memory (MB)": x86.index.to_numpy(),
        "x86_64 (ms)": x86["avg_duration_ms"].round(0).astype(int).to_numpy(),
        "arm64 (ms)": arm.loc[x86.index, "avg_duration_ms"].round(0).astype(int).to_numpy(),
        "x86_64 ($ per 1M)": (x86["avg_cost_usd"] * PER_MILLION).round(2).to_numpy(),
        "arm64 ($ per 1M)": (arm.loc[x86.index, "avg_cost_usd"] * PER_MILLION).round(2).to_numpy(),
        "arm64 saves": [f"{1 - a / x:.0%}" for a, x in zip(arm.loc[x86.index, "avg_cost_usd"], x86["avg_cost_usd"])],
    })


def _vcpu_lines(ax, memory_max):
    """Dotted verticals where a single thread (1,769 MB) and then 2, 4 vCPUs are reached."""
    for k in (1, 2, 4):
        m = k * facts.MB_PER_VCPU
        if m <= memory_max:
            ax.axvline(m, color=STYLE["colors"]["limit"], linestyle=":", linewidth=1)
            ax.annotate(f"{k} vCPU{'s' if k > 1 else ''}\n({m:,} MB)", (m, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                        color=STYLE["colors"]["limit"])


def _memory_axis(ax, sizes):
    ax.set_xscale("log")
    ax.set_xticks(list(sizes))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("memory (MB, log scale)")


def _log_seconds_axis(ax):
    """A log y axis with plain tick labels at 1, 2, 5 x 10^k."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:,g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def plot_sweeps(results, architecture="x86_64"):
    """Two panels for the sweeps in ``results`` (label -> SweepResult): duration against
    memory, and cost per million invocations against memory. Returns the two Axes."""
    with figure_style(True):
        _, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained")
        sizes = set()
        for k, (label, res) in enumerate(results.items()):
            t = res.table[res.table["architecture"] == architecture].sort_values("memory_mb")
            sizes |= set(t["memory_mb"])
            color = STYLE["functions"][k % len(STYLE["functions"])]
            left.plot(t["memory_mb"], t["avg_duration_ms"], "-o", color=color, label=label)
            right.plot(t["memory_mb"], t["avg_cost_usd"] * PER_MILLION, "-o", color=color, label=label)
        for ax in (left, right):
            _memory_axis(ax, sorted(sizes))
            _vcpu_lines(ax, max(sizes))
        _log_seconds_axis(left)
        left.set_ylabel("average duration (ms, log scale)")
        left.set_title("Duration: more memory, more CPU")
        right.set_ylabel("cost per million invocations ($)")
        right.set_ylim(bottom=0)
        right.set_title("Cost: duration x memory x price")
        right.legend(loc="upper left")
    return left, right


def threads_curve(memory_sizes=THREADS_MEMORY, handler=None, seed=1):
    """The four-part job of ``THREADS_SOURCE`` at each memory size: CPU work in 1, 2 or 4
    threads, waiting in 1 or 4 threads. One row per (memory, job, threads): warm duration (ms)
    and cost per million invocations ($)."""
    rows = []
    for kind, threads in (("cpu", 1), ("cpu", 2), ("cpu", 4), ("io", 1), ("io", 4)):
        payload = {"kind": kind, "threads": threads}
        res = sweep(handler, source=THREADS_SOURCE, memory_sizes=tuple(memory_sizes), architectures=("x86_64",),
                    invocations=2, payload=payload, seed=seed)
        for r in res.table.to_dict("records"):
            rows.append({"memory_mb": r["memory_mb"], "job": "CPU work" if kind == "cpu" else "waiting",
                         "threads": threads, "duration_ms": r["avg_duration_ms"],
                         "cost_per_million_usd": r["avg_cost_usd"] * PER_MILLION})
    return pd.DataFrame(rows)


def plot_threads_curve(curve, ax=None):
    """Duration against memory for each (job, threads) line of ``threads_curve``."""
    own = ax is None
    with figure_style(own):
        if own:
            _, ax = plt.subplots(figsize=(10.0, 4.0), layout="constrained")
        # Lines that coincide are drawn thick first and thin on top, so each stays visible.
        styles = {("CPU work", 1): ("blue", "-", "o", 4.0, 10), ("CPU work", 2): ("sky_blue", "-", "s", 2.4, 7),
                  ("CPU work", 4): ("bluish_green", "-", "^", 1.2, 5), ("waiting", 1): ("orange", "--", "o", 1.6, 5),
                  ("waiting", 4): ("vermillion", "--", "^", 1.6, 5)}
        for (job, threads), g in curve.groupby(["job", "threads"], sort=False):
            color, line, marker, width, size = styles.get((job, threads), ("reddish_purple", "-", "x", 1.2, 5))
            g = g.sort_values("memory_mb")
            ax.plot(g["memory_mb"], g["duration_ms"] / 1000, linestyle=line, marker=marker, linewidth=width,
                    markersize=size, color=OKABE_ITO[color], label=f"{job}, {threads} thread{'s' if threads > 1 else ''}")
        _memory_axis(ax, sorted(curve["memory_mb"].unique()))
        _vcpu_lines(ax, curve["memory_mb"].max())
        _log_seconds_axis(ax)
        ax.set_ylabel("duration (s, log scale)")
        ax.set_title("The same four-part job in 1, 2 or 4 threads")
        legend_outside(ax)
    return ax


# ---------------------------------------------------------------------------------------------
# The scavenger (the notebook shows the same module in a cell of its own)
# ---------------------------------------------------------------------------------------------

SCAVENGER_SOURCE = '''\
import random
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.exceptions import ClientError

import labkit as lk

table = boto3.resource("dynamodb").Table("workers")

MAX_AGE_H = 48          # delete completed items older than this
PAGE_SIZE = 100         # items per Scan page
# CPU work per item, in vCPU-seconds (one item here stands for a bundle of 100 real ones)
CHECK_VCPU_S = 0.02     # decode one scanned item and check its age
DELETE_VCPU_S = 0.05    # build and sign its DeleteItem request


def delete(item):
    """One deleter's job: delete one item, backing off while the table refuses writes."""
    lk.cpu(DELETE_VCPU_S)
    backoff_s = 1.0
    while True:
        try:
            table.delete_item(Key={"worker_id": item["worker_id"], "start_time": item["start_time"]})
            return 1
        except ClientError as e:
            if e.response["Error"]["Code"] != "ProvisionedThroughputExceededException":
                raise
        time.sleep(random.uniform(0, backoff_s))   # refused: wait a random while, then retry,
        backoff_s = min(2 * backoff_s, 20.0)       # up to twice as long after each refusal


def read_segment(segment, total_segments, delete_pool):
    """One reader's job: scan one segment page by page, hand stale items to the deleters."""
    futures = []
    request = {"Segment": segment, "TotalSegments": total_segments, "Limit": PAGE_SIZE}
    while True:
        page = table.scan(**request)
        for item in page["Items"]:
            lk.cpu(CHECK_VCPU_S)
            if item["completed"] == 1 and item["age_h"] > MAX_AGE_H:
                futures.append(delete_pool.submit(delete, item))
        if "LastEvaluatedKey" not in page:
            return futures
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def handler(event, context):
    # event: {"segments": [0, 1, ...], "total_segments": n, "deleters": d}
    segments, total = event["segments"], event["total_segments"]
    with ThreadPoolExecutor(max_workers=event["deleters"]) as delete_pool:
        with ThreadPoolExecutor(max_workers=len(segments)) as read_pool:
            reads = [read_pool.submit(read_segment, s, total, delete_pool) for s in segments]
        deleted = sum(f.result() for r in reads for f in r.result())
    return {"deleted": deleted}
'''

TABLE = "workers"
SCALE = 100                 # one simulated item stands for this many of the article's
MAX_AGE_H = 48              # the handler's rule: completed items older than this are stale
STALE_ITEMS = 1270          # the article deleted about 127,000 items ...
FRESH_ITEMS = 33            # ... and kept about 3,300
TABLE_LATENCY_S = 0.55      # one call for a bundle of 100 items (5.5 ms per real item)
WRITE_UNITS_PER_S = 2.0     # the scavenger's share of the table's writes: 200 real deletes per second
MAX_INVOCATIONS = 8         # a plan that needs more than this is stopped (and reported unfinished)
READERS_RANGE = (1, 100)
DELETERS_RANGE = (1, 100)


def table_items(stale=STALE_ITEMS, fresh=FRESH_ITEMS):
    """The ``workers`` table: ``stale`` completed items older than ``MAX_AGE_H``, ``fresh`` recent ones.
    Key: ``worker_id`` (number, partition) + ``start_time`` (string, sort), as in the article."""
    items = []
    for i in range(stale):
        started = f"2021-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z#{i:05d}"
        items.append({"worker_id": i % 200, "start_time": started, "completed": 1, "age_h": 100 + i % 500})
    for i in range(fresh):
        items.append({"worker_id": i % 200, "start_time": f"2021-02-01T{i % 24:02d}:30:00Z#{i}",
                      "completed": i % 2, "age_h": 1 + i % 40})
    return items


def _check_int(name, value, lo, hi, what):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterValueException(name, value, f"{what}: an integer from {lo:,} to {hi:,}")
    return value


def _deploy(lab, handler, name, **config):
    if handler is None or isinstance(handler, str):
        return lab.function(source=handler or SCAVENGER_SOURCE, name=name, **config)
    return lab.function(handler, name=name, **config)


def _scavenger_lab(seed, write_units_per_s=WRITE_UNITS_PER_S):
    lab = lk.Lab(seed=seed)
    lab.dynamodb_table(TABLE, key="worker_id", key_type="N", sort_key="start_time", items=table_items(),
                       latency_s=TABLE_LATENCY_S, write_units_per_s=write_units_per_s)
    return lab


def _stale_left(lab):
    return sum(1 for it in lab.services.dynamodb.tables[TABLE]._items.values()
               if it["completed"] == 1 and it["age_h"] > MAX_AGE_H)


def _run_plan(lab, fn, events, parallel, limit=MAX_INVOCATIONS):
    """Send ``events`` (all at once if ``parallel``, else one after another) and send again,
    in a next round, every event whose invocation did not finish (the 15-minute limit),
    as a Step Functions Retry or a person re-running the job would. Stops when the table is
    clean or after ``limit`` invocations. Returns every invocation as one DataFrame."""
    frames, pending = [], list(events)
    while pending and sum(len(f) for f in frames) < limit:
        batch = list(pending) if parallel else pending[:1]
        run = lab.invoke(fn, lk.workload.parallel(len(batch), payload=lambda i: batch[i]))
        inv = run.invocations
        frames.append(inv)
        outcome = dict(zip(inv["event_id"], inv["outcome"]))
        unfinished = [e for e, eid in zip(batch, run.event_ids) if outcome.get(eid) != "success"]
        pending = unfinished + pending[len(batch):]
        if not _stale_left(lab):
            break
    return pd.concat(frames, ignore_index=True)


def _summary(lab, inv, t0):
    ok = lab.services.dynamodb.records
    deletes = [r.time_s - t0 for r in ok if r.operation == "DeleteItem" and r.outcome == "ok"]
    throttled = sum(1 for r in ok if r.operation == "DeleteItem" and r.outcome != "ok")
    end = float(inv["end_s"].max())
    start = float(inv["arrival_s"].min())
    return {
        "duration_s": end - start,
        "billed_ms": int(inv["billed_duration_ms"].sum()),
        "cost_usd": float(inv["cost_usd"].sum()),
        "invocations_needed": len(inv),
        "items": len(deletes),
        "items_left": _stale_left(lab),
        "timeouts": int((inv["outcome"] == "timeout").sum()),
        "throttled_writes": throttled,
        "fits_in_time_limit": bool((inv["outcome"] == "success").all()) and not _stale_left(lab),
        "delete_times_s": sorted(deletes),
        "invocation_ends_s": sorted(float(e) - t0 for e in inv["end_s"]),
    }


def scavenge(memory_mb=512, readers=10, deleters=10, seed=1, architecture="x86_64", handler=None,
             write_units_per_s=WRITE_UNITS_PER_S):
    """Clean the ``workers`` table with one function (``readers`` scan segments in threads,
    ``deleters`` delete in a bounded pool), re-invoking it while the 15-minute limit cuts
    runs short, as the article did with its sequential version.

    Returns a dict: ``duration_s`` (first start to last end), ``billed_ms`` and
    ``cost_usd`` (summed over invocations, init included), ``invocations_needed``,
    ``items`` (stale items deleted), ``items_left``, ``timeouts``, ``throttled_writes``,
    ``fits_in_time_limit`` (no invocation hit the 15-minute limit), and for plots
    ``delete_times_s`` and ``invocation_ends_s``. ``write_units_per_s`` is the table's write
    capacity left for the scavenger, in simulated items per second.
    Bad settings raise ``InvalidParameterValueException`` as Lambda's API would.
    """
    lk.FunctionConfig(memory_mb=memory_mb, architecture=architecture)   # validates like CreateFunction
    _check_int("readers", readers, *READERS_RANGE, "reader threads (scan segments)")
    _check_int("deleters", deleters, *DELETERS_RANGE, "deleter threads")
    lab = _scavenger_lab(seed, write_units_per_s)
    fn = _deploy(lab, handler, "scavenger", memory_mb=memory_mb, architecture=architecture,
                 timeout_s=facts.TIMEOUT_S_RANGE[1])
    t0 = lab.now
    event = {"segments": list(range(readers)), "total_segments": readers, "deleters": deleters}
    inv = _run_plan(lab, fn, [event], parallel=False)
    out = _summary(lab, inv, t0)
    out.update(memory_mb=memory_mb, readers=readers, deleters=deleters, architecture=architecture,
               write_units_per_s=write_units_per_s)
    return out


# ---------------------------------------------------------------------------------------------
# The article's configurations, replayed
# ---------------------------------------------------------------------------------------------

# (memory MB, reading routines, deletion routines, billed duration ms, cost USD), as the article
# reported them (eu-west-1, 2021: 1 ms billing, init not billed). Its sequential run took three
# invocations: 2 x 900,000 ms + 165,719 ms.
ARTICLE_RUNS = (
    (128, 1, 1, 1_965_719, 0.004128),
    (512, 10, 10, 701_119, 0.005819),
    (1024, 10, 20, 366_121, 0.006114),
    (1024, 20, 50, 381_811, 0.006376),
    (1024, 100, 100, 412_897, 0.006895),
    (2048, 50, 100, 210_355, 0.007005),
    (2048, 100, 100, 189_988, 0.006327),
)


def article_runs(seed=1, handler=None):
    """``scavenge`` for each of the article's configurations: a list of result dicts,
    each with the article's own figures added (``article_billed_ms``, ``article_cost_usd``)."""
    out = []
    for mem, readers, deleters, billed, cost in ARTICLE_RUNS:
        r = scavenge(mem, readers, deleters, seed=seed, handler=handler)
        r.update(article_billed_ms=billed, article_cost_usd=cost)
        out.append(r)
    return out


def results_table(results, article=False):
    """A compact table of ``scavenge`` results (one row each)."""
    rows = []
    for r in results:
        row = {"memory (MB)": r["memory_mb"], "readers": r["readers"], "deleters": r["deleters"],
               "invocations": r["invocations_needed"], "minutes": round(r["duration_s"] / 60, 1),
               "billed (ms)": r["billed_ms"], "cost ($)": round(r["cost_usd"], 6),
               "throttled writes": r["throttled_writes"]}
        if article:
            row["article: billed (ms)"] = r["article_billed_ms"]
            row["article: cost ($)"] = r["article_cost_usd"]
        rows.append(row)
    return pd.DataFrame(rows)


def plot_cost_vs_duration(results, ax=None, article=True):
    """Cost against duration, one labelled point per run (``memory, readers/deleters``);
    the article's own figures as hollow points when ``article``; the 15-minute limit."""
    own = ax is None
    limit_min = facts.TIMEOUT_S_RANGE[1] / 60
    with figure_style(own):
        if own:
            _, ax = plt.subplots(figsize=(10.0, 4.6), layout="constrained")
        ours = STYLE["colors"]["warm"]
        theirs = STYLE["colors"]["init"]
        # Runs of one memory size often land on the same spot: one label per size lists them all.
        for mem in sorted({r["memory_mb"] for r in results}):
            group = [r for r in results if r["memory_mb"] == mem]
            xs = [r["duration_s"] / 60 for r in group]
            ys = [r["cost_usd"] for r in group]
            ax.plot(xs, ys, "o", color=ours, markersize=7)
            settings = ", ".join(f"{r['readers']}/{r['deleters']}" for r in group)
            ax.annotate(f"{mem:,} MB: {settings}", (max(xs), min(ys)), textcoords="offset points", xytext=(7, -11),
                        fontsize=8, color=ours)
            if article and all("article_billed_ms" in r for r in group):
                axs = [r["article_billed_ms"] / 60_000 for r in group]
                ays = [r["article_cost_usd"] for r in group]
                ax.plot(axs, ays, "o", mfc="none", mec=theirs, mew=1.5, markersize=8)
                ax.annotate(f"{mem:,} MB", (sum(axs) / len(axs), max(ays)), textcoords="offset points",
                            xytext=(0, 8), ha="center", fontsize=8, color=theirs)
        ax.axvline(limit_min, color=STYLE["colors"]["throttles"], linestyle="--", linewidth=1.2)
        ax.annotate("15-minute limit\n(one invocation)", (limit_min, 0.8), xycoords=("data", "axes fraction"),
                    xytext=(4, -2), textcoords="offset points", va="top", fontsize=8,
                    color=STYLE["colors"]["throttles"])
        handles = [Line2D([], [], marker="o", linestyle="", color=ours, label="labkit (simulated)")]
        if article and any("article_billed_ms" in r for r in results):
            handles.append(Line2D([], [], marker="o", linestyle="", mfc="none", mec=theirs, mew=1.5,
                                  label="the article (measured, 2021)"))
        ax.legend(handles=handles, loc="upper right")
        ax.set_xlim(0, max(limit_min, max(r["duration_s"] / 60 for r in results)) * 1.15)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("time to clean the table (minutes; for several invocations, all of them)")
        ax.set_ylabel("cost of the whole clean-up ($)")
        ax.set_title("The scavenger: cost against time (labels: memory: readers/deleters)")
    return ax


# ---------------------------------------------------------------------------------------------
# Fan-out: the same job over many invocations
# ---------------------------------------------------------------------------------------------

COORDINATOR_SOURCE = '''\
import json
from concurrent.futures import ThreadPoolExecutor

import boto3

lam = boto3.client("lambda")


def run_segment(job):
    out = lam.invoke(FunctionName="scavenger", Payload=json.dumps(job))   # waits for the answer
    return json.loads(out["Payload"].read())


def coordinator(event, context):
    n = event["total_segments"]
    jobs = [{"segments": [s], "total_segments": n, "deleters": event["deleters"]} for s in range(n)]
    with ThreadPoolExecutor(max_workers=n) as pool:
        answers = list(pool.map(run_segment, jobs))
    return {"deleted": sum(a.get("deleted", 0) for a in answers)}
'''

FAN_OUT_VIA = ("map", "invoke")


def fan_out(workers=10, memory_mb=128, deleters=1, via="map", coordinator_memory_mb=128, seed=1, handler=None,
            coordinator=None, write_units_per_s=WRITE_UNITS_PER_S):
    """The clean-up split over ``workers`` invocations of the scavenger, one per scan segment,
    each with ``deleters`` deleter threads. ``via="map"``: all sent at once from outside
    Lambda, as a Step Functions Map state would (an invocation that hits the 15-minute limit
    is sent again, like a Retry). ``via="invoke"``: a coordinator function invokes them
    with ``boto3.client("lambda").invoke`` and waits, so it is billed for the whole time too.
    Returns the same dict as ``scavenge`` (``readers`` = ``workers``)."""
    lk.FunctionConfig(memory_mb=memory_mb)
    _check_int("workers", workers, 1, MAX_INVOCATIONS * 4, "invocations, one per segment")
    _check_int("deleters", deleters, *DELETERS_RANGE, "deleter threads per invocation")
    if via not in FAN_OUT_VIA:
        raise InvalidParameterValueException("via", via, f"one of {FAN_OUT_VIA}")
    lab = _scavenger_lab(seed, write_units_per_s)
    timeout = facts.TIMEOUT_S_RANGE[1]
    worker = _deploy(lab, handler, "scavenger", memory_mb=memory_mb, timeout_s=timeout)
    t0 = lab.now
    if via == "map":
        jobs = [{"segments": [s], "total_segments": workers, "deleters": deleters} for s in range(workers)]
        inv = _run_plan(lab, worker, jobs, parallel=True, limit=workers + MAX_INVOCATIONS)
    else:
        if coordinator is None or isinstance(coordinator, str):
            boss = lab.function(source=coordinator or COORDINATOR_SOURCE, handler_name="coordinator",
                                name="coordinator", memory_mb=coordinator_memory_mb, timeout_s=timeout)
        else:
            boss = lab.function(coordinator, name="coordinator", memory_mb=coordinator_memory_mb, timeout_s=timeout)
        inv = _run_plan(lab, boss, [{"total_segments": workers, "deleters": deleters}], parallel=False,
                        limit=MAX_INVOCATIONS * (workers + 1))
    out = _summary(lab, inv, t0)
    out.update(memory_mb=memory_mb, readers=workers, deleters=deleters, architecture="x86_64", via=via,
               write_units_per_s=write_units_per_s)
    return out


def plans(seed=1, handler=None, coordinator=None):
    """The clean-up four ways, as (label, result) pairs: one sequential function; one function
    with threads; fan-out over 10 invocations from a Map state; the same fan-out from a
    coordinator function."""
    return [
        ("one invocation at a time, sequential (128 MB, 1/1)", scavenge(128, 1, 1, seed=seed, handler=handler)),
        ("one invocation, threads (512 MB, 10/10)", scavenge(512, 10, 10, seed=seed, handler=handler)),
        ("fan-out: Map over 10 segments (10 x 128 MB, 1 deleter each)",
         fan_out(10, 128, 1, via="map", seed=seed, handler=handler)),
        ("fan-out: coordinator invokes 10 (10 x 128 MB + 128 MB)",
         fan_out(10, 128, 1, via="invoke", seed=seed, handler=handler, coordinator=coordinator)),
    ]


def plans_table(labelled):
    """A compact table of ``plans()``: invocations, elapsed minutes, billed seconds, cost, and
    whether every invocation stayed within the 15-minute limit."""
    rows = []
    for label, r in labelled:
        rows.append({"plan": label, "invocations": r["invocations_needed"],
                     "minutes": round(r["duration_s"] / 60, 1),
                     "billed (s)": round(r["billed_ms"] / 1000), "cost ($)": round(r["cost_usd"], 6),
                     "every invocation < 15 min": "yes" if r["timeouts"] == 0 else f"no ({r['timeouts']} timed out)"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Widget: stale items left, against time
# ---------------------------------------------------------------------------------------------

# The notebook's sliders. Deleters stop at 16: at 1,024 MB two deleters already reach the table's
# pace, and each extra one only adds refused writes and retries to simulate (32 deleters took
# 0.4-0.6 s per slider position, plot included, on a busy 2-core machine; 16 take about 0.35 s).
WIDGET_MEMORY = (128, 1024, 32)
WIDGET_READERS = (1, 16)
WIDGET_DELETERS = (1, 16)


def plot_progress(result, ax):
    """Stale items left against time for one ``scavenge`` result, the 15-minute limit of each
    invocation, and the fastest pace the table's write capacity allows."""
    times = [0.0] + [t / 60 for t in result["delete_times_s"]]
    left = [STALE_ITEMS - k for k in range(len(times))]
    end = result["duration_s"] / 60
    ax.step(times + [end], left + [left[-1]], where="post", color=OKABE_ITO["blue"], linewidth=1.8,
            label="stale items left")
    fastest_min = STALE_ITEMS / result.get("write_units_per_s", WRITE_UNITS_PER_S) / 60
    ax.plot([0, fastest_min], [STALE_ITEMS, 0], ":", color=STYLE["colors"]["limit"],
            label="fastest the table's writes allow")
    for k, t in enumerate(result["invocation_ends_s"][:-1]):
        ax.axvline(t / 60, color=STYLE["colors"]["throttles"], linestyle="--", linewidth=1,
                   label="an invocation hits the 15-minute limit" if k == 0 else None)
    ax.set_xlim(0, max(end, 10) * 1.02)
    ax.set_ylim(0, STALE_ITEMS * 1.05)
    ax.set_xlabel("minutes")
    ax.set_ylabel("stale items left")
    n = result["invocations_needed"]
    ax.set_title(f"{result['duration_s'] / 60:.1f} min, {n} invocation{'s' if n > 1 else ''}, "
                 f"${result['cost_usd']:.4f}")
    ax.legend(loc="upper right", fontsize=7)
    return ax


# ---------------------------------------------------------------------------------------------
# Exercise 1: the cheapest configuration that meets a deadline
# ---------------------------------------------------------------------------------------------

DEADLINE_S = 12 * 60          # the nightly maintenance window
CHEAPEST_TOLERANCE = 0.10     # within 10% of the cheapest configuration found counts as cheapest
CHEAPEST_PLACEHOLDER = {"memory_mb": ..., "readers": ..., "deleters": ...}
CHEAPEST_KEYS = ("memory_mb", "readers", "deleters")
# Where the cheapest configurations live: the checker searches these (see tests/test_lesson06.py,
# which checks a wider grid finds nothing cheaper).
REFERENCE_CANDIDATES = tuple((m, 1, d) for m in (208, 224, 240, 256, 288) for d in (4, 8))
_reference = {}


def cheapest_reference(deadline_s=DEADLINE_S, seed=1):
    """The cost of the cheapest candidate configuration that meets ``deadline_s`` (cached)."""
    key = (deadline_s, seed)
    if key not in _reference:
        costs = [r["cost_usd"] for r in (scavenge(m, rd, d, seed=seed) for m, rd, d in REFERENCE_CANDIDATES)
                 if r["duration_s"] <= deadline_s and not r["items_left"]]
        _reference[key] = min(costs)
    return _reference[key]


def _minutes(seconds):
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s"


@checker(placeholder=CHEAPEST_PLACEHOLDER)
def check_cheapest(answer):
    """The configuration cleans the table within the deadline, at (near) the lowest cost."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Fill in all three values (replace each ...), run that cell, then check again.")
    if not isinstance(answer, dict):
        return wrong(f'Give a dict like {{"memory_mb": 1024, "readers": 4, "deleters": 8}} '
                     f"(got a {type(answer).__name__}).")
    unknown = [k for k in answer if k not in CHEAPEST_KEYS]
    missing = [k for k in CHEAPEST_KEYS if k not in answer]
    if unknown or missing:
        return wrong(f"The dict needs exactly the keys {', '.join(CHEAPEST_KEYS)}"
                     + (f"; unknown: {', '.join(map(repr, unknown))}" if unknown else "")
                     + (f"; missing: {', '.join(missing)}" if missing else "") + ".")
    try:
        r = scavenge(answer["memory_mb"], answer["readers"], answer["deleters"])
    except InvalidParameterValueException as e:
        if e.parameter == "MemorySize":
            return wrong(f"Lambda would refuse to create this function (HTTP 400, InvalidParameterValueException: "
                         f"{e}), so nothing would run at all. Memory is a whole number of MB.")
        return wrong(f"That configuration cannot run: {e}.")
    took = _minutes(r["duration_s"])
    if r["items_left"]:
        return wrong(f"Too slow: after {r['invocations_needed']} invocations ({took}), {r['items_left']:,} stale items "
                     "were still in the table.")
    if r["duration_s"] > DEADLINE_S:
        extra = ""
        if r["invocations_needed"] > 1:
            extra = (f" It needed {r['invocations_needed']} invocations: each one stopped at the 15-minute limit "
                     "and the next had to scan the table again.")
        return wrong(f"Too slow: this configuration took {took} to clean the table, more than the "
                     f"{DEADLINE_S // 60}-minute window.{extra}")
    best = cheapest_reference()
    over = r["cost_usd"] / best - 1
    if over > CHEAPEST_TOLERANCE:
        why = ""
        if r["throttled_writes"] > STALE_ITEMS // 2:
            why = (f" The table refused {r['throttled_writes']:,} writes: for much of the run, your function "
                   "was paying for memory while its threads waited for the table.")
        return wrong(f"Meets the deadline ({took}), but at ${r['cost_usd']:.6f} it costs {over:.0%} more than the "
                     f"cheapest configuration that also meets it.{why}")
    return correct(f"Cleaned the table in {took}, within the {DEADLINE_S // 60}-minute window, for "
                   f"${r['cost_usd']:.6f}: as cheap as the cheapest configuration we found (within "
                   f"{CHEAPEST_TOLERANCE:.0%}).")


CHEAPEST_HINTS = (
    "Cost is billed duration x memory. A run that waits on the table pays for its memory while it waits, "
    "so look for the point where the function stops being the bottleneck. Try a few settings with "
    "lesson06.scavenge(memory_mb, readers, deleters) and compare duration_s and cost_usd.",
    "At a fixed memory size, more deleters overlap the waits for DynamoDB, until the CPU is busy all the time: "
    "after that, extra deleters change nothing. Readers matter little: scanning is a small part of the work. "
    "Then more memory makes the (CPU-bound) run faster at about the same cost, until the table's write "
    "capacity becomes the limit: from there on, more memory only costs more.",
    "Find the smallest memory size that gets under 12 minutes once there are enough deleters to keep the CPU "
    "busy (4 or more). Between 128 MB and 1,769 MB one thread never gets a whole vCPU, so count on the "
    "function's whole CPU share: time ~ (items x CPU per item) / (memory / 1,769 MB).",
)

CHEAPEST_SOLUTION = '''
# CPU per stale item: 0.02 (check) + 0.05 (delete) = 0.07 vCPU-s, 1,270 items: about 89 vCPU-s,
# plus the scan of the 33 fresh items. Under 720 s needs about 89 / 720 = 0.124 vCPU,
# i.e. 0.124 x 1,769 MB = about 220 MB. Four deleters keep that CPU busy; one reader is enough.
# There the table is not yet the limit (2 writes/s would allow 1,270 items in 635 s),
# so no memory is paid for while waiting.
my_config = {"memory_mb": 224, "readers": 1, "deleters": 4}
q1.check(my_config)
'''

cheapest_exercise = Exercise("cheapest-scavenger", check_cheapest, hints=CHEAPEST_HINTS,
                             solution=CHEAPEST_SOLUTION, title="The cheapest clean-up within the window")


# ---------------------------------------------------------------------------------------------
# Exercise 2: does doubling memory halve the cost?
# ---------------------------------------------------------------------------------------------

DOUBLING_SOURCE = '''\
import time

import labkit as lk


def resize_photo(event, context):
    lk.cpu(0.6)        # decode, resize and encode one photo: one thread
    return {"resized": True}


def send_webhook(event, context):
    lk.cpu(0.005)      # build the request
    time.sleep(0.4)    # wait for the customer's server to answer
    return {"status": 200}


def encode_video(event, context):
    lk.cpu(8.0)        # encode one clip, one thread
    return {"encoded": True}
'''

# handler -> (memory before, memory after)
DOUBLING_CASES = {"resize_photo": (512, 1024), "send_webhook": (512, 1024), "encode_video": (2048, 4096)}
PREDICTIONS = ("halves", "same", "doubles")
_SYNONYMS = {"halves": "halves", "halve": "halves", "half": "halves", "halved": "halves",
             "same": "same", "about the same": "same", "unchanged": "same", "equal": "same",
             "doubles": "doubles", "double": "doubles", "doubled": "doubles", "twice": "doubles"}
DOUBLING_PLACEHOLDER = {name: ... for name in DOUBLING_CASES}


def doubling_sweep(seed=1):
    """For each handler of ``DOUBLING_SOURCE``: warm duration and cost per invocation at its two
    memory sizes (a small Power Tuning sweep each). One row per handler."""
    rows = []
    for name, (before, after) in DOUBLING_CASES.items():
        res = sweep(source=DOUBLING_SOURCE, handler_name=name, memory_sizes=(before, after),
                    architectures=("x86_64",), invocations=3, seed=seed)
        t = res.table.set_index("memory_mb")
        rows.append({"handler": name, "memory (MB)": f"{before:,} -> {after:,}",
                     "duration before (ms)": round(float(t.loc[before, "avg_duration_ms"])),
                     "duration after (ms)": round(float(t.loc[after, "avg_duration_ms"])),
                     "cost ratio": round(float(t.loc[after, "avg_cost_usd"] / t.loc[before, "avg_cost_usd"]), 2)})
    return pd.DataFrame(rows)


# The check's nudges: the rule that links duration to cost, and what each handler does with its time.
# (The measured durations would give the answer away; they come with the right answer.)
_COST_RULE = ("Twice the memory makes every millisecond cost twice as much, so the cost halves only if the duration "
              "falls to a quarter, stays the same if the duration halves, and doubles if the duration does not "
              "change.")
_DOES = {
    "resize_photo": "one thread of CPU work that has only part of one vCPU",
    "send_webhook": "a handler that computes for 5 ms, then waits 400 ms for another server",
    "encode_video": "one thread of CPU work that already has more than one vCPU",
}


def _verdict(ratio):
    return "halves" if ratio < 0.7 else "doubles" if ratio > 1.4 else "same"


@checker(placeholder=DOUBLING_PLACEHOLDER)
def check_doubling(answer):
    """Each prediction matches what the sweep measures for that handler."""
    if not isinstance(answer, dict):
        return wrong(f"Give a dict with one prediction per handler: {', '.join(DOUBLING_CASES)} "
                     f"(got a {type(answer).__name__}).")
    unknown = [k for k in answer if k not in DOUBLING_CASES]
    if unknown:
        return wrong(f"Unknown handler {unknown[0]!r}: predict for {', '.join(DOUBLING_CASES)}.")
    if any(answer.get(k, ...) is Ellipsis for k in DOUBLING_CASES):
        return not_attempted("Predict for all three handlers (replace each ...), run that cell, then check again.")
    said = {}
    for k, v in answer.items():
        word = _SYNONYMS.get(v.strip().lower()) if isinstance(v, str) else None
        if word is None:
            return wrong(f"The prediction for {k} is {v!r}: use one of {', '.join(map(repr, PREDICTIONS))}.")
        said[k] = word
    table = doubling_sweep().set_index("handler")
    misses = []
    for name in DOUBLING_CASES:
        if said[name] != _verdict(table.loc[name, "cost ratio"]):
            misses.append(f"{name}: not '{said[name]}'. What does twice the memory do to the duration of "
                          f"{_DOES[name]}?")
    if misses:
        right = len(DOUBLING_CASES) - len(misses)
        return wrong(f"{right} of {len(DOUBLING_CASES)} right. {_COST_RULE} " + " ".join(misses))
    measured = "; ".join(f"{name} {row['duration before (ms)']:,} -> {row['duration after (ms)']:,} ms, cost x "
                         f"{row['cost ratio']:.2f}" for name, row in table.iterrows())
    return correct(f"All three right (measured: {measured}). Doubling memory doubles the price of each "
                   "millisecond, so the cost halves only if the duration falls to a quarter, which more CPU "
                   "cannot do. At best (CPU-bound work below 1,769 MB for one thread) the cost stays the same "
                   "and the duration halves.")


DOUBLING_HINTS = (
    "Cost per invocation = billed duration x memory x price per GB-second. Doubling memory doubles the "
    "price of every millisecond. So ask, for each handler: does the duration halve, or not change?",
    "Memory buys CPU, and nothing else here. A handler that mostly waits for another server gets no faster. "
    "A single thread gets faster with memory only until it has one whole vCPU: 1,769 MB.",
    "resize_photo is one thread of CPU work below 1,769 MB; send_webhook waits 400 ms for a server; "
    "encode_video is one thread of CPU work already at 2,048 MB. Which ones get faster, and by how much?",
)

DOUBLING_SOLUTION = '''
my_predictions = {
    "resize_photo": "same",      # CPU-bound, below 1,769 MB: half the time at twice the price
    "send_webhook": "doubles",   # waits for a server: same time at twice the price
    "encode_video": "doubles",   # one thread already has a whole vCPU at 2,048 MB: no faster
}
q2.check(my_predictions)
'''

doubling_exercise = Exercise("doubling-memory", check_doubling, hints=DOUBLING_HINTS, solution=DOUBLING_SOLUTION,
                             title="Does doubling memory halve the cost?")
