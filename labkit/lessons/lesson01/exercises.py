"""Lesson 01 · Stateless vs stateful: the exercises (``labkit.exercises``).

``transfer_exercise``      a transfer between accounts, correct at concurrency 50
                           (``transfer_demo`` shows what the starter does to the books)
``idempotency_exercise``   a payment handler that applies each payment once, whatever
                           the redelivery

The starting points and reference solutions are handler modules in ``handlers/``
(``TRANSFER_STARTER``, ``TRANSFER_SOLUTION``, ``PAYMENT_STARTER``, ``PAYMENT_SOLUTION``).
``prediction_note`` words the answer to a prediction cell.
"""

import functools
from typing import Any

from labkit import exercises as ex
from labkit import workload
from labkit.exercises import Result, Trial
from labkit.lab import Lab
from labkit.records import SUCCEEDED
from labkit.services.base import show

from .experiments import Handler, check_int, deploy, invoke_async_with_duplicates
from .handlers import PAYMENT_SOLUTION, PAYMENT_STARTER, TRANSFER_SOLUTION, TRANSFER_STARTER


def prediction_note(prediction: Any, answer: Any) -> str:
    """The line a prediction cell prints: the answer, and how the prediction compares."""
    if prediction is None:
        return f"Answer: {answer}. (You made no prediction: set my_prediction and run both cells again.)"
    if prediction == answer:
        return f"Answer: {answer}. Your prediction was right."
    return f"Answer: {answer}. You predicted {prediction}. The output above shows why."


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


def transfer_event(i: int) -> dict[str, Any]:
    """Call ``i``'s event: the transfers of ``TRANSFERS``, in a cycle."""
    src, dst, amount = TRANSFERS[i % len(TRANSFERS)]
    return {"transfer_id": f"t-{i + 1:03d}", "from": src, "to": dst, "amount": amount}


def transfer_setup(lab: Lab) -> None:
    """Create the accounts of ``OPENING_BALANCES``."""
    lab.dynamodb_table(ACCOUNTS_TABLE, items=[{"id": k, "balance": v} for k, v in OPENING_BALANCES.items()])


def expected_sequential(n: int) -> tuple[list[str], dict[str, int]]:
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


def verify_transfers(trial: Trial) -> str | tuple[str, list[int] | None] | None:
    """None if the scenario's transfers kept the books right, else a message (and calls to show)."""
    raised = [n for n, error_type, _ in trial.failures if error_type == "ConditionalCheckFailedException"]
    if raised:
        n = raised[0]
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
        for n, (got, should) in enumerate(zip(statuses, want, strict=False), start=1):
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
def check_transfer(answer: Handler) -> Result:
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


def transfer_demo(handler: Handler, concurrency: int = 50, seed: int = 1) -> dict[str, Any]:
    """Run ``concurrency`` transfers at the same moment; return the books before and after:
    ``total_before``, ``total_after``, ``balances``, ``done``, ``refused``, ``errors``."""
    check_int("concurrency", concurrency, 1, 200)
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


PAYMENT_HINTS = (
    "A copy of an event carries the same payment_id. Your handler has to remember which payment ids it has "
    "applied, somewhere that every execution environment sees (a module-level set lives in one environment only).",
    "Record the payment id in the payments table before you apply the payment. But a get_item to check, followed "
    "by a put_item to record, leaves a gap: two copies running at the same moment can both find nothing.",
    "One conditional write checks and records at once: put_item(Item={\"id\": ...}, "
    "ConditionExpression=\"attribute_not_exists(id)\"). If it raises ConditionalCheckFailedException, the "
    "payment is already claimed: return normally, without applying it.",
)


def payment_event(i: int) -> dict[str, Any]:
    """Call ``i``'s event. Calls come in pairs: calls 2k and 2k+1 carry the same payment."""
    k = i // 2
    return {"payment_id": f"pay-{k + 1:03d}", "account": PAYMENT_ACCOUNT, "amount": 5 * (k % 4 + 1)}


def payment_setup(lab: Lab) -> None:
    """Create the account (balance 0) and the empty ``payments`` table."""
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
        if rec.request_id is not None and rec.resource == ACCOUNTS_TABLE and rec.operation == "UpdateItem":
            params, _item = rec.detail   # the request, and the item as written
            if params.get("ConditionExpression"):
                return True
    return False


def _credited(lab):
    return _num(lab.services.dynamodb.tables[ACCOUNTS_TABLE].item(id=PAYMENT_ACCOUNT)["balance"])


def verify_payments(trial: Trial, concurrent_copies: bool) -> str | tuple[str, list[int]] | None:
    """None if every payment of the scenario was applied exactly once and every call returned,
    else a message naming the mistake (``concurrent_copies``: the copies ran at the same moment)."""
    raised = [n for n, error_type, _ in trial.failures if error_type == "ConditionalCheckFailedException"]
    if raised:
        n = raised[0]
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
def check_idempotent_payment(answer: Handler) -> Result:
    """Each payment is applied exactly once, whether its copies come one after another, at the same
    moment, or through Lambda's asynchronous queue with duplicates; a copy returns normally."""
    for scenario, description in PAYMENT_SCENARIOS:
        concurrent = scenario.callers > 1
        verify = functools.partial(verify_payments, concurrent_copies=concurrent)
        failure = ex.smallest_failure(answer, verify, [scenario], setup=payment_setup, event=payment_event)
        if failure is not None:
            case = f"Failing case: {description} (seed {scenario.seed})."
            return ex.wrong(failure.message, f"{case}\n{failure.trial.timeline(failure.calls)}")
    result = _async_payments(answer)
    if result is not None:
        return ex.wrong(result)
    return ex.correct(f"Every payment was applied exactly once: copies one after another, copies at the same "
                      f"moment, and {ASYNC_PAYMENTS} payments through Lambda's asynchronous queue with half of "
                      "them delivered twice.")


def _async_payments(answer: Handler, seed: int = 3) -> str | None:
    """None if the payments sent through Lambda's asynchronous queue, half of them delivered
    twice, were each applied once and every event succeeded; else what went wrong."""
    lab = Lab(seed=seed)
    payment_setup(lab)
    fn = deploy(lab, answer, "learner-function")
    run, _ = invoke_async_with_duplicates(lab, fn, workload.constant(10, ASYNC_PAYMENTS / 10,
                                                                     payload=lambda i: payment_event(2 * i)),
                                          ASYNC_DUPLICATE_RATE)
    expected = sum(payment_event(2 * i)["amount"] for i in range(ASYNC_PAYMENTS))
    got = _credited(lab)
    states = run.event_states()
    if got != expected:
        return (f"Through Lambda's asynchronous queue ({ASYNC_PAYMENTS} payments, half delivered twice) the "
                f"payments add up to {expected}, but the account was credited {got}.")
    if states.get(SUCCEEDED, 0) != ASYNC_PAYMENTS:
        return (f"Through Lambda's asynchronous queue, not every event succeeded: {states}. A copy of a payment "
                "should return normally.")
    return None


idempotency_exercise = ex.Exercise("idempotent-payment", check_idempotent_payment, hints=PAYMENT_HINTS,
                                   solution=PAYMENT_SOLUTION, title="A payment handler that tolerates redelivery")
