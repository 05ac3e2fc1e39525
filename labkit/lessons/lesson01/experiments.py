"""Lesson 01 · Stateless vs stateful: the experiments.

Everything here is a pure function of its arguments (and a seed): it builds a fresh
``Lab``, runs handler code in it and returns plain data, so the notebook, the widget
and the tests all call the same code and get the same numbers.

The handlers are ordinary boto3 modules in ``handlers/`` (``READ_MODIFY_WRITE``,
``ATOMIC_UPDATE``, ``CONDITIONAL_WRITE``, ... are their texts): the notebook shows the
same text in its handler cells, and any function below that takes a ``handler`` accepts
either a handler function (its notebook cell is its module) or such text.

Experiments
    ``counter_race`` / ``lost_updates``   one counter, ``concurrency`` callers, one strategy
    ``lost_updates_curve``                lost updates across concurrencies and work times
    ``race_timeline``                     a few racing calls, request by request
    ``single_owner``                      the counter behind one writer (reserved concurrency 1)
    ``carry_state``                       state handed back to the caller instead of kept
    ``at_least_once``                     asynchronous delivery with duplicates
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit import exercises as ex
from labkit import validation, workload
from labkit.errors import InvalidParameterValueException
from labkit.lab import Lab
from labkit.records import SUCCESS, THROTTLED
from labkit.run import Run
from labkit.workload import Workload

from .handlers import ATOMIC_UPDATE, CONDITIONAL_WRITE, READ_MODIFY_WRITE

if TYPE_CHECKING:
    from labkit.runtime import Function

# A handler: a ``def handler(event, context)`` function (its notebook cell is its module), or a module's text.
Handler = Callable[..., Any] | str

# ---------------------------------------------------------------------------------------------
# The counter: one item in a simulated DynamoDB table
# ---------------------------------------------------------------------------------------------

COUNTER_TABLE = "counters"
COUNTER_ID = "page-views"
COUNTER_ATTR = "hits"       # not "views" or "count": both are DynamoDB reserved words

# Long enough that a conditional write retrying under heavy contention is not cut off.
RACE_TIMEOUT_S = 60

STRATEGIES = {
    "read-modify-write": READ_MODIFY_WRITE,
    "atomic update": ATOMIC_UPDATE,
    "conditional write + retry": CONDITIONAL_WRITE,
}


def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` if it is an integer (not a bool) from ``lo`` to ``hi``, else the error AWS would give."""
    return validation.integer(name, value, lo, hi)


def check_number(name: str, value: Any, lo: float, hi: float) -> float:
    """``value`` if it is a finite number (not a bool) from ``lo`` to ``hi``, else the error AWS would give."""
    return validation.number(name, value, lo, hi)


def deploy(lab: Lab, handler: Handler, name: str, **options: Any) -> Function:
    """Deploy ``handler`` in ``lab`` as ``name``: a handler function (its cell is its module)
    or a module's text. ``options``: the function's configuration (``timeout_s``, ...)."""
    if isinstance(handler, str):
        return lab.function(source=textwrap.dedent(handler), name=name, **options)
    if callable(handler):
        return lab.function(handler, name=name, **options)
    raise InvalidParameterValueException("handler", handler, "a handler function or its module's text")


def _counter_lab(seed):
    lab = Lab(seed=seed)
    lab.dynamodb_table(COUNTER_TABLE, items=[{"id": COUNTER_ID, COUNTER_ATTR: 0}])
    return lab


def _counter_history(lab, t0):
    """``(time_s, value)`` of every write that changed the counter, times relative to ``t0``."""
    out = []
    for rec in lab.services.dynamodb.records:
        if rec.resource == COUNTER_TABLE and rec.outcome == "ok" and rec.operation in ("PutItem", "UpdateItem"):
            _params, item = rec.detail   # the request, and the item as written
            if item is not None and COUNTER_ATTR in item:
                out.append((round(rec.time_s - t0, 6), int(item[COUNTER_ATTR])))
    return out


def _final_hits(lab):
    item = lab.services.dynamodb.tables[COUNTER_TABLE].item(id=COUNTER_ID)
    return int(item[COUNTER_ATTR])


def _counters(lab):
    c = lab.services.dynamodb.tables[COUNTER_TABLE].counters()
    requests = sum(v for k, v in c.items() if k not in ("conditional_failures", "throttles"))
    return requests, c["conditional_failures"]


def counter_race(concurrency: int = 10, work_ms: float = 50, calls: int = 100, seed: int = 1,
                 strategy: str = "read-modify-write", handler: Handler | None = None) -> dict[str, Any]:
    """``concurrency`` callers each make ``ceil(calls / concurrency)`` calls, one after another,
    to a handler that adds 1 to one counter item; return what happened as plain data.

    ``strategy`` names one of ``STRATEGIES``; or pass your own ``handler`` (a function or
    module text that reads ``event["work_s"]``), and ``strategy`` is then just its label.
    ``work_ms`` is the work each call does between reading the counter and writing it (for
    the read-modify-write handler: the window in which another call can overwrite it).

    Returns a dict: ``strategy``, ``concurrency``, ``work_ms``, ``calls`` (calls that
    succeeded, i.e. increments acknowledged to a caller), ``errors``, ``final`` (the
    counter's value at the end), ``lost`` (``calls - final``), ``lost_pct``,
    ``dynamodb_requests``, ``conditional_failures``, ``duration_p99_ms``, ``finished_s``
    (when the last call returned), ``acknowledged`` (end time of each successful call)
    and ``history`` (``(time_s, value)`` of each write to the counter).
    """
    check_int("concurrency", concurrency, 1, 200)
    check_number("work_ms", work_ms, 0, 2000)
    check_int("calls", calls, 1, 2000)
    if handler is None:
        if strategy not in STRATEGIES:
            raise InvalidParameterValueException("strategy", strategy, f"one of {list(STRATEGIES)}")
        handler = STRATEGIES[strategy]
    lab = _counter_lab(seed)
    fn = deploy(lab, handler, "counter", timeout_s=RACE_TIMEOUT_S)
    per_caller = -(-calls // concurrency)
    event = {"work_s": work_ms / 1000}
    run = lab.invoke(fn, workload.closed_loop(concurrency, requests_per_client=per_caller,
                                              payload=lambda i: dict(event)))
    inv = run.invocations
    ok = inv[inv["outcome"] == SUCCESS]
    succeeded = int(len(ok))
    final = _final_hits(lab)
    requests, refused = _counters(lab)
    return {
        "strategy": strategy,
        "concurrency": concurrency, "work_ms": work_ms,
        "calls": succeeded, "errors": int(len(inv) - succeeded), "final": final,
        "lost": succeeded - final, "lost_pct": round(100.0 * (succeeded - final) / succeeded, 1) if succeeded else 0.0,
        "dynamodb_requests": requests, "conditional_failures": refused,
        "duration_p99_ms": round(float(inv["duration_ms"].quantile(0.99)), 1),
        "finished_s": round(run.t1 - run.t0, 3),
        "acknowledged": sorted(round(t - run.t0, 6) for t in ok["end_s"]),
        "history": _counter_history(lab, run.t0),
    }


def race_timeline(handler: Handler = READ_MODIFY_WRITE, callers: int = 3, work_ms: float = 50, seed: int = 1) -> str:
    """Text: ``callers`` calls at the same moment, one increment each, and every DynamoDB
    request they made, in simulated time (``labkit.exercises.Trial.timeline``)."""
    check_int("callers", callers, 1, 20)
    trial = ex.run_scenario(handler, ex.Scenario(callers, 1, seed),
                            setup=lambda lab: lab.dynamodb_table(COUNTER_TABLE,
                                                                 items=[{"id": COUNTER_ID, COUNTER_ATTR: 0}]),
                            event=lambda i: {"work_s": work_ms / 1000})
    final = int(trial.table(COUNTER_TABLE).item(id=COUNTER_ID)[COUNTER_ATTR])
    return f"{trial.timeline()}\n\n{callers} increments, counter at the end: {final}"


def lost_updates(concurrency: int = 10, work_ms: float = 50, calls: int = 100, seed: int = 1) -> int:
    """How many increments the read-modify-write counter loses (``counter_race(...)["lost"]``)."""
    return counter_race(concurrency, work_ms, calls, seed)["lost"]


def lost_updates_curve(concurrencies: Iterable[int] = (1, 2, 5, 10, 20, 50), work_ms: Iterable[float] = (0, 50, 200),
                       calls: int = 100, seed: int = 1) -> pd.DataFrame:
    """``lost_updates`` for every (work time, concurrency) pair: a DataFrame with columns
    ``work_ms``, ``concurrency``, ``calls``, ``lost``, ``lost_pct``."""
    rows = []
    for w in work_ms:
        for c in concurrencies:
            r = counter_race(c, w, calls, seed)
            rows.append({"work_ms": w, "concurrency": c, "calls": r["calls"], "lost": r["lost"],
                         "lost_pct": r["lost_pct"]})
    return pd.DataFrame(rows, columns=["work_ms", "concurrency", "calls", "lost", "lost_pct"])


# ---------------------------------------------------------------------------------------------
# A single owner: reserved concurrency 1, fed asynchronously
# ---------------------------------------------------------------------------------------------

def single_owner(handler: Handler = READ_MODIFY_WRITE, increments: int = 100, rate_per_s: float = 20,
                 work_ms: float = 50, seed: int = 1) -> dict[str, Any]:
    """Route every increment through one writer: the counter's function gets reserved
    concurrency 1 and is invoked asynchronously (Lambda's internal queue holds events
    while the one environment is busy, and retries throttled ones). ``increments``
    events arrive at ``rate_per_s``.

    Returns a dict with the keys of ``counter_race`` that apply (``calls``, ``final``,
    ``lost``, ``dynamodb_requests``, ``conditional_failures``, ``duration_p99_ms``,
    ``finished_s``: when the last increment was applied) plus ``environments``,
    ``max_concurrency`` and ``throttles``.
    """
    check_int("increments", increments, 1, 2000)
    check_number("rate_per_s", rate_per_s, 0.01, 1000)
    check_number("work_ms", work_ms, 0, 2000)
    lab = _counter_lab(seed)
    fn = deploy(lab, handler, "counter-owner", timeout_s=RACE_TIMEOUT_S, reserved_concurrency=1)
    event = {"work_s": work_ms / 1000}
    run = lab.invoke_async(fn, workload.constant(rate_per_s, increments / rate_per_s,
                                                 payload=lambda i: dict(event)))
    inv = run.invocations
    ran = inv[inv["outcome"] != THROTTLED]
    ok = inv[inv["outcome"] == SUCCESS]
    final = _final_hits(lab)
    requests, refused = _counters(lab)
    history = _counter_history(lab, run.t0)
    last_write_s, _ = history[-1] if history else (0.0, None)   # when the last increment was applied
    s = run.summary()
    return {
        "strategy": "single owner", "calls": int(len(ok)),
        "errors": int((ran["outcome"] != SUCCESS).sum()), "final": final, "lost": int(len(ok)) - final,
        "lost_pct": round(100.0 * (len(ok) - final) / len(ok), 1) if len(ok) else 0.0,
        "dynamodb_requests": requests, "conditional_failures": refused,
        "duration_p99_ms": round(float(ran["duration_ms"].quantile(0.99)), 1),
        "finished_s": round(last_write_s, 3),
        "environments": s["environments"], "max_concurrency": s["max_concurrency"], "throttles": s["throttles"],
    }


# result key -> column heading of the comparison table
COMPARISON_COLUMNS = {"strategy": "strategy", "calls": "increments", "final": "counter", "lost": "lost",
                      "dynamodb_requests": "DynamoDB requests", "conditional_failures": "refused writes",
                      "duration_p99_ms": "p99 duration (ms)", "finished_s": "all done after (s)"}


def comparison(results: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A table of ``counter_race``/``single_owner`` results, one row each, with the columns of
    ``COMPARISON_COLUMNS`` under their headings."""
    return pd.DataFrame([{h: r.get(k) for k, h in COMPARISON_COLUMNS.items()} for r in results],
                        columns=list(COMPARISON_COLUMNS.values()))


# ---------------------------------------------------------------------------------------------
# Module-level state, and state returned to the caller
# ---------------------------------------------------------------------------------------------

def calls_table(run: Run, field: str = "count") -> pd.DataFrame:
    """One row per call of ``run``: start time, environment, cold/warm, and ``response[field]``."""
    inv = run.invocations
    table = inv[["start_s", "environment_id", "start_type"]].copy()
    table["start_s"] = table["start_s"].round(2)
    table[field] = inv["response"].map(lambda r: r.get(field) if isinstance(r, dict) else None)
    return table


def per_environment(run: Run, field: str = "count") -> pd.DataFrame:
    """One row per execution environment: calls it served and the last ``field`` it returned."""
    t = calls_table(run, field)
    g = t.groupby("environment_id", sort=True)
    out = pd.DataFrame({"calls served": g.size(), f"last {field} returned": g[field].last()}).reset_index()
    return out


def carry_state(handler: Handler, callers: int = 3, rounds: int = 4, seed: int = 1) -> pd.DataFrame:
    """``callers`` clients each keep their own state and send it with every call; all of them
    call at the same moment, ``rounds`` times. The handler gets ``{"caller": k, "state": ...}``
    and must return ``{"state": ...}``: the caller sends that state with its next call.
    Returns a DataFrame: round, caller, environment_id, state returned."""
    check_int("callers", callers, 1, 50)
    check_int("rounds", rounds, 1, 50)
    lab = Lab(seed=seed)
    fn = deploy(lab, handler, "carry-state")
    states = {k: None for k in range(callers)}
    rows = []
    for r in range(1, rounds + 1):
        run = lab.invoke(fn, workload.parallel(callers, payload=lambda i: {"caller": i, "state": states[i]}))
        for _, row in run.invocations.iterrows():
            k = int(row["response"]["caller"])
            states[k] = row["response"]["state"]
            rows.append({"round": r, "caller": k, "environment_id": row["environment_id"], "state": states[k]})
        lab.advance(1.0)
    return pd.DataFrame(rows).sort_values(["round", "caller"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# At-least-once delivery
# ---------------------------------------------------------------------------------------------

STATS_TABLE, SEEN_TABLE = "order-stats", "seen-orders"

# A duplicate delivery is scheduled up to a second after its original, but Lab.invoke_async
# returns once the originals are settled: let the clock run on so the late copies run too.
DUPLICATE_GRACE_S = 5.0


def invoke_async_with_duplicates(lab: Lab, fn: Function, wl: Workload, duplicate_rate: float) -> tuple[Run, int]:
    """``lab.invoke_async`` plus the grace time for late duplicates; returns the Run and the
    number of deliveries that ran (the Run's records miss the late copies; the account's
    buffer holds every record since the run began, the grace time's included)."""
    run = lab.invoke_async(fn, wl, duplicate_rate=duplicate_rate)
    lab.advance(DUPLICATE_GRACE_S)
    ran = sum(1 for r in lab.account.records if r.function == fn.name and r.outcome != THROTTLED)
    return run, ran


def at_least_once(handler: Handler, orders: int = 100, duplicate_rate: float = 0.1, rate_per_s: float = 20,
                  seed: int = 1) -> dict[str, Any]:
    """Send ``orders`` distinct orders (``{"order_id": "order-0001"}``, ...) to ``handler``
    asynchronously, with Lambda's queue delivering a share ``duplicate_rate`` of them twice.
    Returns a dict: ``orders``, ``deliveries`` (invocations that ran), ``duplicates``
    (second deliveries), ``counted`` (the ``orders_placed`` counter at the end),
    ``overcount`` and ``event_states``."""
    check_int("orders", orders, 1, 2000)
    check_number("duplicate_rate", duplicate_rate, 0, 1)
    check_number("rate_per_s", rate_per_s, 0.01, 1000)
    lab = Lab(seed=seed)
    lab.dynamodb_table(STATS_TABLE, items=[{"id": "today", "orders_placed": 0}])
    lab.dynamodb_table(SEEN_TABLE)
    fn = deploy(lab, handler, "count-orders")
    run, deliveries = invoke_async_with_duplicates(
        lab, fn, workload.constant(rate_per_s, orders / rate_per_s,
                                   payload=lambda i: {"order_id": f"order-{i + 1:04d}"}), duplicate_rate)
    counted = int(lab.services.dynamodb.tables[STATS_TABLE].item(id="today")["orders_placed"])
    return {"orders": orders, "deliveries": deliveries,
            "duplicates": int(run.async_events["duplicates"].sum()), "counted": counted,
            "overcount": counted - orders, "event_states": run.event_states()}


