"""Streams and queues driven through the Lab: lab.kinesis_stream / lab.sqs_queue / lab.send."""

import pytest

import labkit as lk
from labkit.errors import InvalidParameterValueException

SRC = '''import base64, json
import labkit as lk
def handler(event, context):
    for r in event["Records"]:
        body = json.loads(base64.b64decode(r["kinesis"]["data"])) if "kinesis" in r else json.loads(r["body"])
        if body.get("poison"):
            raise ValueError("poison")
        lk.sleep(0.01)
    return {}
'''


def _payload(i):
    return {"doc": i % 7, "poison": i == 30}


def test_kinesis_poison_batch_goes_to_the_failure_destination_and_the_rest_succeeds():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC)
    stream = lab.kinesis_stream("edits", shard_count=4)
    failures = lab.queue("failures")
    lab.event_source_mapping(fn, stream, batch_size=10, maximum_retry_attempts=3, on_failure=failures)
    run = lab.send(stream, lk.workload.poisson(50, 20, payload=_payload), partition_key=lambda p: str(p["doc"]))
    states = run.event_states()
    assert set(states) == {"succeeded", "failure_destination"}
    assert sum(states.values()) == len(run.event_ids) > 900
    assert len(failures) == 1
    assert failures.messages[0].body["KinesisBatchInfo"]["batchSize"] == states["failure_destination"]


def test_sqs_poison_message_is_redriven_to_the_dlq():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC)
    dlq = lab.queue("dlq")
    q = lab.sqs_queue("orders", dead_letter_queue=dlq, max_receive_count=3, visibility_timeout_s=10)
    lab.event_source_mapping(fn, q, batch_size=5)
    run = lab.send(q, lk.workload.poisson(50, 20, payload=_payload))
    assert run.event_states()["dead_letter_queue"] == 1
    assert len(dlq) == 1


def test_fifo_concurrency_is_bounded_by_message_groups():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC)
    q = lab.sqs_queue("orders.fifo")
    lab.event_source_mapping(fn, q, batch_size=5)
    run = lab.send(q, lk.workload.poisson(50, 20, payload=lambda i: {"doc": i % 3}), group_id=lambda p: str(p["doc"]))
    assert run.event_states() == {"succeeded": len(run.event_ids)}
    assert run.summary()["max_concurrency"] <= 3


def test_until_stops_a_run_that_would_not_drain_and_leaves_events_pending():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC)
    stream = lab.kinesis_stream("s")
    lab.event_source_mapping(fn, stream, batch_size=10)      # infinite retries: the shard is blocked
    run = lab.send(stream, lk.workload.constant(5, 10, payload=_payload), partition_key=lambda p: "k",
                   until_s=60)
    assert run.t1 - run.t0 == pytest.approx(60)
    assert run.event_states().get("pending", 0) > 0


def test_bad_sources_and_missing_keys_are_clear_errors():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC)
    with pytest.raises(InvalidParameterValueException):
        lab.event_source_mapping(fn, "arn:aws:sqs:nowhere")
    with pytest.raises(InvalidParameterValueException) as e:
        lab.send(lab.kinesis_stream("s"), lk.workload.burst(1))
    assert e.value.parameter == "partition_key"
