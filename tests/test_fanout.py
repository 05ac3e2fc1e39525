"""Fan-out from handler code: boto3.client("lambda").invoke to other functions of the Lab."""


import pytest

import labkit as lk

WORKER = '''import labkit as lk
def handler(event, context):
    if event.get("fail"):
        raise ValueError("segment " + str(event["segment"]))
    lk.cpu(1.0)
    return {"segment": event["segment"], "items": 10}
'''

COORDINATOR = '''import json, boto3
from concurrent.futures import ThreadPoolExecutor
lam = boto3.client("lambda")
def call(seg, fail):
    out = lam.invoke(FunctionName="worker", Payload=json.dumps({"segment": seg, "fail": fail}))
    return out.get("FunctionError"), json.loads(out["Payload"].read())
def handler(event, context):
    if event.get("async"):
        return [lam.invoke(FunctionName="worker", InvocationType="Event",
                           Payload=json.dumps({"segment": s}))["StatusCode"] for s in range(3)]
    with ThreadPoolExecutor(event["segments"]) as pool:
        return list(pool.map(call, range(event["segments"]), [s == event.get("bad") for s in range(event["segments"])]))
'''


def _lab(**worker):
    lab = lk.Lab(seed=1)
    lab.function(source=WORKER, name="worker", memory_mb=1769, runtime_init_ms=0, timeout_s=30, **worker)
    coord = lab.function(source=COORDINATOR, name="coordinator", runtime_init_ms=0, timeout_s=60)
    return lab, coord


def test_fan_out_runs_segments_in_parallel_environments():
    lab, coord = _lab()
    run = lab.invoke(coord, [{"segments": 8}])
    inv = run.invocations
    top = inv[inv["function"] == "coordinator"].iloc[0]
    assert top["duration_ms"] == pytest.approx(1000.0)      # 8 one-second segments at once
    assert [body["segment"] for _function_error, body in top["response"]] == list(range(8))
    workers = inv[inv["function"] == "worker"]
    assert workers["environment_id"].nunique() == 8
    assert run.summary()["cost_usd"] > 0


def test_function_errors_and_throttles_reach_the_caller_as_on_aws():
    lab, coord = _lab(reserved_concurrency=2)
    run = lab.invoke(coord, [{"segments": 2, "bad": 1}, {"segments": 4}])
    first, second = run.invocations[run.invocations["function"] == "coordinator"]["response"]
    function_error, body = first[1]                      # the second segment is the bad one
    assert function_error == "Unhandled" and body["errorType"] == "ValueError"
    assert second is None or isinstance(second, dict)   # the 3rd/4th segment was throttled: the caller saw it
    assert run.invocations.query("function == 'coordinator'")["error_type"].tolist()[1] == "TooManyRequestsException"


def test_asynchronous_fan_out_returns_202_and_the_events_settle():
    lab, coord = _lab()
    run = lab.invoke(coord, [{"async": True}])
    assert run.invocations.query("function == 'coordinator'")["response"].iloc[0] == [202, 202, 202]
    lab.advance(60)
    assert lab.ledger.counts().get("succeeded", 0) == 4     # the coordinator's call + three segments


def test_unknown_function_is_resource_not_found():
    lab = lk.Lab(seed=1)
    src = ("import boto3\ndef handler(event, context):\n"
           "    return boto3.client('lambda').invoke(FunctionName='nope')['StatusCode']\n")
    inv = lab.invoke(lab.function(source=src), [{}]).invocations
    assert inv["error_type"][0] == "ResourceNotFoundException"
    assert "Function not found" in inv["error_message"][0]
