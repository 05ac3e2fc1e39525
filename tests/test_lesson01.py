"""Lesson 01 (stateless vs stateful): experiments, widget function and the two exercise checkers."""

import importlib.util
import json
import pathlib
import time

import matplotlib
import pytest

matplotlib.use("Agg")

from labkit import exercises as ex  # noqa: E402
from labkit.errors import InvalidParameterValueException  # noqa: E402
from labkit.lessons import lesson01 as L  # noqa: E402

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "01-stateless-vs-stateful.ipynb"


# -- the counter race -----------------------------------------------------------------------------

def test_one_caller_loses_nothing_and_many_lose_a_lot():
    assert L.lost_updates(concurrency=1, work_ms=50) == 0
    r = L.counter_race(concurrency=10, work_ms=50)
    assert r["calls"] == 100 and r["errors"] == 0
    assert r["lost"] == r["calls"] - r["final"] > 30
    assert r["lost"] == L.lost_updates(10, 50)


def test_the_race_is_deterministic_and_the_seed_matters():
    a = L.counter_race(concurrency=5, work_ms=20, seed=3)
    b = L.counter_race(concurrency=5, work_ms=20, seed=3)
    assert a == b
    others = {L.lost_updates(5, 20, seed=s) for s in (1, 2, 3, 4)}
    assert len(others) > 1


def test_lost_updates_grow_with_concurrency_and_with_the_window():
    curve = L.lost_updates_curve(concurrencies=(1, 2, 10, 50), work_ms=(0, 200), calls=100)
    assert list(curve.columns) == ["work_ms", "concurrency", "calls", "lost", "lost_pct"]
    for _, g in curve.groupby("work_ms"):
        lost = list(g.sort_values("concurrency")["lost"])
        assert lost[0] == 0 and lost == sorted(lost) and lost[-1] > lost[1]
    by = curve.set_index(["work_ms", "concurrency"])["lost"]
    for c in (2, 10, 50):
        assert by[(200, c)] > by[(0, c)]
    # Every call overlapping every other is the limit: no more than 1 - 1/c can be lost (+ rounding).
    for _, row in curve.iterrows():
        assert row["lost_pct"] <= 100 * (1 - 1 / row["concurrency"]) + 2


def test_the_fixes_lose_nothing():
    atomic = L.counter_race(20, 50, strategy="atomic update")
    conditional = L.counter_race(20, 50, strategy="conditional write + retry")
    for r in (atomic, conditional):
        assert r["lost"] == 0 and r["final"] == r["calls"] == 100 and r["errors"] == 0
    assert atomic["dynamodb_requests"] == 100
    assert conditional["conditional_failures"] > 0
    assert conditional["dynamodb_requests"] == 2 * 100 + 2 * conditional["conditional_failures"]


def test_a_single_owner_serialises_the_naive_handler():
    r = L.single_owner(L.READ_MODIFY_WRITE, increments=40, rate_per_s=20)
    assert r["lost"] == 0 and r["final"] == 40
    assert r["environments"] == 1 and r["max_concurrency"] == 1 and r["throttles"] > 0
    assert r["finished_s"] > 2.0      # one at a time: slower than the traffic


def test_comparison_table_has_one_row_per_result():
    rows = [L.counter_race(2, 10, calls=10), L.single_owner(increments=5)]
    table = L.comparison(rows)
    assert list(table.columns) == list(L.COMPARISON_COLUMNS.values())
    assert list(table["strategy"]) == ["read-modify-write", "single owner"]


def test_your_own_handler_can_race_with_a_label():
    r = L.counter_race(3, 10, calls=9, strategy="mine", handler=L.ATOMIC_UPDATE)
    assert r["strategy"] == "mine" and r["lost"] == 0


def test_the_widget_function_is_fast_enough():
    # The widget re-runs counter_race on every slider release; the guide asks for well under 0.5 s.
    L.counter_race(2, 10, calls=4)   # warm imports
    for settings in (dict(concurrency=1, work_ms=200), dict(concurrency=50, work_ms=0),
                     dict(concurrency=50, work_ms=200)):
        t0 = time.perf_counter()
        L.counter_race(**settings)
        assert time.perf_counter() - t0 < 1.0, settings


def test_bad_settings_are_refused_like_aws_does():
    for bad in (dict(concurrency=0), dict(concurrency=1.5), dict(concurrency=True), dict(work_ms=-1),
                dict(calls=0), dict(strategy="optimism")):
        with pytest.raises(InvalidParameterValueException):
            L.counter_race(**bad)
    with pytest.raises(InvalidParameterValueException):
        L.single_owner(increments=0)
    with pytest.raises(InvalidParameterValueException):
        L.counter_race(handler=42)


def test_plots_are_labelled():
    curve = L.lost_updates_curve(concurrencies=(1, 5), work_ms=(0, 50), calls=20)
    ax = L.plot_lost_updates(curve)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert len(ax.get_legend().get_texts()) == 3
    race = L.counter_race(5, 50, calls=20)
    from labkit.widgets import run_and_plot
    ax = run_and_plot(L.counter_race, L.plot_counter_race, concurrency=5, work_ms=50, calls=20)
    assert ax.get_title() == f"{race['lost']} of 20 increments lost"
    assert ax.get_xlabel() and ax.get_ylabel()
    matplotlib.pyplot.close("all")


def test_race_timeline_shows_the_reads_before_the_writes():
    text = L.race_timeline(callers=3, work_ms=50)
    assert text.count("GetItem counters") == 3 and text.count("PutItem counters") == 3
    assert text.endswith("3 increments, counter at the end: 1")
    assert L.race_timeline(L.ATOMIC_UPDATE, callers=3).endswith("counter at the end: 3")


# -- module-level state and state returned to the caller ---------------------------------------------

MODULE_COUNTER = """
import labkit as lk

count = 0


def handler(event, context):
    global count
    count += 1
    lk.sleep(0.5)
    return {"count": count}
"""

CARRY = """
def handler(event, context):
    state = event.get("state") or {"visits": 0}
    return {"caller": event["caller"], "state": {"visits": state["visits"] + 1}}
"""


def test_per_environment_counts_add_up():
    import labkit as lk
    lab = lk.Lab(seed=1)
    fn = lab.function(source=MODULE_COUNTER, name="counter")
    run = lab.invoke(fn, lk.workload.poisson(rate_per_s=5, seconds=8))
    per = L.per_environment(run)
    assert per["calls served"].sum() == run.summary()["calls"]
    assert (per["calls served"] == per["last count returned"]).all()
    assert len(per) > 1


def test_state_returned_to_the_caller_survives_any_routing():
    table = L.carry_state(CARRY, callers=3, rounds=4)
    assert len(table) == 12
    for _, g in table.groupby("caller"):
        assert [s["visits"] for s in g.sort_values("round")["state"]] == [1, 2, 3, 4]
    assert table.groupby("caller")["environment_id"].nunique().max() > 1   # callers did move around


def test_prediction_note():
    assert "no prediction" in L.prediction_note(None, 8)
    assert "right" in L.prediction_note(8, 8)
    assert "You predicted 3" in L.prediction_note(3, 8)


# -- at-least-once ------------------------------------------------------------------------------

def test_duplicates_double_count_unless_the_handler_is_idempotent():
    plain = L.at_least_once(L.COUNT_ORDERS, orders=60, duplicate_rate=0.2)
    assert plain["duplicates"] > 0
    assert plain["overcount"] == plain["duplicates"] == plain["deliveries"] - 60
    fixed = L.at_least_once(L.COUNT_ORDERS_IDEMPOTENT, orders=60, duplicate_rate=0.2)
    assert fixed["duplicates"] == plain["duplicates"] and fixed["overcount"] == 0
    assert fixed["event_states"] == {"succeeded": 60}


# -- exercise 1: transfers ---------------------------------------------------------------------------

RACY = '''
import boto3

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    src = accounts.get_item(Key={"id": event["from"]}).get("Item")
    dst = accounts.get_item(Key={"id": event["to"]}).get("Item")
    if src is None or dst is None or src["balance"] < event["amount"]:
        return {"status": "refused"}
    accounts.put_item(Item={"id": src["id"], "balance": src["balance"] - event["amount"]})
    accounts.put_item(Item={"id": dst["id"], "balance": dst["balance"] + event["amount"]})
    return {"status": "done"}
'''

# Atomic ADDs, but the balance is checked by a separate read: nothing stops a second debit.
NO_CONDITION = '''
import boto3

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    amount = event["amount"]
    src = accounts.get_item(Key={"id": event["from"]}).get("Item")
    dst = accounts.get_item(Key={"id": event["to"]}).get("Item")
    if src is None or dst is None or src["balance"] < amount:
        return {"status": "refused"}
    accounts.update_item(Key={"id": event["from"]}, UpdateExpression="ADD balance :d",
                         ExpressionAttributeValues={":d": -amount})
    accounts.update_item(Key={"id": event["to"]}, UpdateExpression="ADD balance :d",
                         ExpressionAttributeValues={":d": amount})
    return {"status": "done"}
'''

# Debits, then the credit is refused (no such account), and the debit is never undone.
NO_REFUND = '''
import boto3
from botocore.exceptions import ClientError

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    amount = event["amount"]
    try:
        accounts.update_item(Key={"id": event["from"]}, UpdateExpression="ADD balance :d",
                             ConditionExpression="balance >= :a",
                             ExpressionAttributeValues={":d": -amount, ":a": amount})
        accounts.update_item(Key={"id": event["to"]}, UpdateExpression="ADD balance :d",
                             ConditionExpression="attribute_exists(id)",
                             ExpressionAttributeValues={":d": amount})
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return {"status": "refused"}
        raise
    return {"status": "done"}
'''

# The credit is an unconditional ADD: it opens the missing account.
PHANTOM = '''
import boto3
from botocore.exceptions import ClientError

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    amount = event["amount"]
    try:
        accounts.update_item(Key={"id": event["from"]}, UpdateExpression="ADD balance :d",
                             ConditionExpression="balance >= :a",
                             ExpressionAttributeValues={":d": -amount, ":a": amount})
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return {"status": "refused"}
        raise
    accounts.update_item(Key={"id": event["to"]}, UpdateExpression="ADD balance :d",
                         ExpressionAttributeValues={":d": amount})
    return {"status": "done"}
'''

# Unconditional ADDs and no balance check at all: the second of two calls in a row overdraws acct-A.
NO_BALANCE_CHECK = '''
import boto3

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    amount = event["amount"]
    accounts.update_item(Key={"id": event["from"]}, UpdateExpression="ADD balance :d",
                         ExpressionAttributeValues={":d": -amount})
    accounts.update_item(Key={"id": event["to"]}, UpdateExpression="ADD balance :d",
                         ExpressionAttributeValues={":d": amount})
    return {"status": "done"}
'''

RAISES = '''
import boto3

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    amount = event["amount"]
    accounts.update_item(Key={"id": event["from"]}, UpdateExpression="ADD balance :d",
                         ConditionExpression="balance >= :a",
                         ExpressionAttributeValues={":d": -amount, ":a": amount})
    accounts.update_item(Key={"id": event["to"]}, UpdateExpression="ADD balance :d",
                         ConditionExpression="attribute_exists(id)",
                         ExpressionAttributeValues={":d": amount})
    return {"status": "done"}
'''

REFUSE_ALL = '''
def handler(event, context):
    return {"status": "refused"}
'''

TRANSFER_WRONG = {
    # answer: (words its message must contain, scenario it must be caught in)
    "racy read-modify-write": (RACY, "created 60", "2 calls at the same time"),
    "no balance condition": (NO_CONDITION, "acct-A ended with a balance of -20", "2 calls at the same time"),
    "no balance check at all": (NO_BALANCE_CHECK, "Nothing stopped that debit from taking the balance below zero",
                                "2 calls one after another"),
    "debit never undone": (NO_REFUND, "vanished. A transfer to a missing account", "3 calls one after another"),
    "opens a missing account": (PHANTOM, "acct-D does not exist", "3 calls one after another"),
    "raises when refused": (RAISES, "should return {\"status\": \"refused\"}, not raise", "2 calls one after another"),
    "refuses everything": (REFUSE_ALL, "returned \"refused\", but the source had enough money", "a single call"),
}


def test_transfer_reference_solution_passes():
    r = L.check_transfer(L.TRANSFER_SOLUTION)
    assert r.status == ex.CORRECT, r.text()
    demo = L.transfer_demo(L.TRANSFER_SOLUTION)
    assert demo["total_after"] == demo["total_before"] == 300 and demo["errors"] == 0
    assert min(demo["balances"].values()) >= 0 and demo["done"] > 0


def test_transfer_starter_and_placeholders_are_not_attempted():
    for answer in (None, ..., L.TRANSFER_STARTER, L.TRANSFER_STARTER.replace("import boto3", "import boto3  # x"),
                   "def handler(event, context):\n    ...\n"):
        assert L.check_transfer(answer).status == ex.NOT_ATTEMPTED, answer


def test_the_starter_breaks_the_books_at_concurrency_50():
    demo = L.transfer_demo(L.TRANSFER_STARTER)
    assert demo["total_after"] > demo["total_before"]


@pytest.mark.parametrize("name", list(TRANSFER_WRONG))
def test_typical_wrong_transfers_fail_with_their_own_message(name):
    answer, words, where = TRANSFER_WRONG[name]
    r = L.check_transfer(answer)
    assert r.status == ex.WRONG
    assert words in r.message, r.text()
    assert f"Smallest failing scenario: {where}" in r.details, r.details
    assert "time  call what happened" in r.details


def test_an_overdraft_one_call_at_a_time_is_not_blamed_on_concurrency():
    message = L.check_transfer(NO_BALANCE_CHECK).message
    assert "one after another" in message and "held only 40" in message
    assert "Several transfers" not in message and "separate steps" not in message


def test_wrong_transfer_messages_are_distinct_and_give_nothing_away():
    messages = [L.check_transfer(a).message for a, _, _ in TRANSFER_WRONG.values()]
    assert len(set(messages)) == len(messages)
    for m in messages:
        for secret in ("attribute_exists", "balance >= :", "ConditionExpression="):
            assert secret not in m


def test_transfer_check_is_deterministic():
    assert L.check_transfer(RACY).text() == L.check_transfer(RACY).text()


def test_transfer_check_accepts_a_handler_function(tmp_path):
    fn = _module_function(tmp_path, "transfer_answer", L.TRANSFER_SOLUTION)
    assert L.check_transfer(fn).status == ex.CORRECT
    starter = _module_function(tmp_path, "transfer_starter", L.TRANSFER_STARTER)
    assert L.check_transfer(starter).status == ex.NOT_ATTEMPTED


def test_expected_sequential_model():
    statuses, balances = L.expected_sequential(len(L.TRANSFERS))
    assert statuses[:3] == ["done", "refused", "refused"]
    assert sum(balances.values()) == 300 and min(balances.values()) >= 0


# -- exercise 2: idempotent payments ------------------------------------------------------------------

NOT_IDEMPOTENT = '''
import boto3

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    accounts.update_item(Key={"id": event["account"]}, UpdateExpression="ADD balance :amount",
                         ExpressionAttributeValues={":amount": event["amount"]})
    return {"status": "applied"}
'''

CHECK_THEN_WRITE = '''
import boto3
import labkit as lk

accounts = boto3.resource("dynamodb").Table("accounts")
payments = boto3.resource("dynamodb").Table("payments")


def handler(event, context):
    if "Item" in payments.get_item(Key={"id": event["payment_id"]}):
        return {"status": "duplicate"}
    payments.put_item(Item={"id": event["payment_id"]})
    lk.sleep(0.1)
    accounts.update_item(Key={"id": event["account"]}, UpdateExpression="ADD balance :amount",
                         ExpressionAttributeValues={":amount": event["amount"]})
    return {"status": "applied"}
'''

IN_MEMORY = '''
import boto3
import labkit as lk

accounts = boto3.resource("dynamodb").Table("accounts")
applied = set()


def handler(event, context):
    if event["payment_id"] in applied:
        return {"status": "duplicate"}
    applied.add(event["payment_id"])
    lk.sleep(0.1)
    accounts.update_item(Key={"id": event["account"]}, UpdateExpression="ADD balance :amount",
                         ExpressionAttributeValues={":amount": event["amount"]})
    return {"status": "applied"}
'''

RAISES_ON_DUPLICATE = '''
import boto3
import labkit as lk

accounts = boto3.resource("dynamodb").Table("accounts")
payments = boto3.resource("dynamodb").Table("payments")


def handler(event, context):
    payments.put_item(Item={"id": event["payment_id"]}, ConditionExpression="attribute_not_exists(id)")
    lk.sleep(0.1)
    accounts.update_item(Key={"id": event["account"]}, UpdateExpression="ADD balance :amount",
                         ExpressionAttributeValues={":amount": event["amount"]})
    return {"status": "applied"}
'''

NEVER_APPLIES = '''
import boto3
from botocore.exceptions import ClientError

payments = boto3.resource("dynamodb").Table("payments")


def handler(event, context):
    try:
        payments.put_item(Item={"id": event["payment_id"]}, ConditionExpression="attribute_not_exists(id)")
    except ClientError:
        return {"status": "duplicate"}
    return {"status": "applied"}
'''

# Another correct answer: the idempotency key lives in the account item, in the same conditional update.
SINGLE_ITEM = '''
import boto3
import labkit as lk
from botocore.exceptions import ClientError

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    lk.sleep(0.1)
    try:
        accounts.update_item(
            Key={"id": event["account"]},
            UpdateExpression="ADD balance :amount, applied :ids",
            ConditionExpression="NOT contains(applied, :id)",
            ExpressionAttributeValues={":amount": event["amount"], ":ids": {event["payment_id"]},
                                       ":id": event["payment_id"]},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return {"status": "duplicate"}
        raise
    return {"status": "applied"}
'''

PAYMENT_WRONG = {
    "not idempotent": (NOT_IDEMPOTENT, "arrived after the first had finished",
                       "one payment delivered twice, the second copy after the first has finished"),
    "check, then write": (CHECK_THEN_WRITE, "must be one atomic step",
                          "one payment delivered twice, both copies at the same moment"),
    "remembers in memory": (IN_MEMORY, "not shared between environments",
                            "one payment delivered twice, both copies at the same moment"),
    "raises on a duplicate": (RAISES_ON_DUPLICATE, "should be recognised and return normally",
                              "one payment delivered twice, the second copy after the first has finished"),
    "never applies": (NEVER_APPLIES, "the account was credited 0", "one payment, delivered once"),
}


def test_payment_reference_solutions_pass():
    for answer in (L.PAYMENT_SOLUTION, SINGLE_ITEM):
        r = L.check_idempotent_payment(answer)
        assert r.status == ex.CORRECT, r.text()


def test_payment_starter_and_placeholders_are_not_attempted():
    for answer in (None, ..., L.PAYMENT_STARTER, "def handler(event, context):\n    pass\n"):
        assert L.check_idempotent_payment(answer).status == ex.NOT_ATTEMPTED


@pytest.mark.parametrize("name", list(PAYMENT_WRONG))
def test_typical_wrong_payment_handlers_fail_with_their_own_message(name):
    answer, words, where = PAYMENT_WRONG[name]
    r = L.check_idempotent_payment(answer)
    assert r.status == ex.WRONG
    assert words in r.message, r.text()
    assert r.details.startswith(f"Failing case: {where}"), r.details


def test_wrong_payment_messages_are_distinct_and_give_nothing_away():
    messages = [L.check_idempotent_payment(a).message for a, _, _ in PAYMENT_WRONG.values()]
    assert len(set(messages)) == len(messages)
    for m in messages:
        assert "attribute_not_exists" not in m and "put_item" not in m


def test_the_key_must_come_from_the_event_and_the_queue_stage_counts_money():
    # Keyed on the request id instead of the payment id: every delivery looks new.
    by_request = L.PAYMENT_SOLUTION.replace('Item={"id": event["payment_id"], "amount": event["amount"]}',
                                            'Item={"id": context.aws_request_id}')
    assert by_request != L.PAYMENT_SOLUTION
    assert L.check_idempotent_payment(by_request).status == ex.WRONG
    assert L.exercises._async_payments(L.PAYMENT_SOLUTION) is None
    assert "credited" in L.exercises._async_payments(NOT_IDEMPOTENT)


def test_payment_check_accepts_a_handler_function(tmp_path):
    fn = _module_function(tmp_path, "payment_answer", L.PAYMENT_SOLUTION)
    assert L.check_idempotent_payment(fn).status == ex.CORRECT


def test_exercises_print_progressive_hints_and_a_solution(capsys):
    for q, solution in ((L.transfer_exercise, L.TRANSFER_SOLUTION), (L.idempotency_exercise, L.PAYMENT_SOLUTION)):
        assert len(q.hints) == 3
        q.hint()
        first = capsys.readouterr().out
        assert first.startswith("Hint 1 of 3:") and "hint(2) says more" in first
        q.hint(3)
        assert "solution()" in capsys.readouterr().out
        q.solution()
        assert capsys.readouterr().out == solution.strip("\n") + "\n"
        q.check(None)
        assert capsys.readouterr().out.startswith("… Not attempted yet.")


# -- the notebook shows the same handlers the experiments run -------------------------------------------

def test_notebook_handler_cells_are_the_module_handlers():
    nb = json.loads(NOTEBOOK.read_text())
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    for text in (L.READ_MODIFY_WRITE, L.ATOMIC_UPDATE, L.CONDITIONAL_WRITE, L.COUNT_ORDERS,
                 L.COUNT_ORDERS_IDEMPOTENT, L.TRANSFER_STARTER, L.PAYMENT_STARTER):
        assert text.strip("\n") in sources


def _module_function(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler
