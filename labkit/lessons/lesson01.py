"""Lesson 01 · Stateless vs stateful: the experiments, the widget and the two exercises.

Everything here is a pure function of its arguments (and a seed): it builds a fresh
``Lab``, runs handler code in it and returns plain data, so the notebook, the widget
and the tests all call the same code and get the same numbers.

The handlers are ordinary boto3 code kept as module text (``READ_MODIFY_WRITE``,
``ATOMIC_UPDATE``, ``CONDITIONAL_WRITE``, ...): the notebook shows the same text in
its handler cells, and any function below that takes a ``handler`` accepts either a
handler function (its notebook cell is its module) or such text.

Experiments
    ``counter_race`` / ``lost_updates``   one counter, ``concurrency`` callers, one strategy
    ``lost_updates_curve``                lost updates across concurrencies and work times
    ``single_owner``                      the counter behind one writer (reserved concurrency 1)
    ``carry_state``                       state handed back to the caller instead of kept
    ``at_least_once``                     asynchronous delivery with duplicates

Exercises (``labkit.exercises``)
    ``transfer_exercise``      a transfer between accounts, correct at concurrency 50
    ``idempotency_exercise``   a payment handler that applies each payment once, whatever
                               the redelivery
"""

import textwrap

import pandas as pd

from .. import exercises as ex
from .. import workload
from ..errors import InvalidParameterValueException
from ..lab import Lab
from ..records import THROTTLED
from ..services.base import show

# ---------------------------------------------------------------------------------------------
# The counter: one item in a simulated DynamoDB table
# ---------------------------------------------------------------------------------------------

COUNTER_TABLE = "counters"
COUNTER_ID = "page-views"
COUNTER_ATTR = "hits"       # not "views" or "count": both are DynamoDB reserved words

# Long enough that a conditional write retrying under heavy contention is not cut off.
RACE_TIMEOUT_S = 60

READ_MODIFY_WRITE = '''\
import random

import boto3
import labkit as lk

table = boto3.resource("dynamodb").Table("counters")


def handler(event, context):
    lk.sleep(random.uniform(0.05, 0.15))                       # other work: parse the request, check the user
    item = table.get_item(Key={"id": "page-views"})["Item"]    # 1. read the counter
    lk.sleep(event["work_s"])                                  # 2. work between the read and the write
    new_hits = item["hits"] + 1
    table.put_item(Item={"id": "page-views", "hits": new_hits})   # 3. write the new value back
    return {"hits": int(new_hits)}
'''

ATOMIC_UPDATE = '''\
import random

import boto3
import labkit as lk

table = boto3.resource("dynamodb").Table("counters")


def handler(event, context):
    lk.sleep(random.uniform(0.05, 0.15))      # the same other work as before
    lk.sleep(event["work_s"])                 # the same work, but no read comes before it
    result = table.update_item(               # DynamoDB adds 1 to the stored value, in one request
        Key={"id": "page-views"},
        UpdateExpression="ADD hits :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return {"hits": int(result["Attributes"]["hits"])}
'''

CONDITIONAL_WRITE = '''\
import random

import boto3
import labkit as lk
from botocore.exceptions import ClientError

table = boto3.resource("dynamodb").Table("counters")


def handler(event, context):
    lk.sleep(random.uniform(0.05, 0.15))
    attempt = 0
    while True:
        attempt += 1
        item = table.get_item(Key={"id": "page-views"})["Item"]        # read
        lk.sleep(event["work_s"])                                      # work
        try:
            table.put_item(                                            # write, but only if the value
                Item={"id": "page-views", "hits": item["hits"] + 1},   # is still the one we read
                ConditionExpression="hits = :seen",
                ExpressionAttributeValues={":seen": item["hits"]},
            )
            return {"hits": int(item["hits"]) + 1, "attempts": attempt}
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            lk.sleep(random.uniform(0, 0.01 * attempt))   # someone wrote first: wait a moment, read again
'''

STRATEGIES = {
    "read-modify-write": READ_MODIFY_WRITE,
    "atomic update": ATOMIC_UPDATE,
    "conditional write + retry": CONDITIONAL_WRITE,
}


def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterValueException(name, value, f"an integer from {lo} to {hi}")
    return value


def _check_number(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise InvalidParameterValueException(name, value, f"a number from {lo} to {hi}")
    return value


def _deploy(lab, handler, name, **options):
    """A handler function (its cell is its module) or a module's text."""
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
            item = rec.detail[1]
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


def counter_race(concurrency=10, work_ms=50, calls=100, seed=1, strategy="read-modify-write", handler=None):
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
    _check_int("concurrency", concurrency, 1, 200)
    _check_number("work_ms", work_ms, 0, 2000)
    _check_int("calls", calls, 1, 2000)
    if handler is None:
        if strategy not in STRATEGIES:
            raise InvalidParameterValueException("strategy", strategy, f"one of {list(STRATEGIES)}")
        handler = STRATEGIES[strategy]
    lab = _counter_lab(seed)
    fn = _deploy(lab, handler, "counter", timeout_s=RACE_TIMEOUT_S)
    per_caller = -(-calls // concurrency)
    event = {"work_s": work_ms / 1000}
    run = lab.invoke(fn, workload.closed_loop(concurrency, requests_per_client=per_caller,
                                              payload=lambda i: dict(event)))
    inv = run.invocations
    ok = inv[inv["outcome"] == "success"]
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


def race_timeline(handler=READ_MODIFY_WRITE, callers=3, work_ms=50, seed=1):
    """Text: ``callers`` calls at the same moment, one increment each, and every DynamoDB
    request they made, in simulated time (``labkit.exercises.Trial.timeline``)."""
    _check_int("callers", callers, 1, 20)
    trial = ex.run_scenario(handler, ex.Scenario(callers, 1, seed),
                            setup=lambda lab: lab.dynamodb_table(COUNTER_TABLE,
                                                                 items=[{"id": COUNTER_ID, COUNTER_ATTR: 0}]),
                            event=lambda i: {"work_s": work_ms / 1000})
    final = int(trial.table(COUNTER_TABLE).item(id=COUNTER_ID)[COUNTER_ATTR])
    return f"{trial.timeline()}\n\n{callers} increments, counter at the end: {final}"


def lost_updates(concurrency=10, work_ms=50, calls=100, seed=1):
    """How many increments the read-modify-write counter loses (``counter_race(...)["lost"]``)."""
    return counter_race(concurrency, work_ms, calls, seed)["lost"]


def lost_updates_curve(concurrencies=(1, 2, 5, 10, 20, 50), work_ms=(0, 50, 200), calls=100, seed=1):
    """``lost_updates`` for every (work time, concurrency) pair: a DataFrame with columns
    ``work_ms``, ``concurrency``, ``calls``, ``lost``, ``lost_pct``."""
    rows = []
    for w in work_ms:
        for c in concurrencies:
            r = counter_race(c, w, calls, seed)
            rows.append({"work_ms": w, "concurrency": c, "calls": r["calls"], "lost": r["lost"],
                         "lost_pct": r["lost_pct"]})
    return pd.DataFrame(rows, columns=["work_ms", "concurrency", "calls", "lost", "lost_pct"])


def plot_lost_updates(curve, ax=None):
    """Lost increments (%) against concurrency, one line per work time, with the limit in
    which every call overlaps every other (the counter then ends at calls / concurrency).
    Draws into ``ax``, or into a new figure in labkit's style; returns the Axes."""
    if ax is None:
        from ..widgets import run_and_plot
        return run_and_plot(lambda: curve, plot_lost_updates)
    from ..plots import OKABE_ITO, STYLE
    colours = [OKABE_ITO[k] for k in ("bluish_green", "blue", "vermillion", "reddish_purple", "orange")]
    cs = sorted(curve["concurrency"].unique())
    ax.plot(cs, [100.0 * (1 - 1 / c) for c in cs], ls=":", color=STYLE["colors"]["limit"],
            label="every call overlaps: 1 − 1/concurrency")
    for colour, (w, g) in zip(colours, curve.groupby("work_ms", sort=True)):
        ax.plot(g["concurrency"], g["lost_pct"], marker="o", color=colour, label=f"{w:g} ms between read and write")
    ax.set_xscale("log")
    ax.set_xticks(cs)
    ax.set_xticklabels([str(c) for c in cs])
    ax.minorticks_off()
    ax.set_ylim(-3, 103)
    ax.set_xlabel("concurrent callers")
    ax.set_ylabel("increments lost (%)")
    ax.set_title(f"Read-modify-write on one counter: lost updates grow with concurrency "
                 f"({int(curve['calls'].max())} increments per run)")
    ax.legend(loc="lower right")
    return ax


def plot_counter_race(race, ax):
    """The widget's plot: increments acknowledged to callers vs the value stored in the table."""
    from ..plots import STYLE
    colours = STYLE["colors"]
    ack = race["acknowledged"]
    # The blue line is drawn wider, so it still shows where the red one runs on top of it.
    ax.step([0.0] + ack, range(len(ack) + 1), where="post", color=colours["invocations"], lw=3.0,
            label="increments acknowledged to callers")
    hist = race["history"]
    ax.step([0.0] + [t for t, _ in hist], [0] + [v for _, v in hist], where="post",
            color=colours["throttles"], lw=1.5, label="value stored in the table")
    top = max(len(ack), 1)
    ax.set_ylim(0, top * 1.08)
    ax.set_xlim(0, max(race["finished_s"], 1e-3))
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("count")
    ax.set_title(f"{race['lost']} of {race['calls']} increments lost")
    ax.legend(loc="upper left")
    return ax


# ---------------------------------------------------------------------------------------------
# A single owner: reserved concurrency 1, fed asynchronously
# ---------------------------------------------------------------------------------------------

def single_owner(handler=READ_MODIFY_WRITE, increments=100, rate_per_s=20, work_ms=50, seed=1):
    """Route every increment through one writer: the counter's function gets reserved
    concurrency 1 and is invoked asynchronously (Lambda's internal queue holds events
    while the one environment is busy, and retries throttled ones). ``increments``
    events arrive at ``rate_per_s``.

    Returns a dict with the keys of ``counter_race`` that apply (``calls``, ``final``,
    ``lost``, ``dynamodb_requests``, ``conditional_failures``, ``duration_p99_ms``,
    ``finished_s``: when the last increment was applied) plus ``environments``,
    ``max_concurrency`` and ``throttles``.
    """
    _check_int("increments", increments, 1, 2000)
    _check_number("rate_per_s", rate_per_s, 0.01, 1000)
    _check_number("work_ms", work_ms, 0, 2000)
    lab = _counter_lab(seed)
    fn = _deploy(lab, handler, "counter-owner", timeout_s=RACE_TIMEOUT_S, reserved_concurrency=1)
    event = {"work_s": work_ms / 1000}
    run = lab.invoke_async(fn, workload.constant(rate_per_s, increments / rate_per_s,
                                                 payload=lambda i: dict(event)))
    inv = run.invocations
    ran = inv[inv["outcome"] != "throttled"]
    ok = inv[inv["outcome"] == "success"]
    final = _final_hits(lab)
    requests, refused = _counters(lab)
    history = _counter_history(lab, run.t0)
    s = run.summary()
    return {
        "strategy": "single owner", "calls": int(len(ok)),
        "errors": int((ran["outcome"] != "success").sum()), "final": final, "lost": int(len(ok)) - final,
        "lost_pct": round(100.0 * (len(ok) - final) / len(ok), 1) if len(ok) else 0.0,
        "dynamodb_requests": requests, "conditional_failures": refused,
        "duration_p99_ms": round(float(ran["duration_ms"].quantile(0.99)), 1),
        "finished_s": round(history[-1][0], 3) if history else 0.0,
        "environments": s["environments"], "max_concurrency": s["max_concurrency"], "throttles": s["throttles"],
    }


# result key -> column heading of the comparison table
COMPARISON_COLUMNS = {"strategy": "strategy", "calls": "increments", "final": "counter", "lost": "lost",
                      "dynamodb_requests": "DynamoDB requests", "conditional_failures": "refused writes",
                      "duration_p99_ms": "p99 duration (ms)", "finished_s": "all done after (s)"}


def comparison(results):
    """A table of ``counter_race``/``single_owner`` results, one row each, with the columns of
    ``COMPARISON_COLUMNS`` under their headings."""
    return pd.DataFrame([{h: r.get(k) for k, h in COMPARISON_COLUMNS.items()} for r in results],
                        columns=list(COMPARISON_COLUMNS.values()))


def prediction_note(prediction, answer):
    """The line a prediction cell prints: the answer, and how the prediction compares."""
    if prediction is None:
        return f"Answer: {answer}. (You made no prediction: set my_prediction and run both cells again.)"
    if prediction == answer:
        return f"Answer: {answer}. Your prediction was right."
    return f"Answer: {answer}. You predicted {prediction}. The output above shows why."


# ---------------------------------------------------------------------------------------------
# Module-level state, and state returned to the caller
# ---------------------------------------------------------------------------------------------

def calls_table(run, field="count"):
    """One row per call of ``run``: start time, environment, cold/warm, and ``response[field]``."""
    inv = run.invocations
    table = inv[["start_s", "environment_id", "start_type"]].copy()
    table["start_s"] = table["start_s"].round(2)
    table[field] = inv["response"].map(lambda r: r.get(field) if isinstance(r, dict) else None)
    return table


def per_environment(run, field="count"):
    """One row per execution environment: calls it served and the last ``field`` it returned."""
    t = calls_table(run, field)
    g = t.groupby("environment_id", sort=True)
    out = pd.DataFrame({"calls served": g.size(), f"last {field} returned": g[field].last()}).reset_index()
    return out


def carry_state(handler, callers=3, rounds=4, seed=1):
    """``callers`` clients each keep their own state and send it with every call; all of them
    call at the same moment, ``rounds`` times. The handler gets ``{"caller": k, "state": ...}``
    and must return ``{"state": ...}``: the caller sends that state with its next call.
    Returns a DataFrame: round, caller, environment_id, state returned."""
    _check_int("callers", callers, 1, 50)
    _check_int("rounds", rounds, 1, 50)
    lab = Lab(seed=seed)
    fn = _deploy(lab, handler, "carry-state")
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

COUNT_ORDERS = '''\
import boto3

stats = boto3.resource("dynamodb").Table("order-stats")


def handler(event, context):
    stats.update_item(                        # count the order: +1, atomically
        Key={"id": "today"},
        UpdateExpression="ADD orders_placed :one",
        ExpressionAttributeValues={":one": 1},
    )
    return {"counted": event["order_id"]}
'''

COUNT_ORDERS_IDEMPOTENT = '''\
import boto3
from botocore.exceptions import ClientError

stats = boto3.resource("dynamodb").Table("order-stats")
seen = boto3.resource("dynamodb").Table("seen-orders")


def handler(event, context):
    try:
        seen.put_item(                                     # claim this order id, once and for all:
            Item={"id": event["order_id"]},                # the put succeeds only if no item
            ConditionExpression="attribute_not_exists(id)",  # with this id exists yet
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return {"duplicate": event["order_id"]}        # already counted: succeed, change nothing
        raise
    stats.update_item(
        Key={"id": "today"},
        UpdateExpression="ADD orders_placed :one",
        ExpressionAttributeValues={":one": 1},
    )
    return {"counted": event["order_id"]}
'''


# A duplicate delivery is scheduled up to a second after its original, but Lab.invoke_async
# returns once the originals are settled: let the clock run on so the late copies run too.
DUPLICATE_GRACE_S = 5.0


def _async_with_duplicates(lab, fn, wl, duplicate_rate):
    """``lab.invoke_async`` plus the grace time for late duplicates; returns the Run and the
    number of deliveries that ran (the Run's records miss the late copies; the account's
    buffer holds every record since the run began, the grace time's included)."""
    run = lab.invoke_async(fn, wl, duplicate_rate=duplicate_rate)
    lab.advance(DUPLICATE_GRACE_S)
    ran = sum(1 for r in lab.account.records if r.function == fn.name and r.outcome != THROTTLED)
    return run, ran


def at_least_once(handler, orders=100, duplicate_rate=0.1, rate_per_s=20, seed=1):
    """Send ``orders`` distinct orders (``{"order_id": "order-0001"}``, ...) to ``handler``
    asynchronously, with Lambda's queue delivering a share ``duplicate_rate`` of them twice.
    Returns a dict: ``orders``, ``deliveries`` (invocations that ran), ``duplicates``
    (second deliveries), ``counted`` (the ``orders_placed`` counter at the end),
    ``overcount`` and ``event_states``."""
    _check_int("orders", orders, 1, 2000)
    lab = Lab(seed=seed)
    lab.dynamodb_table(STATS_TABLE, items=[{"id": "today", "orders_placed": 0}])
    lab.dynamodb_table(SEEN_TABLE)
    fn = _deploy(lab, handler, "count-orders")
    run, deliveries = _async_with_duplicates(
        lab, fn, workload.constant(rate_per_s, orders / rate_per_s,
                                   payload=lambda i: {"order_id": f"order-{i + 1:04d}"}), duplicate_rate)
    counted = int(lab.services.dynamodb.tables[STATS_TABLE].item(id="today")["orders_placed"])
    return {"orders": orders, "deliveries": deliveries,
            "duplicates": int(run.async_events["duplicates"].sum()), "counted": counted,
            "overcount": counted - orders, "event_states": run.event_states()}


# ---------------------------------------------------------------------------------------------
# Exercise 1: a transfer between accounts, correct at concurrency 50
# ---------------------------------------------------------------------------------------------

ACCOUNTS_TABLE = "accounts"
OPENING_BALANCES = {"acct-A": 100, "acct-B": 100, "acct-C": 100}
# acct-D does not exist (it was closed): a transfer to it must be refused.
TRANSFERS = (
    ("acct-A", "acct-B", 60),
    ("acct-A", "acct-C", 60),
    ("acct-B", "acct-D", 20),
    ("acct-C", "acct-A", 50),
    ("acct-B", "acct-C", 100),
    ("acct-C", "acct-A", 120),
    ("acct-A", "acct-B", 80),
    ("acct-A", "acct-D", 10),
)

TRANSFER_STARTER = '''\
import boto3

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    amount = event["amount"]
    source = accounts.get_item(Key={"id": event["from"]}).get("Item")
    target = accounts.get_item(Key={"id": event["to"]}).get("Item")
    if source is None or target is None:
        return {"status": "refused", "reason": "no such account"}
    if source["balance"] < amount:
        return {"status": "refused", "reason": "insufficient funds"}
    accounts.put_item(Item={"id": source["id"], "balance": source["balance"] - amount})
    accounts.put_item(Item={"id": target["id"], "balance": target["balance"] + amount})
    return {"status": "done"}
'''

TRANSFER_SOLUTION = '''\
import boto3
from botocore.exceptions import ClientError

accounts = boto3.resource("dynamodb").Table("accounts")


def refused(e):
    return e.response["Error"]["Code"] == "ConditionalCheckFailedException"


def handler(event, context):
    amount = event["amount"]
    # 1. Debit, but only if the money is there: the check and the change are one request.
    try:
        accounts.update_item(
            Key={"id": event["from"]},
            UpdateExpression="ADD balance :minus",
            ConditionExpression="balance >= :amount",
            ExpressionAttributeValues={":minus": -amount, ":amount": amount},
        )
    except ClientError as e:
        if refused(e):
            return {"status": "refused", "reason": "insufficient funds (or no such account)"}
        raise
    # 2. Credit, but only an account that exists (ADD on a missing item would create it).
    try:
        accounts.update_item(
            Key={"id": event["to"]},
            UpdateExpression="ADD balance :amount",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":amount": amount},
        )
    except ClientError as e:
        if not refused(e):
            raise
        # 3. Compensate: give the money back (an ADD always succeeds on an existing account).
        accounts.update_item(
            Key={"id": event["from"]},
            UpdateExpression="ADD balance :amount",
            ExpressionAttributeValues={":amount": amount},
        )
        return {"status": "refused", "reason": "no such account"}
    return {"status": "done"}
'''

TRANSFER_HINTS = (
    "Look at what the starter did to the total with 50 transfers at once (lesson01.transfer_demo). Where can "
    "extra money come from? Two transfers read the same balance, and each writes back its own result.",
    "Don't read, decide and write back. Let DynamoDB check and change a balance in ONE request: "
    "update_item with an UpdateExpression that ADDs a negative amount, and a ConditionExpression that "
    "only lets it happen while the balance is large enough. Catch botocore's ClientError and look at "
    "e.response[\"Error\"][\"Code\"] == \"ConditionalCheckFailedException\".",
    "Debit the source first (conditionally). Then credit the destination with a condition that it exists "
    "(attribute_exists(id)): ADD on a missing item would create it. If that credit is refused, put the money "
    "back into the source before you return {\"status\": \"refused\"}.",
)


def transfer_event(i):
    """Call ``i``'s event: the transfers of ``TRANSFERS``, in a cycle."""
    src, dst, amount = TRANSFERS[i % len(TRANSFERS)]
    return {"transfer_id": f"t-{i + 1:03d}", "from": src, "to": dst, "amount": amount}


def transfer_setup(lab):
    lab.dynamodb_table(ACCOUNTS_TABLE, items=[{"id": k, "balance": v} for k, v in OPENING_BALANCES.items()])


def expected_sequential(n):
    """What ``n`` transfers one after another must do: (statuses, final balances)."""
    bal = dict(OPENING_BALANCES)
    statuses = []
    for i in range(n):
        e = transfer_event(i)
        if e["from"] in bal and e["to"] in bal and bal[e["from"]] >= e["amount"]:
            bal[e["from"]] -= e["amount"]
            bal[e["to"]] += e["amount"]
            statuses.append("done")
        else:
            statuses.append("refused")
    return statuses, bal


def _balances(trial):
    return {it["id"]: it.get("balance") for it in trial.table(ACCOUNTS_TABLE).items()}


def _num(v):
    return int(v) if v == int(v) else float(v)


def _first_overdraft(trial, statuses, acct):
    """(call number, balance before it) of the first call, in a one-caller scenario, whose
    reported-done transfer took more from ``acct`` than the account held; None if none did."""
    bal = dict(OPENING_BALANCES)
    for n, status in enumerate(statuses, start=1):
        if status != "done":
            continue
        e = trial.events[n - 1]
        if e["from"] == acct and bal[acct] < e["amount"]:
            return n, _num(bal[acct])
        if e["from"] in bal:
            bal[e["from"]] -= e["amount"]
        if e["to"] in bal:
            bal[e["to"]] += e["amount"]
    return None


def verify_transfers(trial):
    """None if the scenario's transfers kept the books right, else a message (and calls to show)."""
    raised = [f for f in trial.failures if f[1] == "ConditionalCheckFailedException"]
    if raised:
        n = raised[0][0]
        return (f"Call #{n} failed with ConditionalCheckFailedException. A transfer that cannot go through "
                "should return {\"status\": \"refused\"}, not raise (the caller would see an error).", [n])
    if trial.failures:
        return None    # smallest_failure names the error
    statuses = []
    for n, r in enumerate(trial.responses, start=1):
        status = r.get("status") if isinstance(r, dict) else None
        if status not in ("done", "refused"):
            return (f"Call #{n} returned {show(r, 60)}: a transfer handler must return "
                    "{\"status\": \"done\"} or {\"status\": \"refused\", ...}.", [n])
        statuses.append(status)
    bal = _balances(trial)
    opened = sorted(set(bal) - set(OPENING_BALANCES))
    if opened:
        acct = opened[0]
        calls = [n for n in range(1, trial.calls + 1) if trial.events[n - 1]["to"] == acct]
        return (f"{acct} does not exist, yet after this scenario the table holds an item for it with a balance of "
                f"{_num(bal[acct])}: a transfer credited an account that was never opened. A transfer to a "
                "missing account must be refused, and leave every balance as it was.", calls[:3])
    negative = sorted((a, _num(v)) for a, v in bal.items() if a in OPENING_BALANCES and v is not None and v < 0)
    if negative:
        acct, v = negative[0]
        calls = [n for n in range(1, trial.calls + 1)
                 if trial.events[n - 1]["from"] == acct and statuses[n - 1] == "done"]
        if trial.scenario.callers == 1:
            # One call at a time: no race is possible, so the debit itself was never held back.
            found = _first_overdraft(trial, statuses, acct)
            what = "a debit"
            if found is not None:
                n, held = found
                e = trial.events[n - 1]
                what = "that debit"
                calls = [c for c in calls if c <= n][-3:]
            took = (f" Call #{n} took {e['amount']} from {acct} when it held only {held}, and returned \"done\"."
                    if found is not None else "")
            return (f"{acct} ended with a balance of {v}, below zero, although the transfers ran one after "
                    f"another, with nothing running at the same time.{took} Nothing stopped {what} from taking "
                    "the balance below zero: a transfer whose source does not hold enough money must be refused.",
                    calls[:4] or None)
        return (f"{acct} ended with a balance of {v}, below zero. Several transfers each saw enough money in "
                f"{acct} and each took it: checking the balance and debiting it were separate steps, and other "
                "transfers got in between.", calls[:4])
    total0 = sum(OPENING_BALANCES.values())
    total = sum(_num(bal.get(a) or 0) for a in OPENING_BALANCES)
    if total > total0:
        return (f"The three accounts started with {total0} in total and ended with {total}: the transfers created "
                f"{total - total0}. Two transfers read the same balance and each wrote back its own result, so "
                "one debit overwrote the other (a lost update). Look at the reads and writes in the timeline.")
    if total < total0:
        refused_missing = [n for n in range(1, trial.calls + 1)
                           if trial.events[n - 1]["to"] not in OPENING_BALANCES]
        hint = (" A transfer to a missing account took the money out of its source and never put it back."
                if refused_missing else " A debit was kept although its credit never happened.")
        return (f"The three accounts started with {total0} in total and ended with {total}: {total0 - total} "
                f"vanished.{hint}", refused_missing[:3] or None)
    expected = dict(OPENING_BALANCES)
    for n, status in enumerate(statuses, start=1):
        if status == "done":
            e = trial.events[n - 1]
            expected[e["from"]] -= e["amount"]
            expected[e["to"]] += e["amount"]
    actual = {a: _num(bal.get(a) or 0) for a in OPENING_BALANCES}
    if actual != expected:
        return (f"The balances {actual} do not match the transfers your handler reported as done, which add up "
                f"to {expected}: a transfer said \"done\" but did not move the money, or moved it and said "
                "\"refused\".")
    if trial.scenario.callers == 1:
        want, _ = expected_sequential(trial.calls)
        for n, (got, should) in enumerate(zip(statuses, want), start=1):
            if got != should:
                e = trial.events[n - 1]
                why = ("the source had enough money and both accounts exist" if should == "done"
                       else "the source did not have enough money or an account does not exist")
                return (f"Call #{n} (move {e['amount']} from {e['from']} to {e['to']}, with no other transfer "
                        f"running) returned \"{got}\", but {why}.", [n])
    return None


# Smallest first; one caller at a time before the same number of calls at once, so a bug that
# shows without concurrency is reported without it.
TRANSFER_SCENARIOS = (ex.Scenario(1, 1), ex.Scenario(1, 2), ex.Scenario(2, 1), ex.Scenario(1, 3), ex.Scenario(3, 1),
                      ex.Scenario(1, len(TRANSFERS)), ex.Scenario(50, 1, seed=1), ex.Scenario(10, 5, seed=2))


@ex.checker(placeholder=TRANSFER_STARTER,
            not_attempted_message="This is still the starter handler: change it, run its cell, then run this "
                                  "check again.")
def check_transfer(answer):
    """Transfers keep the books right one at a time and at concurrency 50: no money created or lost,
    no balance below zero, no account opened by accident, each call's status true."""
    failure = ex.smallest_failure(answer, verify_transfers, TRANSFER_SCENARIOS, setup=transfer_setup,
                                  event=transfer_event)
    if failure is not None:
        return ex.wrong(failure.message, failure.report())
    return ex.correct("Money is conserved and no balance went below zero, one transfer at a time and with 50 "
                      "at once; refused transfers left everything as it was.")


transfer_exercise = ex.Exercise("transfer", check_transfer, hints=TRANSFER_HINTS, solution=TRANSFER_SOLUTION,
                                title="A transfer that survives concurrency 50")


def transfer_demo(handler, concurrency=50, seed=1):
    """Run ``concurrency`` transfers at the same moment; return the books before and after:
    ``total_before``, ``total_after``, ``balances``, ``done``, ``refused``, ``errors``."""
    _check_int("concurrency", concurrency, 1, 200)
    trial = ex.run_scenario(handler, ex.Scenario(concurrency, 1, seed), setup=transfer_setup, event=transfer_event)
    bal = _balances(trial)
    statuses = [r.get("status") if isinstance(r, dict) else None for r in trial.responses]
    return {"total_before": sum(OPENING_BALANCES.values()),
            "total_after": sum(_num(v or 0) for a, v in bal.items()),
            "balances": {a: _num(v or 0) for a, v in sorted(bal.items())},
            "done": statuses.count("done"), "refused": statuses.count("refused"), "errors": len(trial.failures)}


# ---------------------------------------------------------------------------------------------
# Exercise 2: a payment handler that is idempotent under redelivery
# ---------------------------------------------------------------------------------------------

PAYMENTS_TABLE = "payments"
PAYMENT_ACCOUNT = "acct-1"

PAYMENT_STARTER = '''\
import boto3
import labkit as lk

accounts = boto3.resource("dynamodb").Table("accounts")
payments = boto3.resource("dynamodb").Table("payments")   # empty, keyed by "id": yours to use


def handler(event, context):
    lk.sleep(0.1)          # confirm the payment with the card network (100 ms)
    accounts.update_item(
        Key={"id": event["account"]},
        UpdateExpression="ADD balance :amount",
        ExpressionAttributeValues={":amount": event["amount"]},
    )
    return {"payment_id": event["payment_id"], "status": "applied"}
'''

PAYMENT_SOLUTION = '''\
import boto3
import labkit as lk
from botocore.exceptions import ClientError

accounts = boto3.resource("dynamodb").Table("accounts")
payments = boto3.resource("dynamodb").Table("payments")


def handler(event, context):
    # Claim the payment id first. The conditional put is one atomic request: of two copies
    # of the same event, however close together, exactly one succeeds.
    try:
        payments.put_item(
            Item={"id": event["payment_id"], "amount": event["amount"]},
            ConditionExpression="attribute_not_exists(id)",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            # A copy of a payment already claimed: succeed without applying it again.
            return {"payment_id": event["payment_id"], "status": "duplicate"}
        raise
    lk.sleep(0.1)          # confirm the payment with the card network (100 ms)
    accounts.update_item(
        Key={"id": event["account"]},
        UpdateExpression="ADD balance :amount",
        ExpressionAttributeValues={":amount": event["amount"]},
    )
    return {"payment_id": event["payment_id"], "status": "applied"}
'''

PAYMENT_HINTS = (
    "A copy of an event carries the same payment_id. Your handler has to remember which payment ids it has "
    "applied, somewhere that every execution environment sees (a module-level set lives in one environment only).",
    "Record the payment id in the payments table before you apply the payment. But a get_item to check, followed "
    "by a put_item to record, leaves a gap: two copies running at the same moment can both find nothing.",
    "One conditional write checks and records at once: put_item(Item={\"id\": ...}, "
    "ConditionExpression=\"attribute_not_exists(id)\"). If it raises ConditionalCheckFailedException, the "
    "payment is already claimed: return normally, without applying it.",
)


def payment_event(i):
    """Call ``i``'s event. Calls come in pairs: calls 2k and 2k+1 carry the same payment."""
    k = i // 2
    return {"payment_id": f"pay-{k + 1:03d}", "account": PAYMENT_ACCOUNT, "amount": 5 * (k % 4 + 1)}


def payment_setup(lab):
    lab.dynamodb_table(ACCOUNTS_TABLE, items=[{"id": PAYMENT_ACCOUNT, "balance": 0}])
    lab.dynamodb_table(PAYMENTS_TABLE)


# (scenario, how the learner should read it)
PAYMENT_SCENARIOS = (
    (ex.Scenario(1, 1), "one payment, delivered once"),
    (ex.Scenario(1, 2), "one payment delivered twice, the second copy after the first has finished"),
    (ex.Scenario(2, 1), "one payment delivered twice, both copies at the same moment"),
    (ex.Scenario(4, 1), "two payments, each delivered twice, all four copies at the same moment"),
    (ex.Scenario(6, 3, seed=2), "nine payments, each delivered twice, six at a time"),
)
# Then the real thing: Lambda's asynchronous queue, delivering half the events twice.
ASYNC_PAYMENTS, ASYNC_DUPLICATE_RATE = 20, 0.5


def _wrote_elsewhere(trial):
    """Whether the handler wrote anything outside the account item (an idempotency record)."""
    for rec in trial.lab.services.dynamodb.records:
        if rec.request_id is not None and rec.operation in ("PutItem", "UpdateItem", "DeleteItem") \
                and not (rec.resource == ACCOUNTS_TABLE and rec.target == {"id": PAYMENT_ACCOUNT}):
            return True
        if rec.request_id is not None and rec.resource == ACCOUNTS_TABLE and rec.operation == "UpdateItem" \
                and rec.detail[0].get("ConditionExpression"):
            return True
    return False


def _credited(lab):
    return _num(lab.services.dynamodb.tables[ACCOUNTS_TABLE].item(id=PAYMENT_ACCOUNT)["balance"])


def verify_payments(trial, concurrent_copies):
    """None if every payment of the scenario was applied exactly once and every call returned,
    else a message naming the mistake (``concurrent_copies``: the copies ran at the same moment)."""
    raised = [f for f in trial.failures if f[1] == "ConditionalCheckFailedException"]
    if raised:
        n = raised[0][0]
        return (f"Call #{n}, a copy of a payment, failed with ConditionalCheckFailedException. Lambda treats a "
                "failed invocation as a failure and retries it (or reports it); a copy of a payment already "
                "applied should be recognised and return normally.", [n])
    if trial.failures:
        return None
    payments = {}
    for e in trial.events.values():
        payments[e["payment_id"]] = e["amount"]
    expected, got = sum(payments.values()), _credited(trial.lab)
    if got < expected:
        return (f"The payments sent add up to {expected}, but the account was credited {got}: a payment "
                "delivered (once or more) must be applied once.")
    if got > expected:
        over = f"The payments add up to {expected}, but the account was credited {got}"
        if not concurrent_copies:
            return (f"{over}: the second copy of the payment was applied again, although it arrived after the "
                    "first had finished. The handler does not recognise a payment it has already applied.")
        if not _wrote_elsewhere(trial):
            return (f"{over}: the two copies ran at the same moment, in two execution environments, and each "
                    "applied the payment. Your handler keeps no record of applied payments outside its own "
                    "execution environment, and a module-level variable is not shared between environments.")
        return (f"{over}: both copies ran at the same moment, and each found no record of the payment before "
                "either had recorded it. Checking for the record and writing it must be one atomic step.")
    return None


@ex.checker(placeholder=PAYMENT_STARTER,
            not_attempted_message="This is still the starter handler: change it, run its cell, then run this "
                                  "check again.")
def check_idempotent_payment(answer):
    """Each payment is applied exactly once, whether its copies come one after another, at the same
    moment, or through Lambda's asynchronous queue with duplicates; a copy returns normally."""
    for scenario, description in PAYMENT_SCENARIOS:
        concurrent = scenario.callers > 1
        failure = ex.smallest_failure(answer, lambda t: verify_payments(t, concurrent), [scenario],
                                      setup=payment_setup, event=payment_event)
        if failure is not None:
            case = f"Failing case: {description} (seed {scenario.seed})."
            return ex.wrong(failure.message, f"{case}\n{failure.trial.timeline(failure.calls)}")
    result = _async_payments(answer)
    if result is not None:
        return ex.wrong(result)
    return ex.correct(f"Every payment was applied exactly once: copies one after another, copies at the same "
                      f"moment, and {ASYNC_PAYMENTS} payments through Lambda's asynchronous queue with half of "
                      "them delivered twice.")


def _async_payments(answer, seed=3):
    lab = Lab(seed=seed)
    payment_setup(lab)
    fn = _deploy(lab, answer, "learner-function")
    run, _ = _async_with_duplicates(lab, fn, workload.constant(10, ASYNC_PAYMENTS / 10,
                                                               payload=lambda i: payment_event(2 * i)),
                                    ASYNC_DUPLICATE_RATE)
    expected = sum(payment_event(2 * i)["amount"] for i in range(ASYNC_PAYMENTS))
    got = _credited(lab)
    states = run.event_states()
    if got != expected:
        return (f"Through Lambda's asynchronous queue ({ASYNC_PAYMENTS} payments, half delivered twice) the "
                f"payments add up to {expected}, but the account was credited {got}.")
    if states.get("succeeded", 0) != ASYNC_PAYMENTS:
        return (f"Through Lambda's asynchronous queue, not every event succeeded: {states}. A copy of a payment "
                "should return normally.")
    return None


idempotency_exercise = ex.Exercise("idempotent-payment", check_idempotent_payment, hints=PAYMENT_HINTS,
                                   solution=PAYMENT_SOLUTION, title="A payment handler that tolerates redelivery")


__all__ = ["READ_MODIFY_WRITE", "ATOMIC_UPDATE", "CONDITIONAL_WRITE", "STRATEGIES", "counter_race", "race_timeline",
           "lost_updates", "lost_updates_curve", "plot_lost_updates", "plot_counter_race", "single_owner",
           "comparison", "prediction_note", "calls_table", "per_environment", "carry_state", "COUNT_ORDERS",
           "COUNT_ORDERS_IDEMPOTENT", "at_least_once", "TRANSFER_STARTER", "TRANSFER_SOLUTION", "transfer_event",
           "transfer_setup", "expected_sequential", "verify_transfers", "check_transfer", "transfer_exercise",
           "transfer_demo", "PAYMENT_STARTER", "PAYMENT_SOLUTION", "payment_event", "payment_setup",
           "verify_payments", "check_idempotent_payment", "idempotency_exercise"]
