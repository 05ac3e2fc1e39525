"""The simulated Lambda runtime: routing, state, admission, scaling, faults, logs, retries.

Each test pins one behaviour of AWS Lambda as described in shared/lambda-facts.md
(section numbers in the comments).
"""

import importlib.util
import linecache
import math
import os
import re
import uuid

import pandas as pd
import pytest

import labkit as lk
from labkit import facts, logs, scaling
from labkit.errors import InvalidParameterValueException, SimulationError
from labkit.scaling import TokenBucket

from conftest import COUNTER, deploy, no_overlap, sleeper


def ran(df):
    return df[df["outcome"] != "throttled"]


# -- 1. Routing (facts 4: one event at a time, no client affinity) -------------------------

def test_sequential_calls_reuse_one_environment(lab):
    fn = deploy(lab, COUNTER)
    df = lab.invoke(fn, lk.workload.sequential(5)).invocations
    assert df["environment_id"].nunique() == 1
    assert list(df["start_type"]) == ["cold"] + ["warm"] * 4
    assert list(df["cold"]) == [True] + [False] * 4
    assert list(df["response"]) == [1, 2, 3, 4, 5]      # the module's globals persist


def test_parallel_calls_spread_over_n_environments(lab):
    fn = deploy(lab, sleeper(1.0))
    df = lab.invoke(fn, lk.workload.parallel(7)).invocations
    assert df["environment_id"].nunique() == 7
    assert (df["start_type"] == "cold").all()


def test_most_recently_freed_idle_environment_is_chosen(lab):
    fn = deploy(lab, sleeper(0.0))
    # Three calls at t=0 free their environments at 1, 3 and 2 s (plus init); the call
    # at t=10 gets the one freed last, the calls at t=20 the two freed last.
    wl = lk.workload.replay([0, 0, 0, 10, 20, 20],
                            payloads=[{"s": 1}, {"s": 3}, {"s": 2}, {"s": 0}, {"s": 5}, {"s": 5}])
    df = lab.invoke(fn, wl).invocations
    first = df[df["arrival_s"] == 0].set_index(df[df["arrival_s"] == 0]["response"].map(lambda e: e["s"]))
    env_by_sleep = first["environment_id"].to_dict()
    at10 = df[df["arrival_s"] == 10].iloc[0]
    assert at10["environment_id"] == env_by_sleep[3]
    assert at10["start_type"] == "warm"
    at20 = set(df[df["arrival_s"] == 20]["environment_id"])
    # After t=10 the idle stack is (oldest first) s=1, s=2, s=3: the two on top are s=3 and s=2.
    assert at20 == {env_by_sleep[3], env_by_sleep[2]}


def test_no_client_affinity(lab):
    fn = deploy(lab, sleeper(0.0))
    # Two closed-loop clients. Client 0's first call ends first, and it thinks for 2 s;
    # meanwhile client 1's environment is freed later, so client 0's next call lands on it.
    durations = {0: 1.0, 1: 2.0}
    wl = lk.workload.closed_loop(2, requests_per_client=2, think_s=2.0,
                                 payload=lambda i: {"s": durations.get(i, 0.1)})
    df = lab.invoke(fn, wl).invocations
    assert df["environment_id"].nunique() == 2
    c0 = df[df["client"] == 0].sort_values("start_s")
    assert c0["environment_id"].nunique() == 2


# -- 2. Per-environment module state ------------------------------------------------------

def test_module_counter_is_per_environment(lab):
    fn = deploy(lab, COUNTER)
    df = lab.invoke(fn, lk.workload.parallel(3, payload={"s": 1})).invocations
    assert list(df["response"]) == [1, 1, 1]          # three environments, three fresh counters
    df = lab.invoke(fn, lk.workload.parallel(3, payload={"s": 1})).invocations
    assert sorted(df["response"]) == [2, 2, 2]        # each warm environment kept its own count
    assert (df["start_type"] == "warm").all()


def _check_callable_handler(lab, handler):
    fn = lab.function(handler, memory_mb=256)
    df = lab.invoke(fn, lk.workload.parallel(2, payload={"s": 1})).invocations
    assert list(df["response"]) == [1, 1]
    df = lab.invoke(fn, lk.workload.sequential(2)).invocations
    assert list(df["response"]) == [2, 3]
    return fn


def test_handler_function_from_a_module_file_gets_per_environment_globals(lab, tmp_path):
    path = tmp_path / f"handler_mod_{uuid.uuid4().hex}.py"
    path.write_text(COUNTER)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _check_callable_handler(lab, mod.handler)
    assert mod.count == 0     # the learner's own module object is never touched


def test_handler_function_from_a_notebook_cell_gets_per_environment_globals(lab):
    # IPython registers each cell's text in linecache under a made-up file name.
    filename = f"<ipython-input-{uuid.uuid4().hex}>"
    linecache.cache[filename] = (len(COUNTER), None, COUNTER.splitlines(True), filename)
    cell_globals = {"__name__": "__main__"}
    exec(compile(COUNTER, filename, "exec"), cell_globals)
    fn = _check_callable_handler(lab, cell_globals["handler"])
    assert fn.name == "handler"
    assert cell_globals["count"] == 0


def test_tmp_is_per_environment_and_survives_a_timeout_reset_but_globals_do_not(lab):
    name = f"labkit-test-{uuid.uuid4().hex}"
    fn = deploy(lab, f"""
        import labkit as lk
        count = 0

        def handler(event, context):
            global count
            count += 1
            with open("/tmp/{name}", "a") as f:
                f.write("x")
            with open("/tmp/{name}") as f:
                marks = f.read()
            lk.sleep(event.get("s", 0))
            return [count, marks]
        """, timeout_s=3)
    # Two environments: separate /tmp.
    df = lab.invoke(fn, lk.workload.parallel(2, payload={"s": 1})).invocations
    assert list(df["response"]) == [[1, "x"], [1, "x"]]
    # A timeout resets one environment: globals go, /tmp stays.
    df = lab.invoke(fn, [{"s": 10}, {}, {}]).invocations
    assert list(df["outcome"]) == ["timeout", "success", "success"]
    assert df["environment_id"].nunique() == 1
    assert list(df["response"].iloc[1:]) == [[1, "xxx"], [2, "xxxx"]]
    assert not os.path.exists(f"/tmp/{name}")      # the machine's real /tmp is untouched


# -- 3. One event at a time per environment ----------------------------------------------

def test_an_environment_never_runs_two_invocations_at_once(lab):
    fn = deploy(lab, sleeper(0.0), reserved_concurrency=20, timeout_s=5)
    wl = lk.workload.poisson(50, 60, payload=lambda i, rng: {"s": rng.expovariate(4.0)})
    run = lab.invoke(fn, wl)
    df = run.invocations
    assert (df["outcome"] == "throttled").any() and (df["outcome"] == "success").any()
    assert no_overlap(df)
    # The lifecycle agrees: between two invoke_starts of an environment it went idle.
    life = run.lifecycle
    for _, g in life[life["event"].isin(["invoke_start", "idle"])].groupby("environment_id"):
        ev = list(g["event"])
        assert ev == ["invoke_start", "idle"] * (len(ev) // 2)


# -- 4. Reserved concurrency and the account pool -----------------------------------------

def test_reserved_concurrency_caps_concurrency(lab):
    fn = deploy(lab, sleeper(1.0), reserved_concurrency=5)
    run = lab.invoke(fn, lk.workload.parallel(20))
    df = run.invocations
    assert (df["outcome"] == "success").sum() == 5
    thr = df[df["outcome"] == "throttled"]
    assert len(thr) == 15
    assert (thr["throttle_reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded").all()
    assert (thr["error_type"] == "TooManyRequestsException").all()
    assert thr["environment_id"].isna().all() and (thr["cost_usd"] == 0).all()
    assert run.summary()["max_concurrency"] == 5
    run = lab.invoke(fn, lk.workload.poisson(40, 20))
    assert run.summary()["max_concurrency"] <= 5 and run.summary()["throttles"] > 0


def test_reserved_concurrency_zero_throttles_every_call(lab):
    fn = deploy(lab, sleeper(0.1), reserved_concurrency=0)
    df = lab.invoke(fn, lk.workload.constant(5, 2)).invocations
    assert len(df) == 10
    assert (df["outcome"] == "throttled").all()
    assert (df["throttle_reason"] == facts.THROTTLE_REASON_RESERVED).all()
    assert facts.THROTTLE_REASON_RESERVED == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_account_pool_exhaustion_throttles_with_account_reason():
    lab = lk.Lab(seed=1, concurrency_limit=200)
    deploy(lab, sleeper(1.0), name="reserved-one", reserved_concurrency=100)
    fn = deploy(lab, sleeper(1.0), name="unreserved")
    df = lab.invoke(fn, lk.workload.parallel(150)).invocations
    assert (df["outcome"] == "success").sum() == 100          # 200 - 100 reserved elsewhere
    thr = df[df["outcome"] == "throttled"]
    assert len(thr) == 50
    assert (thr["throttle_reason"] == "ConcurrentInvocationLimitExceeded").all()


def test_reserving_more_than_limit_minus_100_is_rejected(lab):
    deploy(lab, sleeper(0), name="a", reserved_concurrency=500)
    with pytest.raises(InvalidParameterValueException) as e:
        deploy(lab, sleeper(0), name="b", reserved_concurrency=401)
    assert e.value.parameter == "ReservedConcurrentExecutions"
    assert "minimum value of [100]" in str(e.value)
    deploy(lab, sleeper(0), name="c", reserved_concurrency=400)     # exactly limit - 100 in all
    with pytest.raises(InvalidParameterValueException):
        deploy(lk.Lab(), sleeper(0), reserved_concurrency=901)


def test_throttles_count_in_throttles_not_invocations_or_errors(lab):
    fn = deploy(lab, sleeper(1.0), reserved_concurrency=3)
    run = lab.invoke(fn, lk.workload.parallel(10))
    m = run.metrics()
    assert m["Throttles"].sum() == 7
    assert m["Invocations"].sum() == 3
    assert m["Errors"].sum() == 0
    s = run.summary()
    assert (s["calls"], s["invocations"], s["throttles"], s["errors"]) == (10, 3, 7, 0)


# -- 5. Scaling rate -------------------------------------------------------------------

def test_token_bucket_refills_continuously_and_never_accrues():
    b = scaling.new_bucket("per-function")
    assert (b.capacity, b.rate_per_s) == (1000, 100)
    assert all(b.take(0.0) for _ in range(1000))
    assert not b.take(0.0)
    assert b.tokens(0.005) == pytest.approx(0.5)      # continuous, not one refill per 10 s
    assert b.take(0.01) and not b.take(0.01)
    assert b.tokens(1.01) == pytest.approx(100)
    assert b.tokens(1000.0) == 1000                   # never above capacity
    assert b.tokens(5.0) == 1000                      # time never runs backwards
    b = TokenBucket(3, 1.0)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_burst_of_1500_gets_exactly_1000_environments_then_throttles():
    lab = lk.Lab(seed=1, concurrency_limit=5000)
    fn = deploy(lab, sleeper(0.5))
    df = lab.invoke(fn, lk.workload.burst(1500)).invocations
    assert df["environment_id"].nunique() == 1000
    assert (df["outcome"] == "success").sum() == 1000
    thr = df[df["outcome"] == "throttled"]
    assert len(thr) == 500
    assert (thr["throttle_reason"] == facts.THROTTLE_REASON_SCALING).all()


def test_scaling_bucket_refills_100_per_second_and_does_not_accrue():
    lab = lk.Lab(seed=1, concurrency_limit=5000)
    fn = deploy(lab, sleeper(0.0), timeout_s=900)
    wl = lk.workload.combine(lk.workload.burst(1000, payload={"s": 60}),
                             lk.workload.burst(300, at_s=1.005, payload={"s": 60}))
    df = lab.invoke(fn, wl).invocations
    late = df[df["arrival_s"] > 1]
    assert (late["outcome"] == "success").sum() == 100
    # 100 s later every environment is idle and the bucket is full again, but only to 1,000.
    lab.advance(100)
    df = lab.invoke(fn, lk.workload.burst(2500, payload={"s": 1})).invocations
    assert (df["start_type"] == "warm").sum() == 1100
    assert (df["start_type"] == "cold").sum() == 1000
    assert (df["outcome"] == "throttled").sum() == 400


@pytest.mark.parametrize("region, burst", [("us-east-1", 3000), ("us-west-2", 3000), ("eu-west-1", 3000),
                                           ("eu-central-1", 1000), ("ap-northeast-1", 1000),
                                           ("us-east-2", 1000), ("sa-east-1", 500), ("ap-south-1", 500)])
def test_legacy_bucket_burst_by_region(region, burst):
    b = scaling.new_bucket("legacy-account", region)
    assert b.capacity == burst == scaling.legacy_burst(region)
    assert b.rate_per_s * 60 == pytest.approx(500)


def test_legacy_scaling_is_shared_by_the_account_and_adds_500_per_minute():
    lab = lk.Lab(seed=1, concurrency_limit=5000, scaling_model="legacy-account", region="eu-central-1")
    f1 = deploy(lab, sleeper(0.0), name="f1", timeout_s=900)
    f2 = deploy(lab, sleeper(0.0), name="f2", timeout_s=900)
    long = {"s": 200}
    run = lab.simulate([(f1, lk.workload.burst(600, payload=long)),
                        (f2, lk.workload.burst(600, payload=long) + lk.workload.burst(600, at_s=60.3, payload=long))])
    df = run.invocations
    early = ran(df[df["arrival_s"] == 0])
    assert len(early) == 1000                       # one burst of 1,000 for both functions
    late = df[df["arrival_s"] > 60]
    assert (late["outcome"] == "success").sum() == 502      # 60.3 s x 500/min
    assert (df[df["outcome"] == "throttled"]["throttle_reason"] == facts.THROTTLE_REASON_SCALING).all()


def test_per_function_scaling_is_independent(lab):
    lab = lk.Lab(seed=1, concurrency_limit=5000)
    f1 = deploy(lab, sleeper(0.5), name="f1")
    f2 = deploy(lab, sleeper(0.5), name="f2")
    df = lab.simulate([(f1, lk.workload.burst(1000)), (f2, lk.workload.burst(1000))]).invocations
    assert (df["outcome"] == "success").all()


def test_unknown_scaling_model_is_rejected():
    with pytest.raises(InvalidParameterValueException):
        lk.Lab(scaling_model="instant")


# -- 6. Provisioned concurrency --------------------------------------------------------

PC_MODULE = """
import labkit as lk
print("init ran")
lk.sleep(1.0)
count = 0

def handler(event, context):
    global count
    count += 1
    lk.sleep(event.get("s", 1.0))
    return count
"""


def test_provisioned_environments_are_ready_before_traffic_and_spill_over(lab):
    fn = deploy(lab, PC_MODULE, provisioned_concurrency=2, memory_mb=1024)
    ready = lab.now
    assert ready >= 1.0                              # the clock ran through their init
    envs = {e.id for e in fn.environments}
    assert len(envs) == 2
    run = lab.invoke(fn, lk.workload.parallel(5))
    df = run.invocations
    pc = df[df["start_type"] == "provisioned"]
    assert set(pc["environment_id"]) == envs
    assert pc["init_duration_ms"].isna().all() and not pc["cold"].any()
    assert list(pc["billed_duration_ms"]) == [1000, 1000]         # init not billed
    assert (pc["arrival_s"] == ready).all()
    spill = df[df["start_type"] == "cold"]
    assert len(spill) == 3
    assert (spill["init_duration_ms"] > 1000).all()
    for rid in pc["request_id"]:
        assert "Init Duration" not in run.report(rid)
    for rid in spill["request_id"]:
        assert "Init Duration" in run.report(rid)


def test_provisioned_concurrency_above_reserved_is_rejected(lab):
    with pytest.raises(InvalidParameterValueException) as e:
        deploy(lab, PC_MODULE, reserved_concurrency=2, provisioned_concurrency=3)
    assert e.value.parameter == "ProvisionedConcurrentExecutions"


def test_provisioned_init_failure_spills_over_and_does_not_crash(lab):
    # On AWS the allocation fails; requests go to on-demand environments and hit the init error.
    fn = deploy(lab, "raise RuntimeError('boom')\ndef handler(e, c):\n    return 1\n",
                provisioned_concurrency=2)
    df = lab.invoke(fn, lk.workload.parallel(3)).invocations
    assert (df["start_type"] == "cold").all()
    assert (df["error_type"] == "RuntimeError").all() and (df["error_message"] == "boom").all()
    other = deploy(lab, sleeper(0.1))
    assert lab.invoke(other, lk.workload.parallel(3)).summary()["succeeded"] == 3


def test_provisioned_concurrency_without_reservation_must_leave_100_unreserved():
    lab = lk.Lab(seed=1, concurrency_limit=200)
    with pytest.raises(InvalidParameterValueException) as e:
        deploy(lab, sleeper(0.1), name="too-many", provisioned_concurrency=101)
    assert e.value.parameter == "ProvisionedConcurrentExecutions"
    fn = deploy(lab, sleeper(0.1), name="fits", provisioned_concurrency=100)
    assert len(fn.environments) == 100


# -- 7. Timeouts -------------------------------------------------------------------------

REINIT_MODULE = """
import labkit as lk
lk.sleep(0.5)
count = 0

def handler(event, context):
    global count
    count += 1
    lk.sleep(event.get("s", 0.1))
    return count
"""


def test_timeout_stops_the_invocation_at_exactly_its_timeout(lab):
    fn = deploy(lab, REINIT_MODULE, timeout_s=3)
    run = lab.invoke(fn, [{"s": 10}, {"s": 0.1}, {"s": 0.1}])
    df = run.invocations
    t = df.iloc[0]
    assert t["outcome"] == "timeout"
    assert t["duration_ms"] == 3000.0
    assert t["end_s"] - t["invoke_start_s"] == pytest.approx(3.0, abs=1e-9)
    assert t["error_type"] == "Sandbox.Timedout"
    assert t["error_message"] == f"RequestId: {t['request_id']} Error: Task timed out after 3.00 seconds"
    report = run.report(t["request_id"])
    assert report.endswith("\tStatus: timeout")
    assert "Duration: 3000.00 ms" in report
    # The next invocation on that environment re-runs init inside its own duration.
    r = df.iloc[1]
    assert r["environment_id"] == t["environment_id"]
    assert r["start_type"] == "reinit" and not r["cold"]
    assert math.isnan(r["init_duration_ms"])
    assert r["duration_ms"] == pytest.approx(150 + 500 + 100)   # runtime start + module + handler
    assert r["response"] == 1                                  # globals were lost
    assert "Init Duration" not in run.report(r["request_id"])
    assert df.iloc[2]["start_type"] == "warm" and df.iloc[2]["response"] == 2


def test_broad_except_does_not_escape_the_timeout(lab):
    fn = deploy(lab, """
        import labkit as lk

        def handler(event, context):
            for _ in range(100):
                try:
                    lk.sleep(1)
                except Exception:
                    pass
            return "escaped"
        """, timeout_s=3)
    df = lab.invoke(fn, lk.workload.sequential(1)).invocations
    assert df.iloc[0]["outcome"] == "timeout"
    assert df.iloc[0]["duration_ms"] == 3000.0


def test_timeout_while_computing(lab):
    fn = deploy(lab, COUNTER, timeout_s=2, memory_mb=128)
    df = lab.invoke(fn, [{"cpu": 1.0}]).invocations
    assert df.iloc[0]["outcome"] == "timeout" and df.iloc[0]["duration_ms"] == 2000.0


def test_a_bare_except_cannot_escape_the_timeout_either(lab):
    fn = deploy(lab, """
        import labkit as lk

        def handler(event, context):
            while True:
                try:
                    lk.sleep(1)
                except:        # catches Lambda's stop too; the runtime must not hang
                    pass
        """, timeout_s=3)
    df = lab.invoke(fn, lk.workload.sequential(2)).invocations
    assert list(df["outcome"]) == ["timeout", "timeout"]
    assert list(df["start_type"]) == ["cold", "reinit"]


WAITER = """
from labkit import bridge

def handler(event, context):
    env = bridge.current().env
    if event["mode"] == "timeout":          # e.g. a simulated service answering after t s
        return bridge.wait(env.timeout(event["t"], value="answer"))
    ev = env.event()
    if event["mode"] == "failed":           # an event that has already failed
        ev.fail(KeyError("gone"))
    else:                                   # one that fails t s later
        def later():
            yield env.timeout(event["t"])
            ev.fail(KeyError("gone"))
        env.process(later())
    try:
        bridge.wait(ev)
    except KeyError as e:
        return "caught " + str(e)
"""


def test_waiting_for_a_simulated_event_is_bound_by_the_timeout(lab):
    fn = deploy(lab, WAITER, timeout_s=3, runtime_init_ms=0)
    df = lab.invoke(fn, [{"mode": "timeout", "t": 50}, {"mode": "timeout", "t": 0.5},
                         {"mode": "failed"}, {"mode": "fails_later", "t": 0.2},
                         {"mode": "fails_later", "t": 20}]).invocations
    assert list(df["outcome"]) == ["timeout", "success", "success", "success", "timeout"]
    assert list(df["duration_ms"]) == pytest.approx([3000, 500, 0, 200, 3000])
    assert list(df["response"].iloc[1:4]) == ["answer", "caught 'gone'", "caught 'gone'"]
    lab.advance(60)     # the late failure fires after its invocation was stopped: no crash


def test_time_and_random_inside_handlers_are_simulated_and_seeded():
    def run(seed):
        lab = lk.Lab(seed=seed)
        fn = deploy(lab, """
            import random
            import time

            def handler(event, context):
                t0, p0 = time.time(), time.perf_counter()
                time.sleep(1.5)
                return [time.time() - t0, time.perf_counter() - p0, t0, random.random()]
            """, runtime_init_ms=0)
        return lab.invoke(fn, lk.workload.parallel(2)).invocations

    df = run(3)
    a, b = df["response"]
    assert a[0] == pytest.approx(1.5) and a[1] == pytest.approx(1.5)
    assert a[2] == pytest.approx(1767225600.0)        # 2026-01-01T00:00:00Z, the Lab's start
    assert (df["duration_ms"] == 1500).all()
    assert a[3] != b[3]                                # each environment has its own generator
    assert list(run(3)["response"]) == list(df["response"])


# -- 8. The 10 s init limit --------------------------------------------------------------

SLOW_INIT = """
import labkit as lk
lk.sleep(12)

def handler(event, context):
    return "ok"
"""


def test_init_over_10_s_times_out_and_is_retried_in_the_invoke(lab):
    fn = deploy(lab, SLOW_INIT, timeout_s=30)
    run = lab.invoke(fn, lk.workload.sequential(2))
    df = run.invocations
    first = df.iloc[0]
    lines = run.log(first["request_id"])
    assert lines[0] == "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"
    assert first["outcome"] == "success"
    assert first["invoke_start_s"] - first["start_s"] == pytest.approx(10.0)
    assert first["duration_ms"] == pytest.approx(150 + 12000)   # init again, inside the invoke
    assert df.iloc[1]["start_type"] == "warm"


def test_init_retry_is_bound_by_the_function_timeout(lab):
    fn = deploy(lab, SLOW_INIT, timeout_s=3)
    run = lab.invoke(fn, lk.workload.sequential(2))
    df = run.invocations
    assert list(df["outcome"]) == ["timeout", "timeout"]
    assert (df["duration_ms"] == 3000.0).all()
    assert df.iloc[1]["start_type"] == "reinit"


# -- 9. Errors -------------------------------------------------------------------------------

def test_handler_exception_is_a_function_error_and_the_environment_stays_warm(lab):
    fn = deploy(lab, COUNTER)
    run = lab.invoke(fn, [{"raise": "bad input"}, {}])
    df = run.invocations
    err, nxt = df.iloc[0], df.iloc[1]
    assert err["outcome"] == "error"
    assert err["error_type"] == "ValueError" and err["error_message"] == "bad input"
    body = err["response"]
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input"
    assert body["requestId"] == err["request_id"]
    stack = body["stackTrace"]
    assert len(stack) == 1 and "in handler" in stack[0] and "raise ValueError" in stack[0]
    assert not any("labkit" in s for s in stack)
    assert "Status" not in run.report(err["request_id"])         # reported as the result, not by the platform
    assert nxt["start_type"] == "warm" and nxt["environment_id"] == err["environment_id"]
    assert nxt["response"] == 2                                   # globals kept
    assert lab.invoke(fn, [{}]).summary()["errors"] == 0


def test_stack_trace_lists_every_user_frame(lab):
    fn = deploy(lab, """
        def helper(x):
            return 1 / x

        def handler(event, context):
            return helper(0)
        """)
    df = lab.invoke(fn, [{}]).invocations
    stack = df.iloc[0]["response"]["stackTrace"]
    assert df.iloc[0]["error_type"] == "ZeroDivisionError"
    assert [("in handler" in s, "in helper" in s) for s in stack] == [(True, False), (False, True)]


def _first(lab, source, **cfg):
    fn = deploy(lab, source, **cfg)
    run = lab.invoke(fn, [{}])
    return run, run.invocations.iloc[0]


def test_exception_in_module_code_is_an_init_error(lab):
    run, row = _first(lab, "x = {}['missing']\ndef handler(e, c):\n    return 1\n")
    assert row["outcome"] == "error" and row["error_type"] == "KeyError"
    assert row["cold"]
    assert any(line.startswith("INIT_REPORT") and "Status: error\tError Type: KeyError" in line
               for line in run.log(row["request_id"]))


def test_import_error(lab):
    run, row = _first(lab, "import no_such_module_xyz\ndef handler(e, c):\n    return 1\n")
    assert row["error_type"] == "Runtime.ImportModuleError"
    assert row["error_message"] == "Unable to import module 'lambda_function': No module named 'no_such_module_xyz'"
    assert run.report(row["request_id"]).endswith("\tStatus: error\tError Type: Runtime.ImportModuleError")


def test_missing_handler(lab):
    _, row = _first(lab, "def main(e, c):\n    return 1\n")
    assert row["error_type"] == "Runtime.HandlerNotFound"
    assert row["error_message"] == "Handler 'handler' missing on module 'lambda_function'"


def test_syntax_error(lab):
    _, row = _first(lab, "def handler(e, c)\n    return 1\n")
    assert row["error_type"] == "Runtime.UserCodeSyntaxError"
    assert row["error_message"].startswith("Syntax error in module 'lambda_function'")


def test_non_json_return_is_a_marshal_error(lab):
    run, row = _first(lab, "def handler(e, c):\n    return {1, 2}\n")
    assert row["outcome"] == "error" and row["error_type"] == "Runtime.MarshalError"
    assert row["error_message"].startswith("Unable to marshal response:")
    assert run.report(row["request_id"]).endswith("Status: error\tError Type: Runtime.MarshalError")


@pytest.mark.parametrize("source", [
    "import sys\ndef handler(e, c):\n    sys.exit(3)\n",
    "import sys\nsys.exit(1)\ndef handler(e, c):\n    return 1\n",
    "def handler(e):\n    return 1\n",
    "def handler(e, c):\n    return handler(e, c)\n",
    "def handler(e, c):\n    return (x for x in e)\n",
    "import labkit as lk\ndef handler(e, c):\n    lk.sleep(-1)\n",
    "import labkit as lk\ndef handler(e, c):\n    lk.sleep('1')\n",
    "import labkit as lk\ndef handler(e, c):\n    return lk.Lab()\n",
    "handler = 42\n",
    "print('module output')\ndef handler(e, c):\n    print('a', 'b', sep=None)\n    raise Exception()\n",
])
def test_learner_errors_never_crash_the_simulator(lab, source):
    fn = deploy(lab, source, timeout_s=1)
    df = lab.invoke(fn, lk.workload.parallel(2) + lk.workload.burst(2, at_s=5)).invocations
    assert len(df) == 4
    assert df["outcome"].isin(["error", "timeout"]).all()
    assert df["error_type"].notna().all()


def test_sys_exit_is_a_runtime_exit_error_and_resets_the_environment(lab):
    fn = deploy(lab, "import sys\ndef handler(e, c):\n    sys.exit(3)\n")
    df = lab.invoke(fn, lk.workload.sequential(2)).invocations
    assert list(df["error_type"]) == ["Runtime.ExitError"] * 2
    assert list(df["start_type"]) == ["cold", "reinit"]


# -- 11. The context object ----------------------------------------------------------------

def test_context_fields(lab):
    fn = deploy(lab, """
        import labkit as lk

        def handler(event, context):
            before = context.get_remaining_time_in_millis()
            lk.sleep(1.25)
            return {"request_id": context.aws_request_id, "name": context.function_name,
                    "version": context.function_version, "arn": context.invoked_function_arn,
                    "memory": context.memory_limit_in_mb, "group": context.log_group_name,
                    "stream": context.log_stream_name, "before": before,
                    "after": context.get_remaining_time_in_millis()}
        """, name="ctx-demo", memory_mb=512, timeout_s=5)
    run = lab.invoke(fn, lk.workload.parallel(2) + lk.workload.burst(1, at_s=10))
    df = run.invocations
    r = df["response"]
    for row, resp in zip(df.itertuples(), r, strict=True):
        assert resp["request_id"] == row.request_id
        assert resp["name"] == "ctx-demo" and resp["version"] == "$LATEST"
        assert re.fullmatch(r"arn:aws:lambda:[a-z0-9-]+:\d{12}:function:ctx-demo", resp["arn"])
        assert resp["memory"] == "512"
        assert resp["group"] == "/aws/lambda/ctx-demo"
        assert (resp["before"], resp["after"]) == (5000, 3750)
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", resp["stream"])
    # One log stream per environment.
    assert r.iloc[0]["stream"] != r.iloc[1]["stream"]
    streams = dict(zip(run.environments["environment_id"], run.environments["log_stream_name"], strict=True))
    for row, resp in zip(df.itertuples(), r, strict=True):
        assert streams[row.environment_id] == resp["stream"]


# -- 12. CPU scales with memory, I/O does not ------------------------------------------------

@pytest.mark.parametrize("memory, seconds", [(128, 1769 / 128), (512, 1769 / 512), (1769, 1.0),
                                             (3008, 1.0), (10240, 1.0)])
def test_cpu_time_scales_with_memory_up_to_one_vcpu(lab, memory, seconds):
    fn = deploy(lab, COUNTER, memory_mb=memory, timeout_s=60)
    df = lab.invoke(fn, [{"cpu": 1.0}, {"s": 1.0}]).invocations
    assert df.iloc[0]["duration_ms"] == pytest.approx(seconds * 1000)
    assert df.iloc[1]["duration_ms"] == pytest.approx(1000)      # I/O waits do not scale


def test_cpu_work_in_init_scales_too(lab):
    fn = deploy(lab, "import labkit as lk\nlk.cpu(0.1)\ndef handler(e, c):\n    return 1\n",
                memory_mb=128, runtime_init_ms=0)
    df = lab.invoke(fn, [{}]).invocations
    assert df.iloc[0]["init_duration_ms"] == pytest.approx(100 * 1769 / 128)


# -- 14. Log lines in AWS's format -------------------------------------------------------

def test_start_end_report_lines_have_aws_format(lab):
    fn = deploy(lab, """
        import labkit as lk

        def handler(event, context):
            print("hello", event["n"])
            lk.sleep(0.2)
            return 1
        """, memory_mb=256)
    run = lab.invoke(fn, lk.workload.sequential(2))
    df = run.invocations
    cold, warm = df.iloc[0], df.iloc[1]
    assert run.log(cold["request_id"]) == [
        f"START RequestId: {cold['request_id']} Version: $LATEST",
        "hello 0",
        f"END RequestId: {cold['request_id']}",
        f"REPORT RequestId: {cold['request_id']}\tDuration: 200.00 ms\tBilled Duration: 350 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 40 MB\tInit Duration: 150.00 ms\t",
    ]
    assert run.report(warm["request_id"]) == (
        f"REPORT RequestId: {warm['request_id']}\tDuration: 200.00 ms\tBilled Duration: 200 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 40 MB\t")
    assert run.log_lines()[:4] == run.log(cold["request_id"])
    assert len(run.log_lines()) == 8


def test_report_line_formats():
    rid = "f2b4c5b8-1c3a-4d6e-9f00-123456789abc"
    assert logs.report_line(rid, 1655.10, 1978, 256, 322.04, max_memory_used_mb=97) == (
        f"REPORT RequestId: {rid}\tDuration: 1655.10 ms\tBilled Duration: 1978 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 97 MB\tInit Duration: 322.04 ms\t")
    assert logs.report_line(rid, 3000.0, 3000, 1024, status="timeout", max_memory_used_mb=64) == (
        f"REPORT RequestId: {rid}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 1024 MB\t"
        "Max Memory Used: 64 MB\tStatus: timeout")
    assert logs.report_line(rid, 26.73, 27, 128, max_memory_used_mb=75).endswith("Max Memory Used: 75 MB\t")
    assert logs.report_line(rid, 5.0, 86, 128, 80.0, status="error", error_type="Runtime.ExitError",
                            max_memory_used_mb=31).endswith(
        "Max Memory Used: 31 MB\tInit Duration: 80.00 ms\tStatus: error\tError Type: Runtime.ExitError")
    assert logs.start_line(rid) == f"START RequestId: {rid} Version: $LATEST"
    assert logs.end_line(rid) == f"END RequestId: {rid}"


# -- 15. SDK retries ---------------------------------------------------------------------

def test_without_retries_a_throttled_call_has_one_row(lab):
    fn = deploy(lab, sleeper(5.0), reserved_concurrency=1, timeout_s=10)
    df = lab.invoke(fn, lk.workload.parallel(3)).invocations
    assert len(df) == 3 and (df["attempt"] == 1).all()
    assert df["event_id"].nunique() == 3


def test_sdk_retry_retries_throttled_calls_with_full_jitter(lab):
    fn = deploy(lab, sleeper(5.0), reserved_concurrency=1, timeout_s=10)
    run = lab.invoke(fn, lk.workload.parallel(3), retry=lk.SdkRetry())
    df = run.invocations
    assert len(df) == 1 + 2 * 3
    for _event_id, g in df.groupby("event_id"):
        g = g.sort_values("attempt")
        if g.iloc[0]["outcome"] == "success":
            assert len(g) == 1
            continue
        assert list(g["attempt"]) == [1, 2, 3]
        assert (g["outcome"] == "throttled").all()
        gaps = g["arrival_s"].diff().iloc[1:].to_numpy()
        assert 0 <= gaps[0] <= 1.0 and 0 <= gaps[1] <= 2.0
    assert run.summary()["calls_failed_by_throttling"] == 2


def test_sdk_retry_succeeds_once_capacity_frees(lab):
    fn = deploy(lab, sleeper(0.3), reserved_concurrency=1, runtime_init_ms=0)
    run = lab.invoke(fn, lk.workload.parallel(2), retry=lk.SdkRetry(max_attempts=10, base_s=0.5))
    final = run.invocations.drop_duplicates("event_id", keep="last")
    assert (final["outcome"] == "success").all()


def test_sdk_retry_delays_and_validation():
    import random
    rng = random.Random(0)
    r = lk.SdkRetry()
    assert (r.max_attempts, r.base_s, r.cap_s) == (3, 1.0, 20.0)
    for n in range(1, 12):
        for _ in range(50):
            assert 0 <= r.delay(n, rng) <= min(2 ** (n - 1), 20)
    assert lk.SdkRetry.legacy().max_attempts == 5
    for bad in (dict(max_attempts=0), dict(max_attempts=1.5), dict(base_s=-1), dict(cap_s="x")):
        with pytest.raises(InvalidParameterValueException):
            lk.SdkRetry(**bad)
    with pytest.raises(InvalidParameterValueException):
        lk.Lab().invoke(None, lk.workload.parallel(1), retry=3)


# -- 16. Determinism -----------------------------------------------------------------------

RANDOM_HANDLER = """
import random
import labkit as lk

def handler(event, context):
    lk.sleep(random.uniform(0.05, 0.5))
    return random.random()
"""


def _poisson_run(seed):
    lab = lk.Lab(seed=seed)
    fn = deploy(lab, RANDOM_HANDLER, reserved_concurrency=5)
    return lab.invoke(fn, lk.workload.poisson(20, 10), retry=lk.SdkRetry()).invocations


def test_same_seed_gives_identical_invocations():
    a, b = _poisson_run(7), _poisson_run(7)
    pd.testing.assert_frame_equal(a, b)
    assert a["request_id"].is_unique


def test_different_seed_gives_different_poisson_traffic():
    a, b = _poisson_run(7), _poisson_run(8)
    assert len(a) != len(b) or not (a["arrival_s"].to_numpy() == b["arrival_s"].to_numpy()).all()
    assert set(a["request_id"]).isdisjoint(b["request_id"])


# -- 17. Time carries across runs; idle reclaim ------------------------------------------------

def test_time_carries_across_invoke_calls(lab):
    fn = deploy(lab, COUNTER)
    r1 = lab.invoke(fn, [{}])
    end1 = r1.invocations.iloc[0]["end_s"]
    assert lab.now == pytest.approx(end1)
    r2 = lab.invoke(fn, [{}])
    row = r2.invocations.iloc[0]
    assert row["arrival_s"] == pytest.approx(end1)
    assert row["start_type"] == "warm" and row["response"] == 2
    lab.advance(30)
    r3 = lab.invoke(fn, lk.workload.burst(1, at_s=5))
    assert r3.invocations.iloc[0]["arrival_s"] == pytest.approx(lab.now)
    assert r3.invocations.iloc[0]["arrival_s"] == pytest.approx(r2.t1 + 35)


def test_advance_reclaims_idle_environments(lab):
    fn = deploy(lab, COUNTER)
    df = lab.invoke(fn, [{}]).invocations
    env_id, freed = df.iloc[0]["environment_id"], df.iloc[0]["end_s"]
    lab.advance(700)
    rec = [r for r in lab.account.lifecycle if r.event == "reclaimed"]
    assert [(r.environment_id, r.time_s) for r in rec] == [(env_id, pytest.approx(freed + 600))]
    df = lab.invoke(fn, [{}]).invocations
    assert df.iloc[0]["start_type"] == "cold" and df.iloc[0]["environment_id"] != env_id
    assert df.iloc[0]["response"] == 1


def test_reclaim_during_a_run_is_stamped_when_idle_time_ran_out(lab):
    fn = deploy(lab, COUNTER)
    run = lab.invoke(fn, lk.workload.replay([0, 100, 800]))
    df = run.invocations
    assert list(df["start_type"]) == ["cold", "warm", "cold"]
    life = run.lifecycle
    rec = life[life["event"] == "reclaimed"]
    assert len(rec) == 1
    assert rec.iloc[0]["time_s"] == pytest.approx(df.iloc[1]["end_s"] + 600)
    assert run.environments["reclaimed_s"].notna().sum() == 1


def test_idle_reclaim_is_configurable():
    lab = lk.Lab(seed=1, idle_reclaim_s=60)
    fn = deploy(lab, COUNTER)
    df = lab.invoke(fn, lk.workload.replay([0, 50, 200])).invocations
    assert list(df["start_type"]) == ["cold", "warm", "cold"]
    with pytest.raises(InvalidParameterValueException):
        lk.Lab(idle_reclaim_s=0)


# -- misc API guards ----------------------------------------------------------------------

def test_lab_refuses_ambiguous_or_foreign_arguments(lab):
    with pytest.raises(SimulationError):
        lab.function()
    with pytest.raises(SimulationError):
        lab.function(lambda e, c: 1, source="def handler(e, c): pass")
    other = lk.Lab()
    fn = deploy(other, COUNTER)
    with pytest.raises(SimulationError):
        lab.invoke(fn, [{}])
    with pytest.raises(InvalidParameterValueException):
        lab.invoke(deploy(lab, COUNTER), "not a workload")
    with pytest.raises(InvalidParameterValueException):
        lab.advance(-1)
