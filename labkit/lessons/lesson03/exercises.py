"""Lesson 03 (throttling per event-source type): the exercises (``labkit.exercises``).

``async_exercise``     exercise 1: an asynchronous configuration for the flash sale's receipts
                       that loses no event silently (``receipt_burst``, ``receipt_report``)
``reserve_exercise``   exercise 2: reserved concurrency that shields checkout from its noisy
                       neighbour, report-builder
"""

from typing import Any

import pandas as pd

import labkit as lk
from labkit import facts, validation
from labkit.errors import InvalidParameterValueException
from labkit.exercises import Exercise, Result, checker, correct, not_attempted, wrong
from labkit.lab import Lab
from labkit.records import DEAD_LETTER_QUEUE, DROPPED, FAILURE_DESTINATION, SUCCEEDED
from labkit.run import Run
from labkit.workload import Workload

from .experiments import DAYS, NEIGHBOUR_ACCOUNT_LIMIT, Handler, checkout_peak, deploy, function_table, noisy_neighbour
from .handlers import RECEIPT_SOURCE

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


def receipt_order(i: int) -> dict[str, Any]:
    """Order ``i`` of the flash sale; a few have no e-mail address (they can never succeed)."""
    if i % POISON_EVERY == POISON_AT:
        return {"order": i}
    return {"order": i, "email": f"customer{i}@example.com"}


def receipt_orders() -> Workload:
    """The flash sale: ``RECEIPT_ORDERS`` orders within ``RECEIPT_SPREAD_S`` seconds."""
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


def async_settings(lab: Lab, config: dict[str, Any]) -> dict[str, Any]:
    """Turn the exercise's config dict into ``invoke_async`` keyword arguments (validated)."""
    if not isinstance(config, dict):
        raise InvalidParameterValueException("config", type(config).__name__, f"a dict with keys from {ASYNC_KEYS}")
    unknown = [k for k in config if k not in ASYNC_KEYS]
    if unknown:
        raise InvalidParameterValueException("config", unknown[0], f"keys from {ASYNC_KEYS}")
    kw: dict[str, Any] = {k: config[k] for k in ("maximum_event_age_s", "maximum_retry_attempts") if k in config}
    dest = _as_destination(lab, "receipt-failures", config.get("on_failure"), "on_failure")
    dlq = _as_destination(lab, "receipt-dlq", config.get("dead_letter_queue"), "dead_letter_queue")
    if dest is not None:
        kw["on_failure"] = dest
    if dlq is not None:
        kw["dead_letter_queue"] = dlq
    return kw


def receipt_burst(config: dict[str, Any], handler: Handler = RECEIPT_SOURCE, seed: int = 1) -> Run:
    """The flash sale's receipts, sent asynchronously to ``send-receipt`` (reserved
    concurrency ``RECEIPT_RESERVED``) with the asynchronous settings in ``config``
    (keys ``ASYNC_KEYS``; a missing key keeps AWS's default). Returns the Run."""
    lab = Lab(seed=seed)
    fn = deploy(lab, handler, "handler", name="send-receipt", reserved_concurrency=RECEIPT_RESERVED,
                 timeout_s=3)
    return lab.invoke_async(fn, receipt_orders(), **async_settings(lab, config))


def receipt_report(run: Run) -> pd.DataFrame:
    """Final states of the receipts: valid orders and orders without an e-mail address apart."""
    ae = run.async_events.set_index("event_id")
    kinds = ["valid order" if "email" in receipt_order(i) else "no e-mail address" for i in range(len(run.event_ids))]
    df = pd.DataFrame({"order": kinds, "state": ae.loc[run.event_ids, "state"].to_numpy(),
                       "reason": ae.loc[run.event_ids, "reason"].fillna("-").to_numpy()})
    out = df.groupby(["order", "state", "reason"]).size().reset_index(name="events")
    rank = {s: i for i, s in enumerate((SUCCEEDED, FAILURE_DESTINATION, DEAD_LETTER_QUEUE, DROPPED))}
    out["_k"] = [(o != "valid order", rank.get(s, 9)) for o, s in zip(out["order"], out["state"], strict=True)]
    return out.sort_values(["_k", "reason"], kind="stable").drop(columns="_k").reset_index(drop=True)


def _plural(n, one, many):
    return f"{n} {one if n == 1 else many}"


@checker(placeholder=ASYNC_PLACEHOLDER)
def check_async_config(answer: Any) -> Result:
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
    silent = int(report.loc[report["state"] == DROPPED, "events"].sum())
    if silent:
        problems.append(
            f"{_plural(silent, 'event was', 'events were')} dropped: Lambda discarded them and nothing records "
            "which orders they were. Give events that fail for good somewhere to go.")
    if problems:
        return wrong(" ".join(problems))
    kept = int(poison["events"].sum())
    where = "failure destination" if FAILURE_DESTINATION in set(poison["state"]) else "dead-letter queue"
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


def max_reservable() -> int:
    """The largest reservation Lambda accepts in the noisy neighbour's account."""
    return NEIGHBOUR_ACCOUNT_LIMIT - facts.MIN_UNRESERVED_CONCURRENCY


@checker
def check_reservation(answer: Any) -> Result:
    """Checkout is never throttled on any day; the reservation leaves report-builder all it can."""
    if isinstance(answer, float) and answer.is_integer():
        return wrong(f"Reserved concurrency is a whole number, an int: write {int(answer)}, without the decimal "
                     f"point (got {answer!r}).")
    if not validation.is_int(answer):
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
