"""labkit.aws against the local endpoint: moto's control plane + a real awslambdaric data plane."""

import math
import subprocess
import sys
import textwrap

import pytest

import labkit as lk
from labkit import workload
from labkit.aws import cost
from labkit.aws.driver import ENVIRONMENT_COLUMNS, Driver
from labkit.aws.resources import IAM_PATH, Deployment, find_leftovers
from labkit.records import INVOCATION_COLUMNS

HANDLER = textwrap.dedent('''
    import labkit as lk

    count = 0

    def handler(event, context):
        global count
        count += 1
        if event.get("s"):
            lk.sleep(event["s"])
        if event.get("raise"):
            raise ValueError(event["raise"])
        return {"count": count}
''')


def _no_wait(_):
    return None


def _deploy(session, **config):
    dep = Deployment(session, budget=config.pop("budget", None), sleep=_no_wait, poll_s=0.0)
    return dep, dep.function(source=config.pop("source", HANDLER), **config)


def test_sequential_calls_share_one_environment_and_rows_have_the_simulators_columns(session):
    with Deployment(session, sleep=_no_wait) as dep:
        fn = dep.function(source=HANDLER, memory_mb=256, timeout_s=3)
        res = Driver(session, fn, expected_duration_ms=50).invoke(workload.sequential(4))
    rows = res.invocations
    assert len(rows) == 4 and all(tuple(r) == INVOCATION_COLUMNS for r in rows)
    assert [r["response"]["count"] for r in rows] == [1, 2, 3, 4]
    assert len({r["environment_id"] for r in rows}) == 1
    assert [r["start_type"] for r in rows] == ["cold", "warm", "warm", "warm"]
    assert rows[0]["cold"] and rows[0]["init_duration_ms"] > 0
    assert all(math.isnan(r["init_duration_ms"]) for r in rows[1:])
    for r in rows:
        assert r["outcome"] == "success" and r["memory_mb"] == 256
        assert r["invocation_type"] == "RequestResponse"
        assert r["billed_duration_ms"] >= math.ceil(r["duration_ms"]) and r["cost_usd"] > 0
        assert r["start_s"] <= r["invoke_start_s"] <= r["end_s"]
    env = res.environments
    assert len(env) == 1 and tuple(env[0]) == ENVIRONMENT_COLUMNS and env[0]["invocations"] == 4
    assert env[0]["log_stream_name"].startswith("20") and "[$LATEST]" in env[0]["log_stream_name"]
    assert res.invocations_frame().columns.tolist() == list(INVOCATION_COLUMNS)


def test_parallel_calls_spread_over_environments(session):
    with Deployment(session, sleep=_no_wait) as dep:
        fn = dep.function(source=HANDLER, timeout_s=5)
        res = Driver(session, fn, expected_duration_ms=500).invoke(workload.parallel(4, payload={"s": 0.5}))
    rows = res.invocations
    assert len(rows) == 4 and len({r["environment_id"] for r in rows}) == 4
    assert all(r["cold"] and r["outcome"] == "success" for r in rows)
    assert all(r["duration_ms"] >= 500 for r in rows)


def test_reserved_concurrency_throttles_appear_as_rows_and_sdk_retry_is_the_only_retry(session):
    with Deployment(session, sleep=_no_wait) as dep:
        fn = dep.function(source=HANDLER, timeout_s=5, reserved_concurrency=2)
        res = Driver(session, fn, expected_duration_ms=600).invoke(workload.parallel(5, payload={"s": 0.6}))
        throttled = [r for r in res.invocations if r["outcome"] == "throttled"]
        assert len(throttled) == 3 and sum(r["outcome"] == "success" for r in res.invocations) == 2
        for r in throttled:
            assert r["error_type"] == "TooManyRequestsException" and r["attempt"] == 1
            assert r["throttle_reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            assert r["environment_id"] is None and r["cost_usd"] == 0.0
        # With labkit's SdkRetry the throttled calls are retried on the wall clock, each attempt a row.
        retry = lk.SdkRetry(max_attempts=4, base_s=0.4, cap_s=1.0)
        res = Driver(session, fn, retry=retry, seed=3, expected_duration_ms=600).invoke(
            workload.parallel(3, payload={"s": 0.6}))
    by_event = {}
    for r in res.invocations:
        by_event.setdefault(r["event_id"], []).append(r)
    assert len(by_event) == 3
    assert any(len(v) > 1 for v in by_event.values())
    for attempts in by_event.values():
        assert [r["attempt"] for r in attempts] == list(range(1, len(attempts) + 1))
        assert all(r["outcome"] == "throttled" for r in attempts[:-1])


def test_timeouts_and_errors_are_rows_and_a_timeout_resets_the_environment(session):
    with Deployment(session, sleep=_no_wait) as dep:
        fn = dep.function(source=HANDLER, timeout_s=1)
        drv = Driver(session, fn, expected_duration_ms=1000)
        res = drv.invoke(workload.replay([0.0, 0.3, 1.6], payloads=[{"raise": "boom"}, {"s": 3}, {}]))
    err, slow, after = sorted(res.invocations, key=lambda r: r["arrival_s"])
    assert (err["outcome"], err["error_type"], err["error_message"]) == ("error", "ValueError", "boom")
    assert (slow["outcome"], slow["error_type"], slow["duration_ms"]) == ("timeout", "Sandbox.Timedout", 1000.0)
    assert slow["environment_id"] == err["environment_id"] and not slow["cold"]   # an error keeps the environment
    # The timed-out environment was reset: the next call starts cold.
    assert after["outcome"] == "success" and after["cold"] and after["environment_id"] != slow["environment_id"]


def test_async_invokes_are_read_back_from_cloudwatch_logs(session):
    with Deployment(session, sleep=_no_wait) as dep:
        fn = dep.function(source=HANDLER, timeout_s=3)
        res = Driver(session, fn, expected_duration_ms=100, log_wait_s=20, poll_s=0.2).invoke_async(
            workload.burst(3, payload={"s": 0.1}))
    rows = res.invocations
    assert len(rows) == 3 and all(r["invocation_type"] == "Event" for r in rows)
    assert all(r["outcome"] == "success" and r["duration_ms"] >= 100 and r["environment_id"] for r in rows)
    assert all(r["billed_duration_ms"] > 0 and r["cost_usd"] > 0 for r in rows)
    assert sum(r["cold"] for r in rows) == len({r["environment_id"] for r in rows})
    assert all(e["log_stream_name"] for e in res.environments)


def test_budget_refuses_before_anything_is_created(session):
    dep = Deployment(session, budget=cost.Budget(0.01), sleep=_no_wait)
    big = cost.estimate(workload.constant(rate_per_s=100, seconds=3600), duration_ms=1000, memory_mb=1024)
    with pytest.raises(cost.BudgetExceeded, match="Nothing was created"):
        dep.function(source=HANDLER, estimate=big)
    assert find_leftovers(session, dep.run_id) == [] and dep.role_name is None
    dep.teardown()


def test_budget_stops_dispatching_at_its_running_total(session):
    with Deployment(session, sleep=_no_wait) as dep:
        fn = dep.function(source=HANDLER, memory_mb=1024, timeout_s=3)
        per_call = cost.estimate(requests=1, duration_ms=300, memory_mb=1024, cold_starts=0).per_invocation_usd
        budget = cost.Budget(per_call * 2.5)
        # Each call is expected at 10 ms but bills 300 ms or more: the running total, settled from the
        # REPORT lines, reaches the budget after two or three calls and dispatching stops.
        res = Driver(session, fn, budget=budget, expected_duration_ms=10).invoke(
            workload.sequential(10, payload={"s": 0.3}))
    assert res.stopped_by_budget and 2 <= len(res.invocations) <= 3
    assert budget.spent_usd == pytest.approx(sum(r["cost_usd"] for r in res.invocations))
    assert budget.spent_usd <= budget.budget_usd + 1.5 * per_call


def test_teardown_leaves_nothing_listed_by_tag_or_iam_path(session):
    with Deployment(session, sleep=_no_wait) as dep:
        dep.function(source=HANDLER, name="a")
        dep.function(source=HANDLER, name="b", reserved_concurrency=1)
        run = dep.run_id
        assert {x.kind for x in find_leftovers(session, run)} == {"function", "log-group", "role"}
    report = dep.teardown()          # a second call is a no-op
    assert report.outcomes == []
    assert find_leftovers(session, run) == []
    roles = session.client("iam").list_roles(PathPrefix=IAM_PATH)["Roles"]
    assert not [r for r in roles if run in r["RoleName"]]
    tagged = session.client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "labkit:run-id", "Values": [run]}])["ResourceTagMappingList"]
    assert tagged == []


CRASH = '''
import os, sys
sys.path.insert(0, {root!r})
from labkit.aws.resources import AwsSession, Deployment
s = AwsSession("us-east-1", endpoint_url={url!r})
dep = Deployment(s, run_id="crash{n}", sleep=lambda _: None)
dep.function(source={src!r}, name="victim")
s.client("lambda").invoke(FunctionName=dep.functions[0].name, Payload=b"{{}}")
print("deployed", dep.functions[0].name, flush=True)
os._exit(1)          # a crash mid-run: no teardown, no atexit
'''


def test_cleanup_after_a_crash_mid_run_finds_deletes_and_verifies(session, local_aws, tmp_path):
    import pathlib
    root = str(pathlib.Path(__file__).resolve().parents[2])
    code = CRASH.format(root=root, url=local_aws.url, src=HANDLER, n=1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "deployed labkit-crash1-victim" in out.stdout, out.stderr
    assert {x.kind for x in find_leftovers(session, "crash1")} == {"function", "log-group", "role"}
    cli = subprocess.run([sys.executable, "-m", "labkit.aws", "cleanup", "--region", "us-east-1",
                          "--endpoint-url", local_aws.url], capture_output=True, text=True, timeout=60,
                         cwd=root)
    assert cli.returncode == 0, cli.stderr
    assert "labkit-crash1-victim" in cli.stdout and "verified gone" in cli.stdout
    assert find_leftovers(session, "crash1") == []
    assert "123456789012" not in cli.stdout + cli.stderr


EXIT = '''
import sys
sys.path.insert(0, {root!r})
from labkit.aws.resources import AwsSession, Deployment
s = AwsSession("us-east-1", endpoint_url={url!r})
dep = Deployment(s, run_id="atexit{n}", sleep=lambda _: None)
dep.function(source={src!r})
print("deployed", flush=True)
# the script ends without teardown: the interpreter's exit tears down
'''


def test_interpreter_exit_tears_down_what_was_left(session, local_aws):
    import pathlib
    root = str(pathlib.Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", EXIT.format(root=root, url=local_aws.url, src=HANDLER, n=1)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "torn down at exit" in out.stdout and "All resources deleted and verified gone" in out.stdout
    assert find_leftovers(session, "atexit1") == []
    assert "123456789012" not in out.stdout + out.stderr


def test_the_account_id_is_never_printed(session, capfd, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="labkit.aws")
    with Deployment(session, sleep=_no_wait) as dep:
        fn = dep.function(source=HANDLER)
        drv = Driver(session, fn, expected_duration_ms=10)
        res = drv.invoke(workload.sequential(2, payload={"raise": "x"}))
        shown = [repr(session), str(session), repr(dep), repr(fn), repr(drv), repr(res.invocations)]
        print(*shown)
    out, err = capfd.readouterr()
    acct = session.account_id
    assert len(acct) == 12 and acct.isdigit()
    text = out + err + caplog.text + " ".join(shown)
    assert acct not in text
    assert acct[-4:] in text                           # shown masked
