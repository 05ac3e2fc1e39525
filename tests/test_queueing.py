"""Queueing theory as a check on the whole simulator.

A function with reserved concurrency ``c`` behind Poisson traffic is an Erlang loss
system (M/G/c/c): a call that finds all ``c`` environments busy is throttled, not
queued. Its throttled share is Erlang B(c, A) with offered load A = lambda x E[S],
whatever the service-time distribution. Without a limit, Little's law gives the
mean concurrency: L = lambda x E[S] (AWS's own concurrency formula, facts section 1).
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labkit as lk
from labkit import metrics

from conftest import no_overlap

SERVICE = """
import labkit as lk

def handler(event, context):
    lk.sleep(event["s"])
"""


def erlang_b(c, a):
    """Blocking probability of an M/G/c/c system, by the stable recurrence."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def test_erlang_b_recurrence():
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    a, c = 8.0, 10
    direct = (a ** c / math.factorial(c)) / sum(a ** k / math.factorial(k) for k in range(c + 1))
    assert erlang_b(c, a) == pytest.approx(direct)


def _poisson_run(seed, rate, mean_s, seconds, **config):
    lab = lk.Lab(seed=seed)
    fn = lab.function(source=SERVICE, runtime_init_ms=0, timeout_s=900, **config)
    wl = lk.workload.poisson(rate, seconds, payload=lambda i, rng: {"s": rng.expovariate(1 / mean_s)})
    return lab.invoke(fn, wl)


def test_throttled_share_matches_erlang_b():
    c, rate, mean_s, seconds = 10, 80.0, 0.1, 250.0      # offered load 8, about 20,000 calls
    run = _poisson_run(11, rate, mean_s, seconds, reserved_concurrency=c)
    df = run.invocations
    n = len(df)
    assert abs(n - rate * seconds) < 4 * math.sqrt(rate * seconds)
    blocked = (df["outcome"] == "throttled").mean()
    b = erlang_b(c, rate * mean_s)                          # 0.1217
    # Binomial standard error, doubled: throttles come in clusters (while all c are busy),
    # which inflates the variance; over 30 seeds the z-scores had a spread of about 1.6.
    sigma = 2 * math.sqrt(b * (1 - b) / n)
    assert abs(blocked - b) < 4 * sigma, (blocked, b, sigma)
    assert run.summary()["max_concurrency"] == c
    # Little's law on the carried traffic: L = lambda x (1 - B) x E[S].
    L = metrics.mean_concurrency(df, run.t0, run.t0 + seconds)
    assert L == pytest.approx(rate * (1 - b) * mean_s, rel=0.05)


def test_mean_concurrency_follows_littles_law():
    rate, mean_s, seconds = 80.0, 0.1, 250.0
    run = _poisson_run(12, rate, mean_s, seconds)
    df = run.invocations
    assert (df["outcome"] == "success").all()
    L = metrics.mean_concurrency(df, run.t0, run.t0 + seconds)
    assert L == pytest.approx(rate * mean_s, rel=0.05)
    # Sample-path version (no sampling error beyond edge effects): L = observed rate x mean time in system.
    in_system = (df["end_s"] - df["start_s"]).mean()
    assert L == pytest.approx(len(df) / seconds * in_system, rel=0.01)
    # The environments needed come close to the peak concurrency, not to the number of calls.
    assert df["environment_id"].nunique() == run.summary()["max_concurrency"]


# -- a property test over random small configurations and workloads ------------------------

MODULE = """
import labkit as lk
lk.sleep({init_s!r})

def handler(event, context):
    lk.sleep(event["s"])
    if event["fail"]:
        raise RuntimeError("requested failure")
    return event["n"]
"""

events = st.tuples(st.floats(0, 5, allow_nan=False),                     # arrival offset
                   st.sampled_from([0.0, 0.05, 0.3, 1.0, 2.5, 4.0]),     # handler sleep
                   st.booleans())                                      # raise?


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(events, min_size=1, max_size=25),
       reserved=st.one_of(st.none(), st.integers(0, 4)),
       provisioned=st.integers(0, 2),
       timeout_s=st.integers(1, 3),
       memory_mb=st.sampled_from([128, 1024, 2048]),
       init_s=st.sampled_from([0.0, 0.2, 11.0]),
       runtime_init_ms=st.sampled_from([0, 150]),
       retry=st.booleans(),
       seed=st.integers(0, 3))
def test_every_call_ends_in_exactly_one_final_state(calls, reserved, provisioned, timeout_s, memory_mb,
                                                    init_s, runtime_init_ms, retry, seed):
    if reserved is not None:
        provisioned = min(provisioned, reserved)
    lab = lk.Lab(seed=seed)
    try:
        fn = lab.function(source=MODULE.format(init_s=init_s), reserved_concurrency=reserved,
                          provisioned_concurrency=provisioned, timeout_s=timeout_s, memory_mb=memory_mb,
                          runtime_init_ms=runtime_init_ms)
        wl = lk.workload.replay([t for t, _, _ in calls],
                                payloads=[{"n": i, "s": s, "fail": f} for i, (_, s, f) in enumerate(calls)])
        run = lab.invoke(fn, wl, retry=lk.SdkRetry() if retry else None)
        df = run.invocations
    finally:
        lab.account.close()

    # One call per arrival; attempts numbered 1..k; only throttles are retried.
    assert df["event_id"].nunique() == len(calls)
    for _, g in df.groupby("event_id"):
        g = g.sort_values("attempt")
        assert list(g["attempt"]) == list(range(1, len(g) + 1))
        assert len(g) <= (3 if retry else 1)
        assert (g["outcome"].iloc[:-1] == "throttled").all()
        assert g["outcome"].iloc[-1] in {"success", "error", "timeout", "throttled"}
    finals = df.drop_duplicates("event_id", keep="last")
    assert len(finals) == len(calls)
    served = list(finals.loc[finals["outcome"] == "success", "response"])
    assert len(set(served)) == len(served) and set(served) <= set(range(len(calls)))

    # Environments never run two invocations at once; concurrency respects the reservation.
    assert no_overlap(df)
    if reserved is not None:
        assert metrics.max_concurrency(df) <= reserved

    # Every record is consistent with its outcome.
    ran = df[df["outcome"] != "throttled"]
    assert (ran["start_s"] <= ran["invoke_start_s"]).all() and (ran["invoke_start_s"] <= ran["end_s"]).all()
    assert (ran["duration_ms"] <= timeout_s * 1000 + 1e-6).all()
    assert (ran.loc[ran["outcome"] == "timeout", "duration_ms"] == timeout_s * 1000).all()
    assert (ran["invoke_start_s"] - ran["start_s"] <= 10 + 1e-9).all()       # the init limit
    assert ran["environment_id"].notna().all() and ran["start_type"].notna().all()
    assert (ran["cold"] == ran["init_duration_ms"].notna()).all()
    thr = df[df["outcome"] == "throttled"]
    assert thr["environment_id"].isna().all() and thr["throttle_reason"].notna().all()
    assert df.loc[df["outcome"] == "success", "error_type"].isna().all()
    assert df.loc[df["outcome"] != "success", "error_type"].notna().all()
    assert np.isfinite(df["cost_usd"]).all() and (df["cost_usd"] >= 0).all()
