"""Lesson 02 (container reuse and caching): the exercises (``labkit.exercises``).

``cache_exercise``    exercise 1: a cache placement and TTL that keep the price service under its
                      limit and no price too stale (``run_cache_task`` runs one seed of it)
``basket_exercise``   exercise 2: one caller's data must not leak into the next warm invocation
                      (``basket_demo`` shows what each customer got back; the starting point and
                      a reference solution are ``handlers/basket_*.py``)
"""

import copy
import textwrap
from typing import Any

import pandas as pd

from labkit import validation, workload
from labkit.exercises import Exercise, Result, Scenario, checker, correct, smallest_failure, wrong
from labkit.lab import Lab
from labkit.records import SUCCESS
from labkit.sandbox import HandlerCode
from labkit.workload import Workload

from .experiments import (
    PLACEMENTS,
    PRICE_HOST,
    Handler,
    add_price_service,
    cache_handler_source,
    order,
    poisson_orders,
    price_data,
    run_cached,
)
from .handlers import BASKET_SOLUTION, BASKET_SOURCE

# ---------------------------------------------------------------------------------------------
# Exercise 1: cache placement and TTL
# ---------------------------------------------------------------------------------------------

CACHE_TASK = {
    "peak_rate_per_s": 10,      # calls/s, reached after a one-minute ramp
    "ramp_s": 60,
    "steady_s": 240,
    "rps_limit": 5,             # the price service's limit, requests/s
    "version_every_s": 60,      # prices change every minute
    "max_staleness_s": 90,      # no price may be more than this out of date
}
CACHE_CHECK_SEEDS = (1, 2, 3)

CACHE_PLACEHOLDER = {"placement": ..., "ttl_s": ...}

CACHE_HINTS = (
    "Two limits pull in opposite directions. Every cache miss is a request to the price service, and "
    "a copy kept longer can be served after the prices have changed. Which of your three choices "
    "makes no requests it can avoid, and which keeps data too long?",
    "Each execution environment keeps its own copy (globals and /tmp both belong to one "
    "environment), so the service sees about (environments in use) / TTL refreshes per second. "
    "A copy is served until its TTL runs out, so a price can be out of date for up to about the TTL.",
    "Look at the steady run in section 3 for how many environments a few calls per second keep "
    "busy, then pick a TTL that keeps (environments / TTL) well below the service's limit and "
    "stays below the staleness bound.",
)

CACHE_SOLUTION = '''\
my_cache = {"placement": "global", "ttl_s": 30}
# Any TTL from about 10 s up to (just under) the staleness bound works here, and "tmp" as well as
# "global": this traffic keeps 7 or 8 environments busy, so a 30 s TTL means about one refresh
# every 4 seconds (the limit is 5 per second), and no copy is served more than 30 s after it was
# fetched (bound: 90 s). Much shorter TTLs refresh so often that the environments' refreshes
# sometimes bunch up above the limit.
'''


def cache_task_traffic() -> tuple[Workload, Workload]:
    """Exercise 1's traffic: a one-minute ramp up to the peak rate, then the peak rate."""
    t = CACHE_TASK
    return workload.ramp(0, t["peak_rate_per_s"], t["ramp_s"], payload=order), \
        poisson_orders(t["peak_rate_per_s"], t["steady_s"])


def _describe_cache_answer(answer):
    if not isinstance(answer, dict):
        return None, f"Give your answer as a dict with two keys, placement and ttl_s, not {answer!r}."
    missing = [k for k in ("placement", "ttl_s") if k not in answer]
    if missing:
        return None, f"Your dict needs the key{'s' if len(missing) > 1 else ''} {', '.join(missing)}."
    placement, ttl = answer["placement"], answer["ttl_s"]
    if placement is ... or (ttl is ... and placement != "none"):
        return None, "Replace both ... in my_cache with your choices."
    if placement not in PLACEMENTS:
        return None, f"placement must be one of {', '.join(repr(p) for p in PLACEMENTS)}; got {placement!r}."
    if placement != "none" and (not validation.is_number(ttl) or ttl <= 0):
        return None, f"ttl_s must be a number of seconds greater than 0; got {ttl!r}."
    return (placement, ttl), None


def run_cache_task(placement: str, ttl_s: float, seed: int = 1) -> dict[str, Any]:
    """Exercise 1's scenario for one seed; ``run_cached``'s figures."""
    ramp, steady = cache_task_traffic()
    return run_cached(cache_handler_source(placement, ttl_s), steady, warmup=ramp, seed=seed,
                      rps_limit=CACHE_TASK["rps_limit"], version_every_s=CACHE_TASK["version_every_s"])


def _calls(n):
    return f"{n:,} call" if n == 1 else f"{n:,} calls"


@checker(placeholder=CACHE_PLACEHOLDER)
def check_cache_choice(answer: Any) -> Result:
    """Exercise 1: the service never refuses a request, and no price is served too stale."""
    choice, problem = _describe_cache_answer(answer)
    if problem:
        return wrong(problem)
    placement, ttl = choice
    t = CACHE_TASK
    bound = t["max_staleness_s"]
    worst = None
    for seed in CACHE_CHECK_SEEDS:
        r = run_cache_task(placement, ttl, seed)
        if r["refusals"] or r["max_staleness_s"] > bound:
            worst = r
            break
    if worst is None:
        extra = ""
        if placement == "tmp":
            extra = (" Here /tmp and a global behave the same; /tmp would also keep the copy through a "
                     "reset after a timeout, and suits data too big to hold in memory.")
        return correct(f"The price service never refused a request ({r['fetches']:,} requests in "
                       f"{r['calls']:,} calls) and no price was more than {r['max_staleness_s']:.0f} s out of "
                       f"date.{extra}")
    r = worst
    minutes = r["simulated_s"] / 60
    if placement == "none":
        return wrong(f"With no cache every call asks the price service: it got {r['fetches']:,} requests in "
                     f"{minutes:.0f} minutes, far above its limit of {t['rps_limit']} per second, and refused "
                     f"{r['refusals']:,} of them with 429 Too Many Requests, so {_calls(r['errors'])} failed. "
                     "Keep the price list somewhere that outlives one invocation.")
    if r["refusals"]:
        return wrong(f"Your cache refreshes too often: the price service got {r['fetches']:,} requests and "
                     f"refused {r['refusals']:,} of them with 429 Too Many Requests ({_calls(r['errors'])} "
                     f"failed). Every execution environment ({r['environments']} of them here) refreshes its "
                     "own copy each time its TTL runs out.")
    return wrong(f"The service was happy ({r['fetches']} requests, none refused), but customers were shown "
                 f"prices up to {r['max_staleness_s']:.0f} s out of date; the bound is {bound} s. A cached "
                 "copy keeps being served until its TTL runs out, however long ago the prices changed.")


cache_exercise = Exercise("cache-placement-and-ttl", check_cache_choice, hints=CACHE_HINTS,
                          solution=CACHE_SOLUTION, title="Cache placement and TTL")


# ---------------------------------------------------------------------------------------------
# Exercise 2: one caller's data leaking into the next warm invocation
# ---------------------------------------------------------------------------------------------


# The orders the checker sends, in this order (call i gets ORDERS[i % len(ORDERS)]).
ORDERS = (
    {"customer": "ada", "items": ["espresso", "croissant"]},
    {"customer": "grace", "items": ["tea"]},
    {"customer": "alan", "items": ["flat-white", "unicorn-latte"]},   # an unknown item: this call fails
    {"customer": "edsger", "items": ["espresso"]},
    {"customer": "ada", "items": ["tea"]},                            # ada again
    {"customer": "barbara", "items": ["croissant", "flat-white"]},
)
LEAK_SCENARIOS = (Scenario(1, 1), Scenario(1, 2), Scenario(1, 4), Scenario(1, 6), Scenario(3, 4),
                  Scenario(2, 6, seed=2))

BASKET_HINTS = (
    "An execution environment serves one call at a time, but it serves many calls one after another, "
    "and module-level variables stay as the last call left them. Which module-level variable holds "
    "data that belongs to one caller?",
    "The price list is the same for every customer: keeping it between calls is a good cache. The "
    "basket belongs to one order: it must start empty for every call, whether the call before it "
    "succeeded or failed.",
    "Make the basket a local variable of handler (basket = [] inside the function), and delete the "
    "module-level one. Clearing a global at the end of the handler is not enough: a call that "
    "raises never gets there.",
)


# Lambda turns the response into JSON the moment the handler returns, so a caller's answer cannot
# change afterwards. labkit's runtime records the returned object itself; a handler that returns a
# module-level list (as the leaky basket does) would see its recorded answers change with later
# calls. Until the runtime serialises responses, the exercise's handler modules get this wrapper.
_SERIALISE_RESPONSE = """

import json as _json_returned_by_lambda
_handler_as_written = {name}


def {name}(event, context):
    return _json_returned_by_lambda.loads(_json_returned_by_lambda.dumps(_handler_as_written(event, context)))
"""


def _serialising(handler):
    """The module text of ``handler`` (a function or module text) with responses JSON-serialised on return."""
    if isinstance(handler, str):
        return textwrap.dedent(handler) + _SERIALISE_RESPONSE.format(name="handler")
    code = HandlerCode.from_callable(handler)
    return code.source + _SERIALISE_RESPONSE.format(name=code.handler_name)


def _order_event(i):
    return copy.deepcopy(ORDERS[i % len(ORDERS)])


def _basket_setup(lab):
    add_price_service(lab, version_every_s=None)


def _leak_source_call(trial, i, env, extra):
    """The earlier call on ``env`` that ``extra`` most likely came from: the most recent one whose
    order holds all of ``extra``, else the most recent one that shares an item with it."""
    earlier = [j for j in range(i - 1, -1, -1) if trial.row(j).environment_id == env]
    for j in earlier:
        items = trial.events[j]["items"]
        if all(items.count(x) >= extra.count(x) for x in set(extra)):
            return j
    for j in earlier:
        if any(x in trial.events[j]["items"] for x in extra):
            return j
    return None


def _verify_baskets(trial):
    prices = price_data(1)["prices"]
    envs = {trial.row(i).environment_id for i in range(trial.calls)}
    for i in range(trial.calls):
        r, ev = trial.row(i), trial.events[i]
        if r.outcome != SUCCESS:
            if all(x in prices for x in ev["items"]):
                return (f"Call #{i + 1} ({ev['customer']}, {ev['items']}) failed with {r.error_type}: "
                        f"{r.error_message}", [i + 1])
            continue
        resp = r.response
        if not isinstance(resp, dict) or "items" not in resp or "total" not in resp:
            return (f"Call #{i + 1} returned {resp!r}; the handler should still return a dict with "
                    "customer, items and total.", [i + 1])
        got = list(resp["items"])
        mine = list(ev["items"])
        extra = list(got)                            # what came back that this call did not order
        for x in mine:
            if x in extra:
                extra.remove(x)
        if extra:
            j = _leak_source_call(trial, i, r.environment_id, extra)
            env = r.environment_id
            if j is None:
                return (f"Call #{i + 1} ({ev['customer']}) got items it never ordered: {sorted(set(extra))}.",
                        [i + 1])
            other = trial.events[j]
            if other["customer"] == ev["customer"]:
                return (f"{ev['customer']} ordered twice on environment {env} (calls #{j + 1} and #{i + 1}), and "
                        f"the second order came back with the first one's items too: {got}. Data kept in a "
                        "module-level variable, even one keyed by customer, outlives the invocation.",
                        [j + 1, i + 1])
            if trial.row(j).outcome != SUCCESS:
                return (f"Call #{j + 1} ({other['customer']}) failed part-way, and the items it had already "
                        f"added stayed behind in the module-level basket: the next call on environment {env}, "
                        f"#{i + 1} ({ev['customer']}), was charged for them ({got}). Clearing shared state only "
                        "when a call succeeds leaves a failed call's data for the next caller.",
                        [j + 1, i + 1])
            return (f"Caller {other['customer']} then caller {ev['customer']} on environment {env}: "
                    f"{ev['customer']} saw {other['customer']}'s data. Call #{i + 1} ordered {mine} but got "
                    f"back {got}. The warm environment kept the module-level basket from call #{j + 1}.",
                    [j + 1, i + 1])
        if sorted(got) != sorted(mine):
            return (f"Call #{i + 1} ({ev['customer']}) ordered {mine} but got back {got}.", [i + 1])
        expected = round(sum(prices[x] for x in mine), 2)
        total = resp["total"]
        if not validation.is_number(total) or abs(total - expected) > 0.005:
            return (f"Call #{i + 1} ({ev['customer']}, {mine}) returned a total of {total!r}; its items cost "
                    f"{expected}.", [i + 1])
    fetches = trial.lab.services.http[PRICE_HOST].calls
    if fetches > len(envs):
        return (f"No order leaked, but the price list was fetched {fetches} times for {trial.calls} calls on "
                f"{len(envs)} environment{'s' if len(envs) > 1 else ''}. The price list is the same for every "
                "customer, so keep caching it between calls; only the caller's own data must not outlive "
                "the call.")
    return None


@checker(placeholder=BASKET_SOURCE,
         not_attempted_message="This is still the starter handler: change it, run its cell, then run this "
                               "check again.")
def check_basket(answer: Handler) -> Result:
    """Exercise 2: no caller's items show up in another call's response, on any warm environment."""
    failure = smallest_failure(_serialising(answer), _verify_baskets, LEAK_SCENARIOS, setup=_basket_setup,
                               event=_order_event, allow_errors=True)
    if failure is not None:
        return wrong(failure.message, failure.report())
    return correct("Every order came back with exactly its own items and total, call after call on the same "
                   "warm environment, and the price list was still fetched only once per environment.")


basket_exercise = Exercise("no-leaks-between-callers", check_basket, hints=BASKET_HINTS,
                           solution=BASKET_SOLUTION, title="Don't leak one caller's data into the next")


def basket_demo(handler: Handler, orders: int = 2) -> pd.DataFrame:
    """Send the first ``orders`` of ``ORDERS`` one after another to ``handler`` (a function or module
    text) and return what each customer got back, as a DataFrame."""
    lab = Lab(seed=1)
    _basket_setup(lab)
    fn = lab.function(source=_serialising(handler), name="basket")
    run = lab.invoke(fn, [_order_event(i) for i in range(orders)])
    rows = []
    for row in sorted(run.records.invocations, key=lambda r: r.start_s):
        resp = row.response
        ok = row.outcome == SUCCESS
        rows.append({"environment": row.environment_id, "start": row.start_type,
                     "customer": resp["customer"] if ok else "-",
                     "items returned": resp["items"] if ok else f"{row.error_type}: {row.error_message}",
                     "total": resp["total"] if ok else None})
    lab.close()
    return pd.DataFrame(rows)
