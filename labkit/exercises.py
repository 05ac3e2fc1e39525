"""The exercise kit every lesson uses: checks, progressive hints, solutions, behavioural checks.

A **checker** is a plain function ``checker(answer) -> Result``; pytest calls it
directly. ``Result.status`` is ``"not_attempted"`` (the answer is still the
placeholder: ``None``, ``...``, or a handler whose body is only ``...``/``pass``/
``raise NotImplementedError``), ``"wrong"`` or ``"correct"``; ``message`` says
what is wrong without giving away the expected answer.

An ``Exercise`` wraps a checker for the notebook::

    ex = Exercise("deposit", check_deposit, hints=["...", "..."], solution=SOURCE)
    ex.check(handler)      # prints ✔ / ✘ / … and a message; never the expected answer
    ex.hint()              # first hint; ex.hint(2) says more
    ex.solution()          # prints a reference solution

**Behavioural checks** run the learner's handler in fresh Labs, one
``Scenario`` at a time from the smallest (one call) upwards, and report the
first scenario that fails, with a timeline of what each invocation did::

    failure = smallest_failure(handler, verify, scenarios(), setup=..., event=...)
    if failure:
        return wrong(failure.message, failure.report())

``verify(trial)`` looks at one finished ``Trial`` (items left in the tables,
responses, errors) and returns ``None`` when all is well, else a message.
"""

import ast
import inspect
import textwrap
from dataclasses import dataclass, field

from . import validation, workload
from .errors import InvalidParameterValueException, SimulationError
from .lab import Lab
from .services.base import show

NOT_ATTEMPTED, WRONG, CORRECT = "not_attempted", "wrong", "correct"
STATUSES = (NOT_ATTEMPTED, WRONG, CORRECT)
_SYMBOL = {CORRECT: "✔ Correct.", WRONG: "✘ Not yet.", NOT_ATTEMPTED: "… Not attempted yet."}

DEFAULT_NOT_ATTEMPTED = "Replace the placeholder (...) with your answer, run that cell, then run this check again."


@dataclass(frozen=True)
class Result:
    """The verdict of a checker. ``details`` holds longer evidence (e.g. a timeline)."""

    status: str
    message: str
    details: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise InvalidParameterValueException("status", self.status, f"one of {STATUSES}")

    @property
    def ok(self):
        return self.status == CORRECT

    def text(self):
        out = f"{_SYMBOL[self.status]} {self.message}".rstrip()
        if self.details:
            out += "\n\n" + self.details.rstrip()
        return out

    def __str__(self):
        return self.text()


def correct(message=""):
    return Result(CORRECT, message)


def wrong(message, details=""):
    return Result(WRONG, message, details)


def not_attempted(message=DEFAULT_NOT_ATTEMPTED):
    return Result(NOT_ATTEMPTED, message)


# ---------------------------------------------------------------------------------------------
# Placeholders ("not attempted" is not "wrong")
# ---------------------------------------------------------------------------------------------

_UNSET = object()


def _empty_body(body):
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]   # a docstring
    if not body:
        return True
    if len(body) != 1:
        return False
    s = body[0]
    if isinstance(s, ast.Pass):
        return True
    if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is Ellipsis:
        return True
    if isinstance(s, ast.Raise) and s.exc is not None:
        exc = s.exc.func if isinstance(s.exc, ast.Call) else s.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _function_node(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _handler_dump(code, handler_name):
    try:
        if inspect.isfunction(code):
            handler_name = code.__name__
            code = inspect.getsource(code)
        node = _function_node(ast.parse(textwrap.dedent(code)), handler_name)
    except (OSError, TypeError, SyntaxError):
        return None
    return None if node is None else ast.dump(node)


def is_placeholder(answer, placeholder=_UNSET, handler_name="handler"):
    """Whether ``answer`` is still the exercise's starting point rather than an attempt."""
    if answer is None or answer is Ellipsis:
        return True
    if placeholder is not _UNSET:
        try:
            if answer is placeholder or bool(answer == placeholder):
                return True
        except Exception:
            pass
        if isinstance(placeholder, str) and (isinstance(answer, str) or inspect.isfunction(answer)):
            # Starter code handed out to be fixed: unchanged (comments and spacing aside) is not an attempt.
            mine, start = _handler_dump(answer, handler_name), _handler_dump(placeholder, handler_name)
            if mine is not None and mine == start:
                return True
    if isinstance(answer, str):
        if not answer.strip() or answer.strip() == "...":
            return True
        try:
            node = _function_node(ast.parse(textwrap.dedent(answer)), handler_name)
        except SyntaxError:
            return False
        return node is not None and _empty_body(node.body)
    if inspect.isfunction(answer):
        try:
            src = textwrap.dedent(inspect.getsource(answer))
            node = _function_node(ast.parse(src), answer.__name__)
        except (OSError, TypeError, SyntaxError):
            return False
        return node is not None and _empty_body(node.body)
    return False


def checker(fn=None, *, placeholder=_UNSET, not_attempted_message=DEFAULT_NOT_ATTEMPTED):
    """Decorate ``fn(answer) -> Result`` so placeholders give ``not_attempted`` and an
    exception while checking becomes a ``wrong`` that names it. The result stays a
    plain function of one argument (``answer`` defaults to None)."""

    def wrap(f):
        def run(answer=None):
            if is_placeholder(answer, placeholder):
                return not_attempted(not_attempted_message)
            try:
                result = f(answer)
            except SimulationError:
                raise
            except Exception as e:
                return wrong(f"Checking your answer raised {type(e).__name__}: {e}")
            if not isinstance(result, Result):
                raise TypeError(f"checker {f.__name__} returned {result!r}, not a Result")
            return result
        run.__name__, run.__qualname__, run.__doc__ = f.__name__, f.__qualname__, f.__doc__
        run.__wrapped__ = f
        return run

    return wrap(fn) if fn is not None else wrap


# ---------------------------------------------------------------------------------------------
# Exercise
# ---------------------------------------------------------------------------------------------

class Exercise:
    """One exercise in a notebook: ``check(answer)``, ``hint(level)``, ``solution()``."""

    def __init__(self, name, checker, *, hints=(), solution=None, title=None):
        if not callable(checker):
            raise InvalidParameterValueException("checker", checker, "a function answer -> Result")
        self.name, self.checker = name, checker
        self.hints = tuple(hints)
        self._solution = solution
        self.title = title or name
        self.last_result = None

    def __repr__(self):
        return f"<Exercise {self.name}: check(answer), hint(1..{len(self.hints)}), solution()>"

    def check(self, answer=None):
        """Check ``answer`` and print the verdict (kept as ``last_result``)."""
        result = self.checker(answer)
        self.last_result = result
        print(result.text())

    def hint(self, level=1):
        """Print hint number ``level``; each level says more than the one before."""
        n = len(self.hints)
        if n == 0:
            print("There is no hint for this exercise.")
            return
        validation.integer("level", level, 1, allowed=f"an integer from 1 to {n}")   # above n: the last hint
        k = min(level, n)
        text = f"Hint {k} of {n}: {self.hints[k - 1]}"
        if k < n:
            text += f"\n(hint({k + 1}) says more.)"
        elif self._solution is not None:
            text += "\n(That is the last hint; solution() shows a full answer.)"
        print(text)

    def solution(self):
        """Print a reference solution."""
        if self._solution is None:
            print("This exercise has no published solution.")
        else:
            print(textwrap.dedent(self._solution).strip("\n"))


# ---------------------------------------------------------------------------------------------
# Behavioural checks
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """``callers`` clients calling at the same time, each making ``calls_each`` calls one after
    another (so a caller's later calls reuse a warm execution environment) with ``gap_s``
    seconds between them, in a Lab seeded with ``seed``."""

    callers: int = 1
    calls_each: int = 1
    seed: int = 1
    gap_s: float = 0.0

    def __post_init__(self):
        validation.integer("callers", self.callers, 1, workload.MAX_CLIENTS,
                           allowed=f"an integer from 1 to {workload.MAX_CLIENTS:,} (labkit's limit)")
        validation.event_count("calls_each", self.calls_each, 1)
        validation.seconds("gap_s", self.gap_s)

    @property
    def calls(self):
        return self.callers * self.calls_each

    def describe(self):
        gap = f", {self.gap_s:g} s apart" if self.gap_s and self.calls_each > 1 else ""
        if self.callers == 1:
            if self.calls_each == 1:
                return "a single call"
            return f"{self.calls_each} calls one after another{gap} (later calls reuse the warm environment)"
        if self.calls_each == 1:
            return f"{self.callers} calls at the same time"
        return f"{self.callers} callers at the same time, {self.calls_each} calls each{gap}"


def scenarios(max_callers=3, max_calls_each=2, seeds=(1,), gap_s=0.0):
    """Scenarios from the smallest up: fewer calls first, then fewer concurrent callers."""
    seeds = tuple(seeds)
    out = [Scenario(c, k, s, gap_s) for c in range(1, max_callers + 1) for k in range(1, max_calls_each + 1)
           for s in seeds]
    return sorted(out, key=lambda sc: (sc.calls, sc.callers, seeds.index(sc.seed)))


@dataclass
class Trial:
    """One scenario, run: the Lab, the Run, the events sent (by call number) and what came back."""

    scenario: Scenario
    lab: object
    run: object
    function: object
    events: dict = field(default_factory=dict)

    def __post_init__(self):
        # The raw records, not run.invocations: a DataFrame would turn responses into numpy
        # numbers (or NaN) and None into NaN.
        rows = list(self.run.records.invocations)
        ids = sorted({r.event_id for r in rows})
        self._call_of = {e: i for i, e in enumerate(ids)}          # event_id -> call number (0-based)
        self._rows = {}
        for row in sorted(rows, key=lambda r: r.attempt):
            self._rows.setdefault(self._call_of[row.event_id], row)   # first attempt of each call
        self._label = {row.request_id: self._call_of[row.event_id] + 1 for row in rows}

    @property
    def calls(self):
        return len(self._rows)

    def row(self, i):
        """The invocation record of call ``i`` (0-based, in the order calls were sent)."""
        return self._rows[i]

    @property
    def responses(self):
        """Each call's response, in the order the calls were sent."""
        return [self._rows[i].response for i in sorted(self._rows)]

    @property
    def failures(self):
        """``(call number from 1, error_type, error_message)`` of calls that did not succeed."""
        return [(i + 1, r.error_type, r.error_message) for i, r in sorted(self._rows.items())
                if r.outcome != "success"]

    def table(self, name):
        """The simulated table ``name`` (``.items()``, ``.item(id=...)``, ``.counters()``)."""
        return self.lab.services.dynamodb.tables[name]

    def timeline(self, calls=None, max_lines=40):
        """What each call did, in simulated time: start (environment, cold/warm), every service
        call it made (with what it read or wrote), and how it ended."""
        wanted = set(calls) if calls is not None else set(range(1, self.calls + 1))
        entries = []
        for i, r in self._rows.items():
            n = i + 1
            if n not in wanted:
                continue
            ev = show(self.events.get(i), 60)
            if r.environment_id is None:
                entries.append((r.start_s, 2, -1, n, f"is throttled ({r.throttle_reason}), event {ev}"))
                continue
            start = "cold start" if r.cold else f"{r.start_type} environment"
            entries.append((r.start_s, 2, -1, n, f"starts in {r.environment_id} ({start}), event {ev}"))
            if r.outcome == "success":
                end = f"returns {show(r.response, 70)}"
            else:
                end = f"fails: {r.error_type}: {r.error_message}"
            # A call that ends the instant it starts is listed after its own start.
            entries.append((r.end_s, 3 if r.end_s == r.start_s else 1, 0, n, end))
        for rec in self.lab.services.records():
            n = self._label.get(rec.request_id)
            if n is not None and n in wanted:
                entries.append((rec.time_s, 0, rec.seq, n, rec.describe()))
        # At one instant: service results first, then returns, then starts, so a warm call
        # that starts the moment its predecessor returns is listed after that return.
        entries.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
        lines = [f"  {'time':>9}  call what happened"]
        for t, _, _, n, text in entries[:max_lines]:
            lines.append(f"  {t:>7.3f} s  #{n:<3} {text}")
        if len(entries) > max_lines:
            lines.append(f"  ... {len(entries) - max_lines} more lines")
        return "\n".join(lines)


def _default_event(i):
    return {"n": i}


def run_scenario(handler, scenario, *, setup=None, event=_default_event, function_options=None):
    """Run ``handler`` (a function, or its module's source text) under ``scenario`` in a fresh Lab.
    ``setup(lab)`` creates the tables/services first; ``event(i)`` makes call ``i``'s event."""
    lab = Lab(seed=scenario.seed)
    if setup is not None:
        setup(lab)
    opts = dict(function_options or {})
    if isinstance(handler, str):
        fn = lab.function(source=textwrap.dedent(handler), name="learner-function", **opts)
    else:
        fn = lab.function(handler, name="learner-function", **opts)
    events = {}

    def payload(i):
        events[i] = event(i)
        return events[i]

    run = lab.invoke(fn, workload.closed_loop(scenario.callers, requests_per_client=scenario.calls_each,
                                              think_s=scenario.gap_s, payload=payload))
    return Trial(scenario, lab, run, fn, events)


@dataclass
class Failure:
    """The smallest failing scenario found by ``smallest_failure``."""

    scenario: Scenario
    trial: Trial
    message: str
    calls: tuple | None = None   # call numbers the timeline should show (None: all)

    def report(self):
        return (f"Smallest failing scenario: {self.scenario.describe()} (seed {self.scenario.seed}).\n"
                f"{self.trial.timeline(self.calls)}")


def smallest_failure(handler, verify, scenario_list, *, setup=None, event=_default_event,
                     function_options=None, allow_errors=False):
    """Run the scenarios in order and return a ``Failure`` for the first one that fails, else None.

    ``verify(trial)`` returns None or a message (or ``(message, call_numbers)`` to focus the
    timeline on some calls). Unless ``allow_errors``, a call that ends in an error fails the
    scenario too, with the error named.
    """
    for sc in scenario_list:
        trial = run_scenario(handler, sc, setup=setup, event=event, function_options=function_options)
        verdict = verify(trial)
        calls = None
        if isinstance(verdict, tuple):
            verdict, calls = verdict
        if verdict is None and not allow_errors and trial.failures:
            n, etype, emsg = trial.failures[0]
            verdict = f"Call #{n} failed with {etype}: {emsg}"
        if verdict is not None:
            return Failure(sc, trial, verdict, tuple(calls) if calls is not None else None)
    return None


# ---------------------------------------------------------------------------------------------
# A worked example (an atomic counter), also the kit's own test subject
# ---------------------------------------------------------------------------------------------

DEPOSIT_SOLUTION = '''
import boto3

table = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    # One request that DynamoDB applies atomically: no read-then-write window.
    result = table.update_item(
        Key={"id": event["account"]},
        UpdateExpression="ADD balance :amount",
        ExpressionAttributeValues={":amount": event["amount"]},
        ReturnValues="UPDATED_NEW",
    )
    return int(result["Attributes"]["balance"])
'''

DEPOSIT_HINTS = (
    "Two invocations can run at the same moment. What happens if both read the balance before either writes?",
    "Let DynamoDB do the arithmetic: one update_item call can add to a number atomically, so there is no "
    "moment between your read and your write.",
    'Look at UpdateExpression="ADD balance :amount" with ExpressionAttributeValues, and ReturnValues="UPDATED_NEW" '
    "to get the new balance back in the same call.",
)


def _deposit_setup(lab):
    lab.dynamodb_table("accounts", key="id", items=[{"id": "acct-1", "balance": 0}])


def _deposit_event(i):
    return {"account": "acct-1", "amount": 1}


def _verify_deposits(trial):
    refused = [f for f in trial.failures if f[1] == "ConditionalCheckFailedException"]
    if refused:
        n = refused[0][0]
        return (f"Call #{n} was refused with ConditionalCheckFailedException, so its deposit was never made. "
                "A conditional write that fails must read the item again and try again.")
    if trial.failures:
        return None   # reported generically
    n = trial.calls
    balance = trial.table("accounts").item(id="acct-1")["balance"]
    if balance < n:
        lost = n - int(balance)
        return (f"{n} deposits of 1 were made but the balance only went up by {balance}: {lost} "
                f"update{'s were' if lost > 1 else ' was'} lost. Look at the timeline: two invocations read "
                "the same balance, and the later write overwrote the earlier one.")
    if balance > n:
        return f"{n} deposits of 1 were made but the balance went up by {balance}: a deposit was applied twice."
    got = sorted(r for r in trial.responses if validation.is_number(r))
    if got != list(range(1, n + 1)):
        return ("The balances are right, but each call should return the balance just after its own deposit "
                "(as an int); the returned values were " + show(trial.responses) + ".")
    return None


@checker
def check_deposit(answer):
    """The deposit handler: no lost updates under concurrency, each call returns its new balance."""
    failure = smallest_failure(answer, _verify_deposits,
                               scenarios(max_callers=3, max_calls_each=2) + [Scenario(10, 3, 1)],
                               setup=_deposit_setup, event=_deposit_event)
    if failure is not None:
        return wrong(failure.message, failure.report())
    return correct("No update was lost, whatever the concurrency, and every call returned its new balance.")


deposit_exercise = Exercise("deposit", check_deposit, hints=DEPOSIT_HINTS, solution=DEPOSIT_SOLUTION,
                            title="An atomic deposit")


__all__ = ["Result", "correct", "wrong", "not_attempted", "is_placeholder", "checker", "Exercise",
           "Scenario", "scenarios", "Trial", "run_scenario", "Failure", "smallest_failure",
           "check_deposit", "deposit_exercise", "NOT_ATTEMPTED", "WRONG", "CORRECT"]
