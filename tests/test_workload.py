"""Traffic shapes: arrival times, payloads, closed loops and argument checks."""

import math
import random

import numpy as np
import pytest

import labkit as lk
from labkit import workload as W
from labkit.errors import InvalidParameterValueException

from conftest import deploy, sleeper


def offsets(wl, seed=0):
    return [t for t, _ in wl.events(random.Random(seed))]


SHORT_SLEEPER = sleeper(0.01)


def arrivals(lab, wl, body=SHORT_SLEEPER):
    fn = deploy(lab, body, runtime_init_ms=0, reserved_concurrency=500)
    run = lab.invoke(fn, wl)
    return run, run.invocations


# -- open loop ---------------------------------------------------------------------------

def test_constant_gives_evenly_spaced_arrivals(lab):
    assert offsets(W.constant(10, 2)) == pytest.approx([i / 10 for i in range(20)])
    assert offsets(W.constant(3, 1)) == pytest.approx([0, 1 / 3, 2 / 3])
    assert offsets(W.constant(2, 0.5)) == [0.0]
    assert offsets(W.constant(5, 0)) == []
    _, df = arrivals(lab, W.constant(4, 3))
    assert len(df) == 12
    assert np.diff(df["arrival_s"].to_numpy()) == pytest.approx([0.25] * 11)


def test_poisson_count_and_gaps():
    rate, seconds = 50, 200
    ts = offsets(W.poisson(rate, seconds), seed=3)
    n = rate * seconds
    assert abs(len(ts) - n) < 4 * math.sqrt(n)
    assert all(0 < t < seconds for t in ts) and ts == sorted(ts)
    gaps = np.diff([0.0] + ts)
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.05)
    assert gaps.std() == pytest.approx(1 / rate, rel=0.05)     # exponential: sd == mean
    assert offsets(W.poisson(rate, seconds), seed=3) == ts        # same generator, same arrivals


def test_burst_and_parallel():
    assert offsets(W.burst(4, at_s=2, spread_s=1)) == [2, 2.25, 2.5, 2.75]
    assert offsets(W.burst(3, at_s=5)) == [5, 5, 5]
    assert offsets(W.parallel(3)) == [0, 0, 0]
    assert offsets(W.burst(0)) == []


def test_bursts():
    assert offsets(W.bursts(3, every_s=10, count=2)) == [0, 0, 0, 10, 10, 10]
    assert offsets(W.bursts(2, every_s=5, count=3, spread_s=1)) == [0, 0.5, 5, 5.5, 10, 10.5]
    # Bursts that overlap still arrive in time order.
    ts = offsets(W.bursts(3, every_s=1, count=2, spread_s=3))
    assert ts == sorted(ts) == [0, 1, 1, 2, 2, 3]


def test_ramp_with_random_arrivals_follows_the_rate():
    ts = np.array(offsets(W.ramp(0, 100, 20), seed=5))
    assert abs(len(ts) - 1000) < 4 * math.sqrt(1000)
    first, second = (ts < 10).sum(), (ts >= 10).sum()
    assert second / first == pytest.approx(3, rel=0.15)           # 750 vs 250 expected
    assert (ts < 20).all() and (np.diff(ts) >= 0).all()


def test_deterministic_ramp():
    ts = offsets(W.ramp(0, 10, 10, random_arrivals=False))
    assert len(ts) == 50                                            # (0 + 10) / 2 x 10 s
    assert np.diff(ts)[-1] < np.diff(ts)[0]                         # speeding up
    # A flat ramp is a constant rate.
    assert offsets(W.ramp(10, 10, 2, random_arrivals=False)) == pytest.approx(offsets(W.constant(10, 2)))
    down = offsets(W.ramp(10, 0, 10, random_arrivals=False))
    assert len(down) == 50 and np.diff(down)[-1] > np.diff(down)[0]
    assert offsets(W.ramp(0, 0, 10)) == []
    for a, b, t in [(0.3, 0, 20), (7, 0, 3), (2.9, 0.1, 7.1), (0, 0.9, 1.3)]:
        ts = offsets(W.ramp(a, b, t, random_arrivals=False))
        assert len(ts) == int((a + b) / 2 * t + 1e-9) and all(0 <= x < t for x in ts)


def test_replay_sorts_and_keeps_payloads_with_their_timestamps(lab):
    wl = W.replay([3, 1, 2], payloads=[{"k": "c"}, {"k": "a"}, {"k": "b"}])
    ev = list(wl.events(random.Random(0)))
    assert ev == [(1, {"k": "a"}), (2, {"k": "b"}), (3, {"k": "c"})]
    assert offsets(W.replay([0.5, 0.1])) == [0.1, 0.5]
    _, df = arrivals(lab, wl)
    assert list(df["arrival_s"]) == [1, 2, 3]
    assert [r["k"] for r in df["response"]] == ["a", "b", "c"]


def test_combine_merges_streams_in_time_order():
    wl = W.combine(W.constant(1, 3, payload={"src": "a"}), W.burst(2, at_s=1.5, payload={"src": "b"}))
    ev = list(wl.events(random.Random(0)))
    assert [t for t, _ in ev] == [0, 1, 1.5, 1.5, 2]
    assert [e["src"] for _, e in ev] == ["a", "a", "b", "b", "a"]
    wl2 = W.constant(1, 3) + W.burst(2, at_s=1.5)
    assert offsets(wl2) == [0, 1, 1.5, 1.5, 2]


def test_payload_forms():
    ev = [e for _, e in W.constant(1, 3).events(random.Random(0))]
    assert ev == [{"n": 0}, {"n": 1}, {"n": 2}]
    shared = {"items": [1]}
    ev = [e for _, e in W.burst(2, payload=shared).events(random.Random(0))]
    ev[0]["items"].append(2)
    assert ev[1] == {"items": [1]} and shared == {"items": [1]}       # copied per event
    ev = [e for _, e in W.burst(3, payload=lambda i: {"order": i * 10}).events(random.Random(0))]
    assert ev == [{"order": 0}, {"order": 10}, {"order": 20}]
    a = [e for _, e in W.burst(3, payload=lambda i, rng: rng.random()).events(random.Random(9))]
    b = [e for _, e in W.burst(3, payload=lambda i, rng: rng.random()).events(random.Random(9))]
    assert a == b and len(set(a)) == 3


def test_a_list_of_events_is_sent_sequentially(lab):
    _, df = arrivals(lab, [{"s": 0.5}, {"s": 0.5}], body=sleeper(0))
    assert df["environment_id"].nunique() == 1
    assert df.iloc[1]["arrival_s"] == pytest.approx(df.iloc[0]["end_s"])


# -- closed loop -------------------------------------------------------------------------

def test_closed_loop_never_has_more_than_clients_in_flight(lab):
    fn = deploy(lab, sleeper(0.0))
    wl = W.closed_loop(4, requests_per_client=25, payload=lambda i, rng: {"s": rng.uniform(0.05, 0.3)})
    run = lab.invoke(fn, wl)
    df = run.invocations
    assert len(df) == 100
    assert set(df["client"]) == {0, 1, 2, 3} and (df.groupby("client").size() == 25).all()
    assert run.summary()["max_concurrency"] == 4
    for _, g in df.groupby("client"):
        g = g.sort_values("start_s")
        assert (g["start_s"].to_numpy()[1:] >= g["end_s"].to_numpy()[:-1]).all()
    assert df["environment_id"].nunique() <= 4


def test_closed_loop_with_think_time_and_a_time_limit(lab):
    fn = deploy(lab, sleeper(0.5), runtime_init_ms=0)
    run = lab.invoke(fn, W.closed_loop(2, seconds=10, think_s=0.5))
    df = run.invocations
    assert (df["start_s"] < 10).all()
    assert len(df) == 2 * 10                     # one call a second per client
    for _, g in df.groupby("client"):
        assert np.diff(g.sort_values("start_s")["start_s"].to_numpy()) == pytest.approx([1.0] * 9)


def test_closed_loop_retries_count_as_one_call(lab):
    fn = deploy(lab, sleeper(0.5), reserved_concurrency=1)
    run = lab.invoke(fn, W.closed_loop(3, requests_per_client=2), retry=lk.SdkRetry(max_attempts=20))
    df = run.invocations
    assert df["event_id"].nunique() == 6
    final = df.drop_duplicates("event_id", keep="last")
    assert (final["outcome"] == "success").all()


def test_sequential_gap(lab):
    fn = deploy(lab, sleeper(0.2))
    df = lab.invoke(fn, W.sequential(3, gap_s=1.0)).invocations
    gaps = df["start_s"].to_numpy()[1:] - df["end_s"].to_numpy()[:-1]
    assert gaps == pytest.approx([1.0, 1.0])


# -- argument checks ---------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: W.constant(0, 1), lambda: W.constant(-1, 1), lambda: W.constant(1, -1),
    lambda: W.constant(float("nan"), 1), lambda: W.constant(True, 1), lambda: W.constant("5", 1),
    lambda: W.poisson(0, 1), lambda: W.poisson(1, float("inf")),
    lambda: W.burst(-1), lambda: W.burst(1.5), lambda: W.burst(True), lambda: W.burst(2, at_s=-1),
    lambda: W.burst(2, spread_s=-1),
    lambda: W.bursts(2, every_s=0, count=1), lambda: W.bursts(-2, every_s=1, count=1),
    lambda: W.bursts(2, every_s=1, count=-1), lambda: W.bursts(2, every_s=1, count=2, spread_s=-1),
    lambda: W.ramp(-1, 1, 1), lambda: W.ramp(1, -1, 1), lambda: W.ramp(1, 1, 0),
    lambda: W.replay([-1]), lambda: W.replay(["a"]), lambda: W.replay([1, 2], payloads=[{}]),
    lambda: W.combine(W.closed_loop(1, 1)), lambda: W.combine("x"),
    lambda: W.closed_loop(0, 1), lambda: W.closed_loop(1), lambda: W.closed_loop(1, -1),
    lambda: W.closed_loop(1, 1, seconds=-1), lambda: W.closed_loop(1, 1, think_s=-1),
    lambda: W.sequential(-1), lambda: W.sequential(2, gap_s=-1),
])
def test_bad_arguments_raise_invalid_parameter_value(make):
    with pytest.raises(InvalidParameterValueException):
        make()
