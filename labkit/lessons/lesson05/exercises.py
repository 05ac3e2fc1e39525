"""Lesson 05 (shard ordering): the exercises (``labkit.exercises``).

``design_exercise``   exercise 1: partition key and shard count for a required throughput,
                      keeping each document's edits in order (``design_events``, ``design_trial``)
``poison_exercise``   exercise 2: event source mapping settings that stop a poison record from
                      blocking its shard without losing it (``experiments.poison_trial``)
"""

import json
import math
from collections.abc import Callable
from typing import Any

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException
from labkit.event_sources.destinations import DestinationQueue
from labkit.exercises import Exercise, Result, checker, correct, not_attempted, wrong
from labkit.lab import Lab
from labkit.records import DROPPED, FAILURE_DESTINATION, PENDING

from .experiments import POISON_RUN_S, edit_events, mapping_settings, poison_trial

# ---------------------------------------------------------------------------------------------
# Exercise 1: partition key and shard count
# ---------------------------------------------------------------------------------------------

DESIGN_RATE = 600          # edits per second at the busiest hour ...
DESIGN_DOCUMENTS = 300     # ... over this many documents ...
DESIGN_RECORD_BYTES = 4000 # ... each edit's record this many bytes of JSON
DESIGN_SECONDS = 20        # the checker simulates this much of the busiest hour
DESIGN_FIELDS = ("doc", "seq", "user", "op")
MB = 1024 * 1024           # Kinesis's "1 MB" per second per shard is 1,048,576 bytes
DESIGN_PLACEHOLDER = {"partition_key": ..., "shard_count": ...}


def design_events(seed: int = 1) -> list[tuple[float, dict[str, Any]]]:
    """The busiest hour's edits (``DESIGN_SECONDS`` of it)."""
    return edit_events(DESIGN_RATE * DESIGN_SECONDS, DESIGN_DOCUMENTS, DESIGN_RATE, seed=seed,
                       record_bytes=DESIGN_RECORD_BYTES, users=500)


def _key_function(partition_key: Any) -> Callable[[dict[str, Any]], str]:
    if isinstance(partition_key, str):
        if partition_key not in DESIGN_FIELDS:
            raise InvalidParameterValueException(
                "partition_key", partition_key, f"the name of a field of an edit ({', '.join(DESIGN_FIELDS)}) "
                "or a function of the edit")
        return lambda edit: str(edit[partition_key])
    if callable(partition_key):
        return partition_key
    raise InvalidParameterValueException("partition_key", partition_key,
                                         "the name of a field of an edit, or a function of the edit")


def design_trial(design: dict[str, Any], seed: int = 1) -> tuple[Any, list[str]]:
    """Produce ``design_events()`` into a stream of ``design["shard_count"]`` shards with
    ``design["partition_key"]`` (a field name or a function of the edit). No consumer: this
    is about the writes. Returns ``(stream, keys)`` (the key of every edit, in order)."""
    if not isinstance(design, dict) or set(design) != {"partition_key", "shard_count"}:
        raise InvalidParameterValueException("design", design, 'a dict with the keys "partition_key" and "shard_count"')
    key_of = _key_function(design["partition_key"])
    events = design_events(seed)
    keys = [key_of(e) for _, e in events]
    lab = Lab(seed=seed)
    stream = lab.kinesis_stream("edits", shard_count=design["shard_count"])
    for k in keys[:1]:
        stream.shard_for(k)    # validates the key as PutRecord does (a string of 1-256 characters)
    wl = lk.workload.replay([t for t, _ in events], [e for _, e in events])
    stream.produce(wl, key_of)
    lab.advance(DESIGN_SECONDS + 1 - lab.now)   # the whole busiest stretch, and a second more
    return stream, keys


def _plural(n, one, many):
    return f"{n:,} {one if n == 1 else many}"


@checker(placeholder=DESIGN_PLACEHOLDER)
def check_design(answer: Any) -> Result:
    """Every put accepted at the busiest hour, and each document's edits in one shard, in order."""
    if isinstance(answer, dict) and any(v is Ellipsis for v in answer.values()):
        return not_attempted("Fill in both values of the dict (replace each ...), run that cell, then check again.")
    try:
        stream, keys = design_trial(answer)
    except InvalidParameterValueException as e:
        return wrong(f"This design cannot run: {e}")
    events = design_events()
    if len(set(keys)) == 1:
        return wrong(f"Every edit got the same partition key ({keys[0]!r}), so every edit goes to the same shard, "
                     "however many shards the stream has: the other shards sit idle while that one is asked for "
                     "far more than one shard can take. Order per document holds, but only because nothing runs "
                     "in parallel at all.")
    shard_of: dict[str, set[str]] = {}
    for (_, edit), k in zip(events, keys, strict=True):
        sid = stream.shard_for(k).id
        shard_of.setdefault(edit["doc"], set()).add(sid)
    spread = {d: s for d, s in shard_of.items() if len(s) > 1}
    if spread:
        doc = max(sorted(spread), key=lambda d: len(spread[d]))
        n_edits = sum(1 for _, edit in events if edit["doc"] == doc)
        return wrong(f"The {n_edits} edits of {doc} went to {len(spread[doc])} different shards "
                     f"({len(spread)} of the {DESIGN_DOCUMENTS} documents are split like this). Each shard has its "
                     "own consumer, so two edits of one document can be applied at the same time and in either "
                     "order. Kinesis keeps order per partition key value: every edit of a document must get the "
                     "same key.")
    # Order as a consumer will see it: within each shard, every document's edits by increasing seq.
    for shard in stream.shards:
        last: dict[str, int] = {}
        for r in shard.records:
            edit = json.loads(r.data)
            if edit["seq"] <= last.get(edit["doc"], 0):
                return wrong(f"In {shard.id}, edit {edit['seq']} of {edit['doc']} comes after a later edit of the "
                             "same document.")
            last[edit["doc"]] = edit["seq"]
    puts = stream.puts
    rejected = int((puts["outcome"] == "rejected").sum())
    n = len(stream.shards)
    if rejected:
        counts = puts.groupby("shard_id").size()
        share = float(counts.max()) / len(puts)
        per_shard = puts[puts["shard_id"] == counts.idxmax()]
        mb_s = per_shard["bytes"].sum() / DESIGN_SECONDS / MB
        rec_s = len(per_shard) / DESIGN_SECONDS
        limits = (f"A shard accepts at most {facts.KINESIS_SHARD_WRITE_RECORDS_PER_S:,} records/s and "
                  f"{facts.KINESIS_SHARD_WRITE_BYTES_PER_S / MB:g} MB/s "
                  f"({facts.KINESIS_SHARD_WRITE_BYTES_PER_S:,} bytes/s).")
        if n > 1 and share > 1.5 / n:
            return wrong(f"{_plural(rejected, 'put was', 'puts were')} rejected with "
                         f"ProvisionedThroughputExceededException. The load is uneven: one shard received "
                         f"{share:.0%} of the edits (about {rec_s:,.0f} records/s, {mb_s:.2f} MB/s), because your key "
                         f"has only {len(set(keys))} different values for {n} shards. {limits}")
        return wrong(f"{rejected:,} of {len(puts):,} puts were rejected with "
                     f"ProvisionedThroughputExceededException: the stream is too small for the busiest hour. "
                     f"The busiest shard was sent about {rec_s:,.0f} records/s and {mb_s:.2f} MB/s. {limits} "
                     "Check both limits.")
    need = max(DESIGN_RATE / facts.KINESIS_SHARD_WRITE_RECORDS_PER_S,
               DESIGN_RATE * DESIGN_RECORD_BYTES / facts.KINESIS_SHARD_WRITE_BYTES_PER_S)
    if n > 2 * math.ceil(need):
        return wrong(f"Every put was accepted and each document stays in one shard, but {n} shards is far more than "
                     "the busiest hour needs: a provisioned shard is billed by the hour whether it is busy or idle. "
                     "Work out what each of the two write limits requires and keep a little headroom.")
    counts = puts.groupby("shard_id").size()
    busiest = puts[puts["shard_id"] == counts.idxmax()]["bytes"].sum() / DESIGN_SECONDS
    return correct(f"All {len(puts):,} puts were accepted, and each document's edits stay in one shard, in order, "
                   f"so one consumer applies them one after another. The busiest of your {n} shards ran at "
                   f"{busiest / facts.KINESIS_SHARD_WRITE_BYTES_PER_S:.0%} of its byte limit.")


DESIGN_HINTS = (
    "Two questions. Which field must have the same value for every edit whose order matters? And how much "
    "does the busiest hour write per second, in records and in bytes?",
    f"Kinesis keeps order per partition key, so edits that must stay in order need the same key. A shard "
    f"accepts at most {facts.KINESIS_SHARD_WRITE_RECORDS_PER_S:,} records/s and 1 MB/s: divide the load by each "
    "limit and take the larger answer, rounded up.",
    f"The key is the document's id (\"doc\"). {DESIGN_RATE} edits/s is under one shard's record limit, but "
    f"{DESIGN_RATE} x {DESIGN_RECORD_BYTES:,} bytes is {DESIGN_RATE * DESIGN_RECORD_BYTES:,} bytes/s, "
    f"{DESIGN_RATE * DESIGN_RECORD_BYTES / MB:.2f} MB/s (Kinesis counts 1 MB as {MB:,} bytes). Keys are "
    "hashed, so shards are not loaded exactly evenly: keep a little headroom.",
)

_DESIGN_MB_S = DESIGN_RATE * DESIGN_RECORD_BYTES / MB
_R, _B = DESIGN_RATE, f"{DESIGN_RECORD_BYTES:,}"
DESIGN_SOLUTION = f'''
my_design = {{
    "partition_key": "doc",   # all edits of a document get the same key: one shard, in order
    "shard_count": 3,         # {_R} records/s fit in one shard, but {_R} x {_B} B = {_DESIGN_MB_S:.2f} MB/s
}}                             # needs 3 shards of 1 MB/s ({_DESIGN_MB_S / 2:.0%} of 2 shards' limit)
q1.check(my_design)
'''

design_exercise = Exercise("partition-design", check_design, hints=DESIGN_HINTS, solution=DESIGN_SOLUTION,
                           title="Partition key and shard count for the busiest hour")


# ---------------------------------------------------------------------------------------------
# Exercise 2: a poison record must neither block its shard nor disappear
# ---------------------------------------------------------------------------------------------

MAX_BLOCK_S = 120         # no good edit may wait longer than this
POISON_PLACEHOLDER: dict[str, Any] = {}


def _gives_up(settings):
    """Whether these settings ever make Lambda give up on a failing record (before retention)."""
    return settings.get("maximum_retry_attempts", -1) >= 0 or settings.get("maximum_record_age_s", -1) >= 0


@checker(placeholder=POISON_PLACEHOLDER, not_attempted_message=(
    "Put your mapping settings in the dict (for example {\"batch_size\": 10, ...}), run that cell, "
    "then check again."))
def check_poison_settings(answer: Any) -> Result:
    """The shard moves on within MAX_BLOCK_S, the poison edit is kept in a failure destination,
    and every other edit is applied."""
    dest = answer.get("on_failure") if isinstance(answer, dict) else None
    if dest is not None and dest is not True and not isinstance(dest, DestinationQueue):
        return wrong(f"on_failure takes a queue from lab.queue(...) or True (both mean: a destination queue), "
                     f"or None for no destination; got {dest!r}.")
    try:
        opts = mapping_settings(answer)
    except InvalidParameterValueException as e:
        return wrong(f"Lambda would not accept these settings: {e}")
    except TypeError as e:
        return wrong(f"Lambda would not accept these settings: {e}")
    trial = poison_trial(answer)
    s = trial.summary()
    p = trial.poison
    has_dest = "on_failure" in opts
    minutes = POISON_RUN_S // 60
    if p["state"] == PENDING:
        if not _gives_up(opts):
            if has_dest:
                return wrong(f"After {minutes} minutes the shard is still blocked: {s['stuck']} good "
                             "edits wait behind the bad one. A failure destination only receives records that Lambda "
                             "gives up on, and with these settings it never gives up: it retries until the record "
                             "leaves the stream, a day later.")
            return wrong(f"After {minutes} minutes the shard is still blocked: {s['stuck']} good edits "
                         "wait behind the bad one, and the IteratorAge keeps climbing. With these settings Lambda "
                         "retries the failing batch until the record leaves the stream, a day later.")
        return wrong(f"After {minutes} minutes the shard is still blocked: {s['stuck']} good edits wait "
                     "behind the bad one. Your settings do make Lambda give up in the end, but far too late.")
    lost_good = s["dropped"]
    if p["state"] == DROPPED:
        extra = (f" So were {lost_good} good edits that shared its batch." if lost_good else "")
        return wrong("The shard moved on, but the bad edit was dropped: Lambda gave up on it and, with no failure "
                     f"destination, nothing records which edit it was, so no one can find or repair it.{extra}")
    if lost_good:
        return wrong(f"{lost_good} good edits were dropped without a trace: they shared a batch with the bad one "
                     "when Lambda gave up on it.")
    if s["to destination"]:
        good = trial.good
        aged = int(((good["state"] == FAILURE_DESTINATION) & (good["reason"] == "RecordAgeExceeded")).sum())
        if aged:
            return wrong(f"The bad edit is safe in the failure destination, but "
                         f"{_plural(aged, 'good edit', 'good edits')} went there too without ever being applied: they "
                         "were held up with the bad one until they were older than MaximumRecordAgeInSeconds, and "
                         "Lambda discards records that old, good or bad. "
                         "Make Lambda give up on the bad record sooner, and on that record alone.")
        return wrong(f"The bad edit is safe in the failure destination, but {s['to destination']} good edits "
                     "went there with it, because Lambda gave up on its whole batch: they were never applied. Find a "
                     "way for Lambda to narrow a failing batch down to the record that fails.")
    if s["stuck"]:
        return wrong(f"{s['stuck']} good edits were never applied.")
    if s["max wait (s)"] > MAX_BLOCK_S:
        return wrong(f"Nothing was lost, but the shard was blocked for {s['max wait (s)']:.0f} s: edits on that "
                     f"shard waited that long to be applied. Make Lambda give up on the bad record within "
                     f"{MAX_BLOCK_S // 60} minutes.")
    assert trial.failures is not None   # the bad edit went there: it is neither pending nor dropped
    body = trial.failures.messages[0].body
    return correct(f"The bad edit ({p['doc']} #{p['seq']}) is in the failure destination "
                   f"(condition {body['requestContext']['condition']}), all {s['applied']} other edits were "
                   f"applied, and no edit waited more than {s['max wait (s)']:.0f} s.")


POISON_HINTS = (
    "Three things must happen: Lambda must stop retrying the bad record at some point, it must keep a note of "
    "it somewhere when it does, and it must not give up on the good records that share its batch.",
    "MaximumRetryAttempts or MaximumRecordAgeInSeconds decide when Lambda gives up; an on-failure destination "
    "(on_failure=lab.queue(...), or on_failure=True) is where it leaves a note of what it gave up on. What "
    "narrows a failing batch "
    "down to the one record that fails?",
    "Set bisect_batch_on_function_error=True: a failing batch is split in two and each half is tried on its own, "
    "again and again, until the bad record is alone. Splitting does not use up retries. Combine it with a small "
    "maximum_retry_attempts and an on_failure queue.",
)

POISON_SOLUTION = '''
my_settings = {
    "bisect_batch_on_function_error": True,   # split a failing batch until the bad record is alone
    "maximum_retry_attempts": 2,              # then give up on it after two retries ...
    "on_failure": lab.queue("edits-failed"),  # ... and leave its shard and sequence numbers here (True works too)
}
q2.check(my_settings)
'''

poison_exercise = Exercise("poison-record", check_poison_settings, hints=POISON_HINTS, solution=POISON_SOLUTION,
                           title="Unblock the shard without losing the bad edit")
