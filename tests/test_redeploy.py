"""Deploying a function under an existing name redeploys it: re-running a notebook cell works."""

import pytest

import labkit as lk
from labkit.errors import InvalidParameterValueException, SimulationError

SRC = "import labkit as lk\nVERSION = {v}\ndef handler(event, context):\n    lk.sleep(0.1)\n    return VERSION\n"


def test_redeploy_replaces_code_and_starts_fresh_environments():
    lab = lk.Lab(seed=1)
    old = lab.function(source=SRC.format(v=1), name="app")
    first = lab.invoke(old, lk.workload.sequential(2)).invocations
    new = lab.function(source=SRC.format(v=2), name="app")
    second_run = lab.invoke(new, lk.workload.sequential(2))
    second = second_run.invocations
    assert first["response"].tolist() == [1, 1] and second["response"].tolist() == [2, 2]
    assert second["start_type"].tolist() == ["cold", "warm"]
    assert set(first["environment_id"]).isdisjoint(second["environment_id"])
    life = second_run.lifecycle
    ended = set(life[life["event"] == "reclaimed"]["environment_id"])
    assert set(first["environment_id"]) <= ended          # the old environment ended at the redeploy, as the run began
    with pytest.raises(SimulationError, match="redeployed"):
        lab.invoke(old, [{}])


def test_redeploy_frees_the_old_reservation_for_the_new_one():
    lab = lk.Lab(seed=1)
    lab.function(source=SRC.format(v=1), name="app", reserved_concurrency=900)
    lab.function(source=SRC.format(v=2), name="app", reserved_concurrency=900)   # not 1,800
    assert lab.account.reserved_total == 900
    with pytest.raises(InvalidParameterValueException):
        lab.function(source=SRC.format(v=3), name="other", reserved_concurrency=1)


def test_a_failed_redeploy_leaves_the_old_function_in_service():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC.format(v=1), name="app")
    with pytest.raises(InvalidParameterValueException):
        lab.function(source=SRC.format(v=2), name="app", memory_mb=64)
    assert lab.invoke(fn, [{}]).invocations["response"][0] == 1


def test_a_redeploy_while_invocations_are_in_flight_is_refused_clearly():
    # A run stopped early (until_s) can leave invocations running; replacing the code under
    # them would be ambiguous, so the redeploy says what to do instead.
    lab = lk.Lab(seed=1)
    slow = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(30)\n    return 1\n"
    fn = lab.function(source=slow, name="app", timeout_s=40)
    q = lab.sqs_queue("jobs", visibility_timeout_s=60)
    lab.event_source_mapping(fn, q, batch_size=1)
    lab.send(q, lk.workload.burst(1), until_s=5)
    assert fn.inflight == 1
    with pytest.raises(SimulationError, match="app still has 1 invocations running; redeploy it after they end"):
        lab.function(source=SRC.format(v=2), name="app")
    lab.advance(60)
    assert lab.function(source=SRC.format(v=2), name="app").name == "app"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_arns_carry_the_labs_region(region):
    lab = lk.Lab(seed=1, region=region)
    src = "def handler(event, context):\n    return context.invoked_function_arn\n"
    fn = lab.function(source=src, name="where")
    arn = lab.invoke(fn, [{}]).invocations["response"][0]
    assert arn == f"arn:aws:lambda:{region}:123456789012:function:where" == fn.arn
    assert lab.sqs_queue("q").arn == f"arn:aws:sqs:{region}:123456789012:q"
    assert lab.kinesis_stream("s").arn == f"arn:aws:kinesis:{region}:123456789012:stream/s"
    failures = lab.queue("failures")
    boom = lab.function(source="def handler(event, context):\n    raise ValueError('no')\n", name="boom")
    lab.invoke_async(boom, lk.workload.burst(1), maximum_retry_attempts=0, on_failure=failures)
    assert failures.messages[0].body["requestContext"]["functionArn"].startswith(f"arn:aws:lambda:{region}:")
