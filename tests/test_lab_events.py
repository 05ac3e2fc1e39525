"""Lab-level event accounting: every event of every run ends in exactly one recorded state."""

from hypothesis import given, settings, strategies as st

import labkit as lk

FLAKY = ("import labkit as lk\n"
         "def handler(event, context):\n"
         "    lk.sleep(event['s'])\n"
         "    if event['fail']:\n"
         "        raise ValueError('bad')\n"
         "    return event['n']\n")


def payload(fail_every):
    return lambda i, rng: {"n": i, "s": round(rng.uniform(0.05, 2.0), 3), "fail": fail_every and i % fail_every == 0}


def test_sync_calls_settle_as_succeeded_or_failed():
    lab = lk.Lab(seed=2)
    fn = lab.function(source=FLAKY, reserved_concurrency=3, timeout_s=1)
    run = lab.invoke(fn, lk.workload.poisson(10, 10, payload=payload(5)))
    states = run.event_states()
    assert set(states) <= {"succeeded", "failed"}
    assert sum(states.values()) == run.summary()["calls"]
    reasons = set(run.events.query("state == 'failed'")["reason"])
    assert {"ValueError", "Sandbox.Timedout", "ReservedFunctionConcurrentInvocationLimitExceeded"} >= reasons


def test_invoke_async_end_to_end_with_destinations_and_metrics():
    lab = lk.Lab(seed=3)
    fn = lab.function(source=FLAKY, reserved_concurrency=2, timeout_s=3)
    failures = lab.queue("failures")
    run = lab.invoke_async(fn, lk.workload.burst(20, payload=payload(4)), on_failure=failures,
                           maximum_event_age_s=3600)
    states = run.event_states()
    assert states == {"succeeded": 15, "failure_destination": 5}
    assert len(failures) == 5
    ae = run.async_events
    assert (ae["attempts"][ae["state"] == "failure_destination"] == 3).all()
    assert ae["throttles"].sum() > 0            # 20 at once against reserved concurrency 2
    m = run.metrics(period_s=60)
    assert m["AsyncEventsReceived"].sum() == 20
    assert m["AsyncEventAgeMax_ms"].max() > 0
    assert m["AsyncEventsDropped"].sum() == 0


def test_async_without_destination_drops_and_counts():
    lab = lk.Lab(seed=3)
    fn = lab.function(source=FLAKY)
    run = lab.invoke_async(fn, lk.workload.burst(4, payload=payload(2)), maximum_retry_attempts=0)
    assert run.event_states() == {"succeeded": 2, "dropped": 2}
    assert set(run.events.query("state == 'dropped'")["reason"]) == {"RetriesExhausted"}
    assert run.metrics(60)["AsyncEventsDropped"].sum() == 2


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), reserved=st.one_of(st.none(), st.integers(0, 4)),
       n=st.integers(1, 25), fail_every=st.integers(0, 4), retries=st.integers(0, 2),
       kind=st.sampled_from(["RequestResponse", "Event"]), with_dest=st.booleans())
def test_every_event_ends_in_exactly_one_state(seed, reserved, n, fail_every, retries, kind, with_dest):
    lab = lk.Lab(seed=seed)
    fn = lab.function(source=FLAKY, reserved_concurrency=reserved, timeout_s=1)
    cfg = {fn.name: dict(maximum_retry_attempts=retries, maximum_event_age_s=600,
                         on_failure=lab.queue("f") if with_dest else None)}
    run = lab.simulate([(fn, lk.workload.poisson(5, 5, payload=payload(fail_every)), kind)],
                       async_config=cfg if kind == "Event" else None)
    ev = run.events
    assert ev["event_id"].is_unique
    assert len(ev) == len(run.event_ids)
    assert (ev["state"] != "pending").all()     # the run lasts until everything settles
    assert ev["state"].isin(["succeeded", "failed", "failure_destination", "dead_letter_queue", "dropped"]).all()
    assert (ev.loc[ev["state"] == "dropped", "reason"].notna()).all()
