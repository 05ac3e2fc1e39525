"""Lesson 04 (downstream connection pooling): the exercises (``labkit.exercises``).

``settings_exercise``   exercise 1: reserved concurrency and pool size that protect the database
                        and keep p99 (``settings_trial``, ``settings_report``)
``remedy_exercise``     exercise 2: the remedy for two described workloads (``WORKLOADS``,
                        ``remedy_settings``, ``try_remedy``, ``trial_report``, ``show_choices``)
``prediction_note``     words the answer to a prediction cell
"""

import functools
from typing import Any

import pandas as pd

import labkit as lk
from labkit import validation
from labkit.errors import InvalidParameterValueException
from labkit.exercises import Exercise, Result, checker, correct, not_attempted, wrong
from labkit.workload import Workload

from .experiments import MAX_CONNECTIONS, RemedyRun, order, order_traffic, pooled_handler_source, run_remedy

# ---------------------------------------------------------------------------------------------
# Exercise 1: reserved concurrency and pool size for a ramp
# ---------------------------------------------------------------------------------------------

EX1_RAMP = (0, 400, 20)        # orders per second, from 0 to 400 over 20 s
EX1_HELD_BY_OTHERS = 30        # the old monolith keeps 30 connections open all day
EX1_P99_BOUND_S = 1.0
SETTINGS_KEYS = ("reserved_concurrency", "pool_size")
SETTINGS_PLACEHOLDER = {"reserved_concurrency": ..., "pool_size": ...}


def settings_trial(settings: dict[str, Any], seed: int = 1) -> RemedyRun:
    """The exercise's ramp (``EX1_RAMP``) through the pooled handler, with
    ``settings = {"reserved_concurrency": R or None, "pool_size": N}``, against the shop's
    database (``MAX_CONNECTIONS``, of which ``EX1_HELD_BY_OTHERS`` are held by another
    application). Callers retry throttles like the AWS SDK. Returns a ``RemedyRun``."""
    if isinstance(settings, dict) and any(v is Ellipsis for v in settings.values()):
        raise InvalidParameterValueException("settings", settings, "fill in both values of my_settings first "
                                             "(replace each ...)")
    _check_settings(settings)
    return run_remedy("no remedy", pooled_handler_source(settings["pool_size"]), workload=order_traffic(*EX1_RAMP),
                      seed=seed, held_by_others=EX1_HELD_BY_OTHERS,
                      reserved_concurrency=settings["reserved_concurrency"])


def settings_report(run: RemedyRun) -> str:
    """The figures the check looks at, as a one-line text."""
    s = run.summary()
    return (f"database: peak {s['peak_db_connections']} of {MAX_CONNECTIONS} connections "
            f"(the other application holds {EX1_HELD_BY_OTHERS}), {s['refused_connections']} refused | "
            f"orders: {s['requests']}, failed {s['failed_requests']}, throttles {s['throttles']}, "
            f"p99 {s['latency_p99_s']:.2f} s")


def _check_settings(settings):
    if not isinstance(settings, dict):
        raise InvalidParameterValueException("settings", type(settings).__name__, f"a dict with keys {SETTINGS_KEYS}")
    keys = set(settings)
    if keys != set(SETTINGS_KEYS):
        raise InvalidParameterValueException("settings", sorted(keys), f"exactly the keys {SETTINGS_KEYS}")
    r, n = settings["reserved_concurrency"], settings["pool_size"]
    if r is not None:
        validation.integer("reserved_concurrency", r, 0, allowed="None (no reservation) or a whole number >= 0")
    validation.integer("pool_size", n, 1, allowed="a whole number >= 1")


@checker(placeholder=SETTINGS_PLACEHOLDER)
def check_settings(answer: Any) -> Result:
    """No refused connection, no failed order, p99 within the bound, under the exercise's ramp."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Fill in both values of the dict (replace each ...), run that cell, then check again.")
    try:
        _check_settings(answer)
    except InvalidParameterValueException as e:
        return wrong(f"That is not a setting Lambda and DBUtils would accept: {e}")
    r, n = answer["reserved_concurrency"], answer["pool_size"]
    if r == 0:
        return wrong("A reserved concurrency of 0 throttles every call: the database would be safe because no "
                     "order at all gets through.")
    try:
        run = settings_trial(answer)
    except InvalidParameterValueException as e:
        return wrong(f"Lambda would reject this reservation: {e}")
    s = run.summary()
    refused, failed, p99 = s["refused_connections"], s["failed_requests"], s["latency_p99_s"]
    if refused:
        if n > 1:
            return wrong(f"The database refused {refused:,} connections. Each execution environment opened {n} "
                         "connections in Init, but an environment handles one event at a time, so it only ever "
                         "uses one of them: the rest sit idle while other environments are refused.")
        if r is None:
            return wrong(f"The database refused {refused:,} connections. Without a reservation nothing limits how "
                         "many environments Lambda starts for the ramp, and each one opens a connection of its own.")
        return wrong(f"The database refused {refused:,} connections. Your reservation lets Lambda run more "
                     "environments than the database has connections left for this function: count what the "
                     "other application already holds.")
    if failed or not p99 <= EX1_P99_BOUND_S:
        why = (f"{failed:,} orders failed after every retry was throttled" if failed else
               f"p99 was {p99:.2f} s, above the {EX1_P99_BOUND_S:g} s bound: throttled calls waited for their retries")
        if n > 1:
            return wrong(f"No connection was refused, but {why}. With {n} connections per environment, the "
                         "connections left allow too few environments for this traffic.")
        return wrong(f"No connection was refused, but {why}. The reservation is too small for the traffic at the "
                     "top of the ramp.")
    return correct(f"Not one refused connection and no failed order, with p99 {p99:.2f} s "
                   f"(peak {s['peak_db_connections']} connections on the database, the other application's "
                   f"{EX1_HELD_BY_OTHERS} included).")


SETTINGS_HINTS = (
    "Two budgets meet here. The database: how many connections are left for your function once the other "
    "application has its share? The traffic: how many invocations are in flight at the top of the ramp?",
    "An execution environment handles one event at a time, so with a pool of 1 each environment needs exactly "
    "one connection, and reserved concurrency caps the environments. Little's law gives the environments the "
    "traffic needs: requests per second x seconds per request (about 0.16 s here, a little more on cold starts).",
    f"Use pool_size 1. The connections left are {MAX_CONNECTIONS} - {EX1_HELD_BY_OTHERS}; the top of the ramp "
    f"needs about {EX1_RAMP[1]} x 0.16 environments. Pick a reservation between the two, closer to the first: "
    "every unit you give up near the top turns into throttles and slower retries.",
)

# The line with the arithmetic is long as the learner sees it printed (hence the noqa).
SETTINGS_SOLUTION = f'''
my_settings = {{
    "reserved_concurrency": {MAX_CONNECTIONS - EX1_HELD_BY_OTHERS},   # {MAX_CONNECTIONS} - {EX1_HELD_BY_OTHERS}: every connection left, one each
    "pool_size": 1,               # one event at a time per environment: one connection is all it uses
}}
q1.check(my_settings)
'''  # noqa: E501

settings_exercise = Exercise("reserve-for-the-database", check_settings, hints=SETTINGS_HINTS,
                             solution=SETTINGS_SOLUTION, title="Protect the database, keep p99")


# ---------------------------------------------------------------------------------------------
# Exercise 2: the remedy for a described workload
# ---------------------------------------------------------------------------------------------

CHOICES = ("none", "pool", "reserved concurrency", "queue", "proxy")
_ALIASES = {"none": "none", "no remedy": "none", "pool": "pool", "pool of 10": "pool", "connection pool": "pool",
            "reserved": "reserved concurrency", "reserved concurrency": "reserved concurrency",
            "queue": "queue", "sqs": "queue", "sqs queue": "queue", "proxy": "proxy", "rds proxy": "proxy"}
_RUN_NAME = {"none": "no remedy", "pool": "pool of 10", "reserved concurrency": "reserved concurrency",
             "queue": "queue", "proxy": "proxy"}

WORKLOADS: dict[str, dict[str, Any]] = {
    "flash-sale API": {
        "story": "The checkout API during a flash sale: orders ramp from 0 to 800 per second in 10 seconds. Each "
                 "customer waits for the confirmation; the web page does not retry (a throttle is an error page).",
        "cap": 90, "retry": False, "needs_answer": True,
        "requirements": ("no failed order", "p99 end-to-end latency under 1 s",
                         "the customer gets the confirmation in the same request"),
    },
    "stock import": {
        "story": "A supplier's stock file: 3,000 updates arrive within 2 seconds, sent by an importer that retries "
                 "throttles like the AWS SDK. Nobody waits for the answers, but the shop uses the same database.",
        "cap": 50, "retry": True, "needs_answer": False,
        "requirements": ("no update lost", "all done within 2 minutes",
                         "the database's CPU stays under 50% in every second",
                         "at most 50 database connections"),
    },
}
CPU_LIMIT = 0.5
IMPORT_DEADLINE_S = 120


def workload_traffic(workload: str) -> Workload:
    """The traffic of one of ``WORKLOADS``."""
    if workload == "flash-sale API":
        return order_traffic(0, 800, 10)
    return lk.workload.burst(3000, spread_s=2.0, payload=order)


def remedy_settings(workload: str) -> pd.DataFrame:
    """What each remedy means for ``workload`` (the settings ``try_remedy`` uses)."""
    cap = WORKLOADS[workload]["cap"]
    return pd.DataFrame([
        {"remedy": "none", "settings": "one connection per environment, opened in Init"},
        {"remedy": "pool", "settings": "a DBUtils pool of 10 connections per environment, opened in Init"},
        {"remedy": "reserved concurrency", "settings": f"reserved concurrency {cap} (one connection per environment)"},
        {"remedy": "queue", "settings": f"requests go to an SQS queue; MaximumConcurrency {cap}, batch size 1"},
        {"remedy": "proxy", "settings": f"an RDS-Proxy-style proxy allowed {cap}% of max_connections"},
    ])


def normalise_choice(choice: Any) -> str | None:
    """A remedy name from ``CHOICES`` (case and a few aliases forgiven), or None."""
    if not isinstance(choice, str):
        return None
    return _ALIASES.get(" ".join(choice.lower().replace("-", " ").replace("_", " ").split()))


@functools.cache
def try_remedy(workload: str, remedy: str, seed: int = 1) -> dict[str, Any]:
    """Run ``workload`` (a key of ``WORKLOADS``) with ``remedy`` (one of ``CHOICES``) and check
    the workload's requirements. Returns a dict: the measured figures and ``verdicts``, a
    list of ``(requirement, met, what was measured)``."""
    if workload not in WORKLOADS:
        raise InvalidParameterValueException("workload", workload, f"one of {tuple(WORKLOADS)}")
    choice = normalise_choice(remedy)
    if choice is None:
        raise InvalidParameterValueException("remedy", remedy, f"one of {CHOICES}")
    w = WORKLOADS[workload]
    cap = w["cap"]
    r = run_remedy(_RUN_NAME[choice], workload=workload_traffic(workload), seed=seed, retry=w["retry"],
                   reserved_concurrency=cap if choice == "reserved concurrency" else None,
                   maximum_concurrency=cap, proxy_percent=cap)
    s = r.summary()
    cpu = float(r.db.metrics(1.0, t0=r.t0)["cpu_utilization"].max())
    out = {"workload": workload, "remedy": choice, "requests": s["requests"], "failed": s["failed_requests"],
           "refused": s["refused_connections"], "throttles": s["throttles"], "p99_s": s["latency_p99_s"],
           "all_done_s": s["all_done_s"], "peak_connections": s["peak_db_connections"],
           "peak_cpu": round(cpu, 2), "max_concurrency": s["max_concurrency"]}
    lost = f"{s['failed_requests']:,} of {s['requests']:,} failed" + \
        (f" ({s['refused_connections']:,} refused connections, {s['throttles']:,} throttles)"
         if s["failed_requests"] else "")
    if workload == "flash-sale API":
        verdicts = [
            ("no failed order", s["failed_requests"] == 0, lost),
            ("p99 end-to-end latency under 1 s", s["latency_p99_s"] < 1.0, f"p99 {s['latency_p99_s']:.2f} s"),
            ("the customer gets the confirmation in the same request", choice != "queue",
             "no: the caller only hears that SQS accepted the message" if choice == "queue" else "yes"),
        ]
    else:
        verdicts = [
            ("no update lost", s["failed_requests"] == 0, lost),
            ("all done within 2 minutes", s["all_done_s"] <= IMPORT_DEADLINE_S, f"done after {s['all_done_s']:g} s"),
            ("the database's CPU stays under 50% in every second", cpu < CPU_LIMIT, f"peak {cpu:.0%}"),
            ("at most 50 database connections", s["peak_db_connections"] <= cap,
             f"peak {s['peak_db_connections']}"),
        ]
    out["verdicts"] = verdicts
    return out


def trial_report(result: dict[str, Any]) -> str:
    """``try_remedy``'s result as text: one line per requirement, ✔ or ✘, with what was measured."""
    lines = [f"{result['workload']} with {result['remedy']}:"]
    for req, met, measured in result["verdicts"]:
        lines.append(f"  {'✔' if met else '✘'} {req}: {measured}")
    return "\n".join(lines)


def show_choices(choice: Any) -> None:
    """Print ``trial_report`` for each workload of ``choice`` (a dict workload -> remedy)."""
    if not isinstance(choice, dict) or any(v is Ellipsis or v is None for v in choice.values()):
        print("Fill in my_choice first: one remedy per workload, from " + ", ".join(CHOICES) + ".")
        return
    for workload, remedy in choice.items():
        if workload not in WORKLOADS:
            print(f"{workload!r} is not one of the workloads: {', '.join(WORKLOADS)}.")
        elif normalise_choice(remedy) is None:
            print(f"{remedy!r} is not one of the remedies: {', '.join(CHOICES)}.")
        else:
            print(trial_report(try_remedy(workload, normalise_choice(remedy))))


REMEDY_PLACEHOLDER = {w: ... for w in WORKLOADS}

_WHY_NOT = {
    ("flash-sale API", "none"): "Nothing limits the connections: the ramp needs more environments than the "
                                "database has connections, and the extra ones are refused.",
    ("flash-sale API", "pool"): "A pool inside each environment makes it worse: every environment opens ten "
                                "connections and uses one.",
    ("flash-sale API", "reserved concurrency"): "The cap protects the database, but at the top of the ramp the "
                                                "extra calls are throttled, and this caller does not retry.",
    ("flash-sale API", "queue"): "A queue answers 'accepted' and processes the order later: the customer cannot "
                                 "get the confirmation in the same request, and the backlog delays it by seconds.",
    ("stock import", "none"): "The burst starts hundreds of environments at once, far more than the database "
                              "has connections.",
    ("stock import", "pool"): "Ten connections per environment: the database is full after a handful of "
                              "environments.",
    ("stock import", "reserved concurrency"): "The reservation caps the connections, but a burst this size keeps "
                                              "being throttled, and the importer's few retries run out.",
    ("stock import", "proxy"): "The proxy keeps the connections down, but it lets the whole burst reach the "
                               "database at once (and lets Lambda start as many environments as the burst asks "
                               "for): the shop shares that CPU.",
}


@checker(placeholder=REMEDY_PLACEHOLDER)
def check_remedy_choice(answer: Any) -> Result:
    """The remedy that meets every requirement of each workload."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Choose a remedy for each workload (replace each ...), run that cell, then check again.")
    if not isinstance(answer, dict):
        return wrong("Give a dict: workload -> remedy, like the one in the exercise cell "
                     f"(got a {type(answer).__name__}).")
    missing = [w for w in WORKLOADS if w not in answer]
    if missing:
        return wrong(f"Choose a remedy for every workload: {', '.join(repr(w) for w in missing)} is missing.")
    problems = []
    for workload in WORKLOADS:
        choice = normalise_choice(answer[workload])
        if choice is None:
            return wrong(f"{answer[workload]!r} (for {workload!r}) is not one of the remedies: {', '.join(CHOICES)}.")
        result = try_remedy(workload, choice)
        failed = [f"'{req}' ({measured})" for req, met, measured in result["verdicts"] if not met]
        if failed:
            problems.append(f"{workload} with {choice}: not met: {'; '.join(failed)}. "
                            f"{_WHY_NOT.get((workload, choice), '')}".rstrip())
    if problems:
        return wrong(" | ".join(problems))
    return correct("Both choices meet every requirement. The API needs its answer now, so the fix has to absorb "
                   "the environments without refusing anyone: the proxy. The import can wait, so a queue turns "
                   "its burst into a steady flow the database barely notices.")


REMEDY_HINTS = (
    "Read each workload's requirements first: who waits for the answer, and what must the database be spared? "
    "Then run lesson04.show_choices(my_choice) and read which requirement fails.",
    "Reserved concurrency and a queue both cap the connections, in different ways: one says no to the extra "
    "calls (a throttle), the other makes them wait. A proxy caps the database connections but lets every call "
    "through at once. A pool inside an environment caps nothing across environments.",
    "The flash-sale customers wait and are not retried: nothing may be refused or throttled, and the answer is "
    "needed now. The import can wait two minutes, but must not take the shop's CPU or connections.",
)

REMEDY_SOLUTION = '''
my_choice = {
    "flash-sale API": "proxy",   # every call gets through at once; the proxy shares a few connections
    "stock import": "queue",     # nobody waits: SQS + MaximumConcurrency turns the burst into a steady flow
}
lesson04.show_choices(my_choice)
q2.check(my_choice)
'''

remedy_exercise = Exercise("choose-the-remedy", check_remedy_choice, hints=REMEDY_HINTS, solution=REMEDY_SOLUTION,
                           title="The remedy for the workload")


def prediction_note(prediction: Any, answer: Any, tolerance: float = 0.0) -> str:
    """The line a prediction cell prints: the answer, and how the prediction compares.
    ``tolerance``: a relative margin within which a numeric prediction counts as right
    (0.15 = within 15%), for answers no one could hit exactly."""
    if prediction is None:
        return f"Answer: {answer}. (You made no prediction: set my_prediction and run both cells again.)"
    if prediction == answer:
        return f"Answer: {answer}. Your prediction was right."
    numbers = all(validation.is_number(v) for v in (prediction, answer))
    if numbers and tolerance and abs(prediction - answer) <= tolerance * abs(answer):
        return f"Answer: {answer}. You predicted {prediction}: close enough (within {tolerance:.0%})."
    return f"Answer: {answer}. You predicted {prediction}. The output above shows why."
