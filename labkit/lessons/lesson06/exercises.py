"""Lesson 06 (vertical memory scaling): the exercises (``labkit.exercises``).

``cheapest_exercise``   exercise 1: the cheapest scavenger configuration that meets a deadline
                        (``cheapest_reference``: the cost to beat)
``doubling_exercise``   exercise 2: does doubling memory halve the cost? (``DOUBLING_SOURCE``,
                        in ``handlers/doubling.py``, holds the three handlers; ``doubling_sweep``)
"""

from typing import Any

import pandas as pd

from labkit.errors import InvalidParameterValueException
from labkit.exercises import Exercise, Result, checker, correct, not_attempted, wrong

from .experiments import STALE_ITEMS, scavenge, sweep
from .handlers import DOUBLING_SOURCE

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
_reference: dict[tuple[float, int], float] = {}


def cheapest_reference(deadline_s: float = DEADLINE_S, seed: int = 1) -> float:
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
def check_cheapest(answer: Any) -> Result:
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

# handler -> (memory before, memory after)
DOUBLING_CASES = {"resize_photo": (512, 1024), "send_webhook": (512, 1024), "encode_video": (2048, 4096)}
PREDICTIONS = ("halves", "same", "doubles")
_SYNONYMS = {"halves": "halves", "halve": "halves", "half": "halves", "halved": "halves",
             "same": "same", "about the same": "same", "unchanged": "same", "equal": "same",
             "doubles": "doubles", "double": "doubles", "doubled": "doubles", "twice": "doubles"}
DOUBLING_PLACEHOLDER = {name: ... for name in DOUBLING_CASES}


def doubling_sweep(seed: int = 1) -> pd.DataFrame:
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
def check_doubling(answer: Any) -> Result:
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
