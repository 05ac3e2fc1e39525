"""Lesson 06 (vertical memory scaling, threads, fan-out, and what they cost): the experiments.

Pure functions behind the notebook's experiments and its widget. Every function builds
its own seeded Lab(s), so results repeat exactly. The handler modules are files in
``handlers/`` (``CPU_BOUND_SOURCE``, ``SCAVENGER_SOURCE``, ... are their texts).

* Memory sweeps (``sweep``, ``sweep_table``, ``architecture_table``): a CPU-bound and an
  I/O-bound handler through ``labkit.tuning.power_tune`` on x86_64 and arm64.
* Threads (``threads_curve``): the same CPU work in 1, 2 or 4 threads, and an I/O-bound
  job in 1 or 4 threads, across memory sizes.
* The scavenger (after Vincenzo Zambianchi, *Go routines for stateless AWS Lambda
  functions*, Simply Business, 2021): a handler that scans a DynamoDB table in parallel
  segments and deletes stale items with a bounded pool of deleters.
  ``scavenge(memory_mb, readers, deleters)`` runs it until the table is clean (one
  invocation after another when the 15-minute limit cuts a run short) and returns
  duration, billed duration, cost and invocations; it is also the widget's function.
  ``article_runs`` replays the article's configurations (``results_table``); ``fan_out``
  and ``plans`` compare one invocation with many.

Scale: the article's table held about 130,000 items. Ours holds 1,303, and every
operation on one of our items takes 100 times as long (latency and CPU) as on one
real item: think of each simulated item as a bundle of 100. Run times and costs land
where the article's did, and one run takes a fraction of a second to simulate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

import labkit as lk
from labkit import facts, validation
from labkit.errors import InvalidParameterValueException
from labkit.lab import Lab
from labkit.records import SUCCESS, TIMEOUT
from labkit.tuning import SweepResult, power_tune

from .handlers import COORDINATOR_SOURCE, CPU_BOUND_SOURCE, SCAVENGER_SOURCE, THREADS_SOURCE

if TYPE_CHECKING:
    from labkit.runtime import Function

# A handler: a ``def handler(event, context)`` function (its notebook cell is its module), or a module's text.
Handler = Callable[..., Any] | str

# ---------------------------------------------------------------------------------------------
# Part 1: memory sweeps of a CPU-bound and an I/O-bound handler
# ---------------------------------------------------------------------------------------------

# Memory sizes to sweep: powers of two, then where a function has 1, 2, 3 and 4 vCPUs, and the maximum
# (from labkit.facts, so that no AWS figure is written twice).
_ONE_VCPU_MB, _MAX_MEMORY_MB = facts.MB_PER_VCPU, facts.MEMORY_MB_RANGE[1]   # 1,769 MB and 10,240 MB
SWEEP_MEMORY = (128, 256, 512, 1024, _ONE_VCPU_MB, 3008)
SWEEP_INVOCATIONS = 5
THREADS_MEMORY = (128, 256, 512, 1024, _ONE_VCPU_MB, 2 * _ONE_VCPU_MB, 3 * _ONE_VCPU_MB, 4 * _ONE_VCPU_MB,
                  _MAX_MEMORY_MB)
PER_MILLION = 1_000_000


def sweep(handler: Callable[..., Any] | None = None, *, source: str = CPU_BOUND_SOURCE,
          handler_name: str | None = None,
          memory_sizes: Sequence[int] = SWEEP_MEMORY, architectures: Sequence[str] = ("x86_64", "arm64"),
          invocations: int = SWEEP_INVOCATIONS, payload: Any = None, seed: int = 1) -> SweepResult:
    """A Power Tuning-style sweep (``labkit.tuning.power_tune``) of one handler: a handler
    function, or a module's text in ``source`` whose entry point is ``handler_name``
    (default: the first ``def`` in it). Returns the ``SweepResult``."""
    options = dict(memory_sizes=memory_sizes, architectures=architectures, invocations=invocations,
                   payload=payload, seed=seed, timeout_s=60)
    if handler is not None:
        return power_tune(handler, **options)
    name = handler_name or source.split("def ", 1)[1].split("(", 1)[0]
    return power_tune(source=source, handler_name=name, **options)


def sweep_table(results: Mapping[str, SweepResult], architecture: str = "x86_64") -> pd.DataFrame:
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


def architecture_table(result: SweepResult) -> pd.DataFrame:
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
        "arm64 saves": [f"{1 - a / x:.0%}"
                        for a, x in zip(arm.loc[x86.index, "avg_cost_usd"], x86["avg_cost_usd"], strict=True)],
    })


def threads_curve(memory_sizes: Iterable[int] = THREADS_MEMORY, handler: Callable[..., Any] | None = None,
                  seed: int = 1) -> pd.DataFrame:
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


# ---------------------------------------------------------------------------------------------
# The scavenger (handlers/scavenger.py; the notebook shows the same module in a cell of its own)
# ---------------------------------------------------------------------------------------------

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


def table_items(stale: int = STALE_ITEMS, fresh: int = FRESH_ITEMS) -> list[dict[str, Any]]:
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
    return validation.integer(name, value, lo, hi, allowed=f"{what}: an integer from {lo:,} to {hi:,}")


def deploy(lab: Lab, handler: Handler | None, name: str, **config: Any) -> Function:
    """Deploy ``handler`` (a function, a module's text, or None for ``SCAVENGER_SOURCE``) as ``name``."""
    if handler is None or isinstance(handler, str):
        return lab.function(source=handler or SCAVENGER_SOURCE, name=name, **config)
    return lab.function(handler, name=name, **config)


def scavenger_lab(seed: int, write_units_per_s: float = WRITE_UNITS_PER_S) -> Lab:
    """A fresh ``Lab(seed=seed)`` with the ``workers`` table (``table_items()``), its latency and the
    write capacity left for the scavenger."""
    lab = Lab(seed=seed)
    lab.dynamodb_table(TABLE, key="worker_id", key_type="N", sort_key="start_time", items=table_items(),
                       latency_s=TABLE_LATENCY_S, write_units_per_s=write_units_per_s)
    return lab


def _stale_left(lab):
    return sum(1 for it in lab.services.dynamodb.tables[TABLE].items()
               if it["completed"] == 1 and it["age_h"] > MAX_AGE_H)


def _run_plan(lab, fn, events, parallel, limit=MAX_INVOCATIONS):
    """Send ``events`` (all at once if ``parallel``, else one after another) and send again,
    in a next round, every event whose invocation did not finish (the 15-minute limit),
    as a Step Functions Retry or a person re-running the job would. Stops when the table is
    clean or after ``limit`` invocations. Returns every invocation as one DataFrame."""
    frames, pending = [], list(events)
    while pending and sum(len(f) for f in frames) < limit:
        batch = list(pending) if parallel else pending[:1]
        run = lab.invoke(fn, lk.workload.parallel(len(batch), payload=batch.__getitem__))
        inv = run.invocations
        frames.append(inv)
        outcome = dict(zip(inv["event_id"], inv["outcome"], strict=True))
        unfinished = [e for e, eid in zip(batch, run.event_ids, strict=False) if outcome.get(eid) != SUCCESS]
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
        "timeouts": int((inv["outcome"] == TIMEOUT).sum()),
        "throttled_writes": throttled,
        "fits_in_time_limit": bool((inv["outcome"] == SUCCESS).all()) and not _stale_left(lab),
        "delete_times_s": sorted(deletes),
        "invocation_ends_s": sorted(float(e) - t0 for e in inv["end_s"]),
    }


def scavenge(memory_mb: int = 512, readers: int = 10, deleters: int = 10, seed: int = 1, architecture: str = "x86_64",
             handler: Handler | None = None, write_units_per_s: float = WRITE_UNITS_PER_S) -> dict[str, Any]:
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
    lab = scavenger_lab(seed, write_units_per_s)
    fn = deploy(lab, handler, "scavenger", memory_mb=memory_mb, architecture=architecture,
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


def article_runs(seed: int = 1, handler: Handler | None = None) -> list[dict[str, Any]]:
    """``scavenge`` for each of the article's configurations: a list of result dicts,
    each with the article's own figures added (``article_billed_ms``, ``article_cost_usd``)."""
    out = []
    for mem, readers, deleters, billed, cost in ARTICLE_RUNS:
        r = scavenge(mem, readers, deleters, seed=seed, handler=handler)
        r.update(article_billed_ms=billed, article_cost_usd=cost)
        out.append(r)
    return out


def results_table(results: Iterable[dict[str, Any]], article: bool = False) -> pd.DataFrame:
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


# ---------------------------------------------------------------------------------------------
# Fan-out: the same job over many invocations
# ---------------------------------------------------------------------------------------------


FAN_OUT_VIA = ("map", "invoke")


def fan_out(workers: int = 10, memory_mb: int = 128, deleters: int = 1, via: str = "map",
            coordinator_memory_mb: int = 128, seed: int = 1, handler: Handler | None = None,
            coordinator: Handler | None = None, write_units_per_s: float = WRITE_UNITS_PER_S) -> dict[str, Any]:
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
    lab = scavenger_lab(seed, write_units_per_s)
    timeout = facts.TIMEOUT_S_RANGE[1]
    worker = deploy(lab, handler, "scavenger", memory_mb=memory_mb, timeout_s=timeout)
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


def plans(seed: int = 1, handler: Handler | None = None,
          coordinator: Handler | None = None) -> list[tuple[str, dict[str, Any]]]:
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


def plans_table(labelled: Iterable[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
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
