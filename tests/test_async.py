"""Asynchronous invocation: two retry regimes, destinations, DLQ, drops, duplicates."""

import random

import pytest

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException, RequestTooLargeException
from labkit.event_sources.asynchronous import AsyncConfig, AsyncQueue
from labkit.event_sources.destinations import DestinationQueue
from labkit.event_sources.ledger import Ledger

OK = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(0.1)\n    return {'ok': event['n']}\n"
FAIL = "def handler(event, context):\n    raise RuntimeError('bad event ' + str(event['n']))\n"
SLOW = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(event.get('s', 1.0))\n    return 1\n"


def _setup(source, config=None, seed=1, **fn_options):
    lab = lk.Lab(seed=seed)
    fn = lab.function(source=source, runtime_init_ms=0, **fn_options)
    ledger = Ledger()
    q = AsyncQueue(lab.account, ledger, fn, config or AsyncConfig(), random.Random(seed))
    return lab, fn, ledger, q


def _send(lab, q, events, at=0.0):
    env = lab.account.env
    ids = []

    def producer():
        if at:
            yield env.timeout(at)
        for i, ev in enumerate(events):
            eid = f"evt-{i}"
            assert q.accept(ev, eid) == 202
            ids.append(eid)
            env.process(q.deliver(ev, eid))
        yield env.timeout(0)

    env.process(producer())
    return ids


def test_success_settles_and_reaches_on_success_destination():
    ok = DestinationQueue("ok")
    lab, fn, ledger, q = _setup(OK, AsyncConfig(on_success=ok))
    ids = _send(lab, q, [{"n": 1}, {"n": 2}])
    lab.account.env.run(until=10)
    assert ledger.counts() == {"succeeded": 2}
    assert len(ok) == 2
    body = ok.messages[0].body
    assert body["requestContext"]["condition"] == "Success"
    assert body["responsePayload"] == {"ok": 1}
    assert ids == ["evt-0", "evt-1"]


def test_function_errors_retry_twice_one_then_two_minutes_apart():
    fail = DestinationQueue("failures")
    lab, fn, ledger, q = _setup(FAIL, AsyncConfig(on_failure=fail))
    _send(lab, q, [{"n": 7}])
    lab.account.env.run(until=1000)
    rows = [r for r in lab.account.records if r.event_id == "evt-0"]
    starts = [r.start_s for r in rows]
    assert len(rows) == 3
    assert starts[1] - starts[0] == pytest.approx(60.0)
    assert starts[2] - starts[1] == pytest.approx(120.0)
    assert ledger.state("evt-0") == "failure_destination"
    rec = fail.messages[0].body
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestContext"]["approximateInvokeCount"] == 3
    assert rec["requestPayload"] == {"n": 7}
    assert rec["responseContext"]["functionError"] == "Unhandled"


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_maximum_retry_attempts(retries):
    lab, fn, ledger, q = _setup(FAIL, AsyncConfig(maximum_retry_attempts=retries))
    _send(lab, q, [{"n": 1}])
    lab.account.env.run(until=1000)
    assert len(lab.account.records) == 1 + retries
    # no destination: dropped, with the reason
    assert (ledger.states["evt-0"].state, ledger.states["evt-0"].reason) == ("dropped", "RetriesExhausted")


def test_dead_letter_queue_receives_the_event_itself():
    dlq = DestinationQueue("dlq")
    lab, fn, ledger, q = _setup(FAIL, AsyncConfig(maximum_retry_attempts=0, dead_letter_queue=dlq))
    _send(lab, q, [{"n": 3}])
    lab.account.env.run(until=100)
    assert ledger.state("evt-0") == "dead_letter_queue"
    assert dlq.messages[0].body == {"n": 3}
    assert "RequestID" in dlq.messages[0].attributes


def test_on_failure_destination_wins_over_dlq():
    dlq, fail = DestinationQueue("dlq"), DestinationQueue("failures")
    lab, fn, ledger, q = _setup(FAIL, AsyncConfig(maximum_retry_attempts=0, dead_letter_queue=dlq, on_failure=fail))
    _send(lab, q, [{"n": 3}])
    lab.account.env.run(until=100)
    assert (len(fail), len(dlq)) == (1, 0)


def test_throttles_back_off_exponentially_and_do_not_use_retry_attempts():
    # reserved concurrency 1 and a long first event: the second event is throttled and backs off 1, 2, 4 ... s
    lab, fn, ledger, q = _setup(SLOW, AsyncConfig(maximum_retry_attempts=0), reserved_concurrency=1, timeout_s=60)
    _send(lab, q, [{"n": 0, "s": 20.0}, {"n": 1, "s": 0.5}])
    lab.account.env.run(until=200)
    second = [r for r in lab.account.records if r.event_id == "evt-1"]
    throttled = [r for r in second if r.outcome == "throttled"]
    times = [r.start_s for r in second]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]   # consecutive pairs
    for k, gap in enumerate(gaps[:5]):   # each wait lies in the upper half of its exponential step
        assert 0.5 * 2 ** k <= gap <= 2 ** k + 1e-9
    assert len(throttled) >= 4
    assert ledger.state("evt-1") == "succeeded"   # throttles did not exhaust MaximumRetryAttempts=0
    assert q.records["evt-1"].throttles == len(throttled)


def test_throttle_backoff_is_capped_at_five_minutes_and_event_age_expires():
    fail = DestinationQueue("failures")
    lab, fn, ledger, q = _setup(SLOW, AsyncConfig(maximum_event_age_s=1200, on_failure=fail),
                                reserved_concurrency=1, timeout_s=900)
    _send(lab, q, [{"n": 0, "s": 899.0}, {"n": 1, "s": 899.0}, {"n": 2, "s": 899.0}])
    lab.account.env.run(until=5000)
    for eid in ("evt-1", "evt-2"):
        times = [r.start_s for r in lab.account.records if r.event_id == eid]
        assert max(b - a for a, b in zip(times, times[1:], strict=False)) <= facts.ASYNC_THROTTLE_BACKOFF_S[1] + 1e-9
    # One function slot, three 15-minute events, events may be 20 minutes old: one cannot make it.
    expired = [e for e in ("evt-1", "evt-2")
               if (ledger.states[e].state, ledger.states[e].reason) == ("failure_destination", "EventAgeExceeded")]
    assert len(expired) == 1
    assert fail.messages[-1].body["requestContext"]["condition"] == "EventAgeExceeded"


def test_reserved_concurrency_zero_goes_straight_to_failure_destination_without_retries():
    fail = DestinationQueue("failures")
    lab, fn, ledger, q = _setup(OK, AsyncConfig(on_failure=fail), reserved_concurrency=0)
    _send(lab, q, [{"n": 1}, {"n": 2}])
    lab.account.env.run(until=100)
    assert ledger.counts() == {"failure_destination": 2}
    assert lab.account.records == []          # never invoked, never retried
    assert all(m.time_s == 0 for m in fail.messages)


def test_payload_limit_is_one_megabyte_or_256_kb_before_october_2025():
    lab, fn, ledger, q = _setup(OK)
    big = {"n": 1, "pad": "x" * (300 * 1024)}
    assert q.accept(big, "e1") == 202
    lab, fn, ledger, q = _setup(OK, AsyncConfig(payload_limit_bytes=facts.ASYNC_LEGACY_PAYLOAD_LIMIT_BYTES))
    with pytest.raises(RequestTooLargeException):
        q.accept(big, "e1")
    with pytest.raises(RequestTooLargeException):
        _setup(OK)[3].accept({"pad": "x" * (1024 * 1024)}, "e2")


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(maximum_retry_attempts=3), "MaximumRetryAttempts"),
    (dict(maximum_retry_attempts=-1), "MaximumRetryAttempts"),
    (dict(maximum_event_age_s=59), "MaximumEventAgeInSeconds"),
    (dict(maximum_event_age_s=21601), "MaximumEventAgeInSeconds"),
    (dict(duplicate_rate=1.5), "duplicate_rate"),
])
def test_configuration_is_validated(kwargs, parameter):
    with pytest.raises(InvalidParameterValueException) as e:
        AsyncConfig(**kwargs)
    assert e.value.parameter == parameter
    assert str(kwargs[next(iter(kwargs))]) in str(e.value)


def test_duplicates_are_seeded_and_do_not_change_final_states():
    def run(seed):
        lab, fn, ledger, q = _setup(OK, AsyncConfig(duplicate_rate=0.2), seed=seed)
        _send(lab, q, [{"n": i} for i in range(200)])
        lab.account.env.run(until=100)
        return ledger.counts(), sum(r.duplicates for r in q.records.values()), len(lab.account.records)

    a, b = run(3), run(3)
    assert a == b
    counts, dups, rows = a
    assert counts == {"succeeded": 200}
    assert 20 <= dups <= 60 and rows == 200 + dups


def test_invoke_async_waits_for_duplicate_deliveries_and_retries_their_throttles():
    src = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(0.5)\n    return 1\n"
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, reserved_concurrency=2)
    run = lab.invoke_async(fn, lk.workload.constant(20, 3), duplicate_rate=0.2)
    dups = int(run.async_events["duplicates"].sum())
    ran = run.invocations
    assert dups > 0
    assert len(ran[(ran["attempt"] == 0) & (ran["outcome"] != "throttled")]) == dups   # all ran, in this run
