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
