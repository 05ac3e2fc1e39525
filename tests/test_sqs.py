"""SQS standard and FIFO queues and Lambda's SQS event source mapping (facts sheet, 2c and 2e)."""

import hashlib
import json
import random

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException
from labkit.records import (INVOCATION_COLUMNS, SQS_BATCH_COLUMNS, LedgerEntry, SqsBatchRecord, SqsMessageState,
                            SqsPollerSample, SqsQueueMetrics, SqsQueueSample)
from labkit.event_sources.destinations import DestinationQueue
from labkit.event_sources.ledger import FINAL_STATES
from labkit.event_sources.sqs import (BATCH_COLUMNS, RedrivePolicy, SqsEventSourceMapping, SqsQueue, produce)


# A handler module driven by the message bodies: {"n": i, "s": seconds to sleep,
# "fail": fail while ApproximateReceiveCount <= this}. PARTIAL: report failures
# instead of raising (FIFO: from the first failure on, as AWS asks).
HANDLER = """
import json
import labkit as lk

PARTIAL = {partial!r}
FIFO = {fifo!r}

def handler(event, context):
    failed = []
    for r in event["Records"]:
        body = json.loads(r["body"])
        if failed and FIFO:
            failed.append(r["messageId"])       # unprocessed after a failure in the group
            continue
        lk.sleep(body.get("s", 0.0))
        if int(r["attributes"]["ApproximateReceiveCount"]) <= body.get("fail", 0):
            if not PARTIAL:
                raise ValueError("cannot process " + r["messageId"])
            failed.append(r["messageId"])
    if PARTIAL:
        return {{"batchItemFailures": [{{"itemIdentifier": i}} for i in failed]}}
    return None
"""


def make(seed=1, partial=False, fifo=False, **fn_config):
    lab = lk.Lab(seed=seed)
    fn = lab.function(source=HANDLER.format(partial=partial, fifo=fifo), **fn_config)
    return lab, fn


def send_all(q, bodies, group=None):
    ids = []
    for i, b in enumerate(bodies):
        kw = {}
        if q.fifo:
            kw = {"MessageGroupId": group(b) if callable(group) else (group or "g"),
                  "MessageDeduplicationId": f"d{len(q.messages)}-{i}"}
        ids.append(q.send_message(json.dumps(b), **kw)["MessageId"])
    return ids


def run_until_drained(lab, q, limit_s, after=None):
    env = lab.account.env
    env.run(until=env.any_of([q.when_drained(after=after), env.timeout(limit_s)]))


# -- the queue model ------------------------------------------------------------------------

def test_visibility_timeout_hides_a_received_message_and_counts_receives():
    lab = lk.Lab(seed=1)
    env = lab.account.env
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=20)
    (mid,) = send_all(q, [{"n": 0}])
    first = q.receive_message()["Messages"][0]
    assert first["MessageId"] == mid and first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert q.receive_message()["Messages"] == []            # in flight: not visible
    assert (q.n_visible, q.n_inflight) == (0, 1)
    env.run(until=19.9)
    assert q.receive_message()["Messages"] == []
    env.run(until=20.0001)
    second = q.receive_message()["Messages"][0]             # back after exactly the timeout
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert (second["Attributes"]["ApproximateFirstReceiveTimestamp"]
            == first["Attributes"]["ApproximateFirstReceiveTimestamp"])
    q.delete_message(first["ReceiptHandle"])                # a stale handle deletes nothing
    assert q.ledger.state(mid) == "pending"
    q.delete_message(second["ReceiptHandle"])
    assert q.ledger.state(mid) == "succeeded" and q.drained


def test_esm_retries_a_failed_message_each_visibility_timeout():
    lab, fn = make(timeout_s=3)
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=10)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=1)
    (mid,) = send_all(q, [{"n": 0, "fail": 2}])
    run_until_drained(lab, q, 100)
    b = esm.batches
    assert list(b["receive_counts"]) == [(1,), (2,), (3,)]
    assert list(b["outcome"]) == ["error", "error", "success"]
    # Each retry starts when the message reappears: one visibility timeout after the last receive.
    assert b["opened_s"].diff().dropna().round(6).tolist() == [10.0, 10.0]
    assert q.ledger.state(mid) == "succeeded"


def test_redrive_moves_a_message_to_the_dead_letter_queue_after_max_receive_count():
    lab, fn = make()
    dlq = DestinationQueue("jobs-dlq")
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=5, redrive_policy=RedrivePolicy(dlq, 3))
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=1)
    poison, good = send_all(q, [{"n": 0, "fail": 10 ** 6}, {"n": 1}])
    run_until_drained(lab, q, 300)
    assert q.ledger.state(good) == "succeeded"
    assert ((q.ledger.states[poison].state, q.ledger.states[poison].reason)
            == ("dead_letter_queue", "MaxReceiveCountExceeded"))
    b = esm.batches
    assert sorted(c for ids, (c,) in zip(b["message_ids"], b["receive_counts"], strict=True)
                  if ids == (poison,)) == [1, 2, 3]
    (m,) = dlq.messages
    assert m.attributes["MessageId"] == poison and m.attributes["ApproximateReceiveCount"] == 3
    assert json.loads(m.body) == {"n": 0, "fail": 10 ** 6}


def test_redrive_into_another_simulated_queue_keeps_the_message_id():
    lab, fn = make()
    dlq = SqsQueue(lab.account, "jobs-dlq")
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=5, redrive_policy=RedrivePolicy(dlq, 1))
    SqsEventSourceMapping(lab.account, q, fn, batch_size=1)
    (mid,) = send_all(q, [{"n": 0, "fail": 10 ** 6}])
    run_until_drained(lab, q, 100)
    assert q.ledger.state(mid) == "dead_letter_queue"
    (moved,) = dlq.messages.values()
    assert moved.message_id == mid and dlq.ledger.state(f"{mid}@jobs-dlq") == "pending"
    with pytest.raises(InvalidParameterValueException):
        SqsQueue(lab.account, "jobs2", redrive_policy=RedrivePolicy(SqsQueue(lab.account, "x.fifo"), 3))


def test_without_redrive_a_poison_message_cycles_until_retention_drops_it():
    lab, fn = make()
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=10, message_retention_s=60)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=1)
    (mid,) = send_all(q, [{"n": 0, "fail": 10 ** 6}])
    run_until_drained(lab, q, 1000)
    assert q.ledger.states[mid] == LedgerEntry("dropped", "RetentionExpired", 60.0)
    assert len(esm.batches) == 6          # received at 0, 10, ..., 50
    assert lab.account.env.now == 60.0      # nothing keeps the simulation busy once drained


def test_fifo_deduplication_within_five_minutes():
    lab = lk.Lab(seed=1)
    env = lab.account.env
    q = SqsQueue(lab.account, "orders.fifo", content_based_deduplication=True)
    a = q.send_message("hello", MessageGroupId="g")["MessageId"]
    assert q.send_message("hello", MessageGroupId="g")["MessageId"] == a
    b = q.send_message("other", MessageGroupId="g", MessageDeduplicationId="x")["MessageId"]
    assert q.send_message("different body", MessageGroupId="g", MessageDeduplicationId="x")["MessageId"] == b
    assert len(q.messages) == 2 and q.deduplicated == 2
    env.run(until=facts.SQS_FIFO_DEDUPLICATION_INTERVAL_S + 1)
    assert q.send_message("hello", MessageGroupId="g")["MessageId"] != a
    with pytest.raises(InvalidParameterValueException, match="MessageGroupId"):
        q.send_message("hello")
    plain = SqsQueue(lab.account, "orders2.fifo")
    with pytest.raises(InvalidParameterValueException, match="MessageDeduplicationId"):
        plain.send_message("hello", MessageGroupId="g")


def test_lambda_event_has_the_aws_record_shape():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return event\n")
    q = SqsQueue(lab.account, "orders.fifo")
    SqsEventSourceMapping(lab.account, q, fn)
    q.send_message('{"a": 1}', MessageGroupId="g1", MessageDeduplicationId="d1")
    run_until_drained(lab, q, 10)
    (rec,) = lab.account.records[-1].response["Records"]
    assert set(rec) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                        "eventSource", "eventSourceARN", "awsRegion"}
    assert rec["eventSource"] == "aws:sqs" and rec["body"] == '{"a": 1}'
    assert rec["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
    assert rec["md5OfBody"] == hashlib.md5(b'{"a": 1}').hexdigest()
    attrs = rec["attributes"]
    assert {"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId",
            "MessageGroupId", "MessageDeduplicationId", "SequenceNumber"} <= set(attrs)
    assert attrs["MessageGroupId"] == "g1" and attrs["ApproximateReceiveCount"] == "1"
    assert int(attrs["SentTimestamp"]) == int(lab.account.epoch * 1000)


# -- partial batch responses -------------------------------------------------------------------

def _one_batch(partial, report, bodies):
    lab, fn = make(partial=partial)
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=10)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=10, report_batch_item_failures=report)
    ids = send_all(q, bodies)
    lab.account.env.run(until=5)
    return q, esm, ids


def test_partial_batch_response_returns_only_the_failed_messages():
    q, esm, ids = _one_batch(True, True, [{"n": i, "fail": i % 2} for i in range(6)])
    (b,) = esm.batches.itertuples()
    assert b.outcome == "partial" and b.size == 6
    assert set(b.returned_ids) == set(ids[1::2])
    assert [q.ledger.state(i) for i in ids] == ["succeeded", "pending"] * 3
    q.account.env.run(until=25)
    assert [q.ledger.state(i) for i in ids] == ["succeeded"] * 6
    second = esm.batches.iloc[1]
    assert set(second["message_ids"]) == set(ids[1::2]) and second["receive_counts"] == (2, 2, 2)


def test_without_report_batch_item_failures_the_response_is_ignored():
    q, esm, ids = _one_batch(True, False, [{"n": i, "fail": i % 2} for i in range(4)])
    assert esm.batches["outcome"].tolist() == ["success"]
    assert all(q.ledger.state(i) == "succeeded" for i in ids)   # the "failed" ones are lost


def test_an_exception_returns_the_whole_batch_even_with_partial_responses_on():
    q, esm, ids = _one_batch(False, True, [{"n": i, "fail": i % 2} for i in range(4)])
    (b,) = esm.batches.itertuples()
    assert b.outcome == "error" and set(b.returned_ids) == set(ids)
    assert all(q.ledger.state(i) == "pending" for i in ids)


@pytest.mark.parametrize("response", [
    {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
    {"batchItemFailures": [{"itemIdentifier": ""}]},
    {"batchItemFailures": [{"id": "x"}]},
    "ok",
])
def test_an_invalid_partial_response_fails_the_whole_batch(response):
    lab = lk.Lab(seed=1)
    fn = lab.function(source=f"def handler(event, context):\n    return {response!r}\n")
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=10)
    esm = SqsEventSourceMapping(lab.account, q, fn, report_batch_item_failures=True)
    ids = send_all(q, [{"n": 0}, {"n": 1}])
    lab.account.env.run(until=5)
    (b,) = esm.batches.itertuples()
    assert b.outcome == "invalid_response" and set(b.returned_ids) == set(ids)


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_empty_partial_responses_mean_full_success(response):
    lab = lk.Lab(seed=1)
    fn = lab.function(source=f"def handler(event, context):\n    return {response!r}\n")
    q = SqsQueue(lab.account, "jobs")
    esm = SqsEventSourceMapping(lab.account, q, fn, report_batch_item_failures=True)
    send_all(q, [{"n": 0}, {"n": 1}])
    lab.account.env.run(until=5)
    assert esm.batches["outcome"].tolist() == ["success"] and q.drained


# -- scaling ---------------------------------------------------------------------------------

def _backlog_run(n_messages, until, **esm_options):
    lab = lk.Lab(seed=3)
    fn = lab.function(source="import labkit as lk\ndef handler(event, context):\n    lk.sleep(1.0)\n",
                      runtime_init_ms=0)
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=60)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=10, **esm_options)
    env = lab.account.env
    env.process(produce(q, lk.workload.burst(n_messages), random.Random(1)))
    env.run(until=until)
    return lab, q, esm


def test_standard_pollers_start_at_5_and_add_at_most_300_per_minute():
    lab, q, esm = _backlog_run(60000, 60)
    c = esm.concurrency()
    per_s = facts.SQS_ESM_SCALE_UP_PER_MINUTE / 60
    # In flight never exceeds 5 + 300/min of elapsed time ...
    assert (c["batches"] <= facts.SQS_ESM_INITIAL_CONCURRENCY + per_s * c["time_s"].apply(int) + 1e-9).all()
    assert c[c["time_s"] < 1]["batches"].max() == facts.SQS_ESM_INITIAL_CONCURRENCY
    # ... and with a backlog it does keep growing (about 5 + 5 per second).
    assert c[c["time_s"] <= 30]["batches"].max() >= 120
    assert c["batches"].max() >= 200
    assert q.metrics(10).set_index("time_s").loc[30, "ApproximateNumberOfMessagesVisible"] > 0


def test_maximum_concurrency_caps_the_pollers():
    lab, q, esm = _backlog_run(4000, 40, maximum_concurrency=20)
    c = esm.concurrency()
    assert c["batches"].max() == 20 and c["slots"].max() == 20
    inv = lk.metrics.concurrency_steps(_invocations(lab))
    assert inv["concurrency"].max() <= 20


def test_pollers_scale_back_down_when_the_queue_is_empty():
    lab, q, esm = _backlog_run(2000, 200)
    c = esm.concurrency()
    assert c["slots"].max() > 20
    assert q.drained and esm.slots == facts.SQS_ESM_INITIAL_CONCURRENCY


def test_throttled_batches_are_retried_then_return_after_the_visibility_timeout():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="import labkit as lk\ndef handler(event, context):\n    lk.sleep(4.0)\n",
                      reserved_concurrency=1, timeout_s=5, runtime_init_ms=0)
    q = SqsQueue(lab.account, "jobs", visibility_timeout_s=8)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=1)
    ids = send_all(q, [{"n": i} for i in range(4)])
    run_until_drained(lab, q, 600)
    b = esm.batches
    assert all(q.ledger.state(i) == "succeeded" for i in ids)
    assert (b["throttles"] > 0).any() and "throttled" in set(b["outcome"])
    assert max(max(rc) for rc in b["receive_counts"]) >= 2     # gave up, came back, received again
    assert esm.concurrency()["slots"].max() == facts.SQS_ESM_INITIAL_CONCURRENCY   # no scale-up on throttles


def test_batches_respect_the_6_mb_payload_limit():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return len(event['Records'])\n")
    q = SqsQueue(lab.account, "big")
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=100, maximum_batching_window_s=1)
    for _ in range(12):
        q.send_message("x" * 900_000)
    lab.account.env.run(until=30)
    b = esm.batches
    assert q.drained and b["size"].sum() == 12
    assert (b["payload_bytes"] <= facts.SYNC_PAYLOAD_LIMIT_BYTES).all() and b["size"].max() == 6


def test_batching_window_gathers_messages_before_invoking():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return None\n")
    q = SqsQueue(lab.account, "jobs")
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=50, maximum_batching_window_s=5)
    env = lab.account.env
    wl = lk.workload.replay([0.1 + k * 0.3 for k in range(80)])
    env.process(produce(q, wl, random.Random(1)))
    env.run(until=40)
    b = esm.batches
    assert q.drained and b["size"].sum() == 80
    assert b["size"].iloc[0] == 17                  # the arrivals from 0.1 s to 4.9 s (window ends at 5.1 s)
    assert (b["started_s"] - b["opened_s"]).round(6).iloc[0] == 5.0
    with pytest.raises(InvalidParameterValueException):
        SqsEventSourceMapping(lab.account, q, fn, maximum_batching_window_s=0.5)


def _invocations(lab):
    return pd.DataFrame(lab.account.records, columns=list(INVOCATION_COLUMNS))


# -- FIFO ----------------------------------------------------------------------------------------

def test_fifo_keeps_order_per_group_with_one_batch_in_flight_per_group():
    lab, fn = make(fifo=True, runtime_init_ms=0)
    q = SqsQueue(lab.account, "orders.fifo", visibility_timeout_s=30)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=3)
    groups = ["a", "b", "c"]
    bodies = [{"n": i, "g": groups[i % 3], "s": 0.1 + (i * 7 % 5) / 10} for i in range(30)]
    ids = send_all(q, bodies, group=lambda b: b["g"])
    run_until_drained(lab, q, 300)
    assert q.drained
    b = esm.batches
    assert b["group_ids"].apply(lambda g: len(set(g))).max() == 1     # one group per batch
    for g in groups:
        mine = b[b["group_ids"].apply(lambda t, g=g: t[0] == g)].sort_values("opened_s")
        processed = [m for t in mine["message_ids"] for m in t]
        assert processed == [ids[i] for i in range(30) if bodies[i]["g"] == g]
        # the next batch of a group opens only after the previous one finished
        assert (mine["opened_s"].iloc[1:].to_numpy() >= mine["end_s"].iloc[:-1].to_numpy()).all()
    assert esm.concurrency()["batches"].max() <= len(groups)


def test_fifo_concurrency_is_bounded_by_active_groups_and_maximum_concurrency():
    lab, fn = make(fifo=True, runtime_init_ms=0)
    q = SqsQueue(lab.account, "orders.fifo")
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=1, maximum_concurrency=2)
    send_all(q, [{"n": i, "g": i % 4, "s": 1.0} for i in range(16)], group=lambda b: str(b["g"]))
    run_until_drained(lab, q, 100)
    assert esm.concurrency()["batches"].max() == 2
    lab, fn = make(fifo=True, runtime_init_ms=0)
    q = SqsQueue(lab.account, "orders.fifo")
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=1)
    send_all(q, [{"n": i, "g": i % 3, "s": 1.0} for i in range(300)], group=lambda b: str(b["g"]))
    run_until_drained(lab, q, 400)
    assert esm.concurrency()["batches"].max() == 3      # 3 groups, even as the backlog lets pollers grow


def test_fifo_failed_message_blocks_its_group_until_it_succeeds():
    lab, fn = make(fifo=True, partial=True, runtime_init_ms=0)
    q = SqsQueue(lab.account, "orders.fifo", visibility_timeout_s=10)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=10, report_batch_item_failures=True)
    ids = send_all(q, [{"n": 0}, {"n": 1, "fail": 2}, {"n": 2}, {"n": 3}])
    run_until_drained(lab, q, 100)
    b = esm.batches
    assert [len(t) for t in b["returned_ids"]] == [3, 3, 0]
    assert b["opened_s"].round(6).tolist() == [0.0, 10.0, 20.0]
    order = sorted(q.messages.values(), key=lambda m: m.settle_order)
    assert [m.message_id for m in order] == ids


def test_standard_queue_processes_one_entity_concurrently_and_out_of_order_fifo_does_not():
    # Two edits of one document: the first is slow, the second fast (facts sheet 2e; seed article 002).
    edits = [{"n": 1, "doc": "doc-1", "s": 2.0}, {"n": 2, "doc": "doc-1", "s": 0.2}]
    timing = {}
    for name in ("edits", "edits.fifo"):
        lab, fn = make(runtime_init_ms=0)
        q = SqsQueue(lab.account, name)
        esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=1)
        env = lab.account.env
        wl = lk.workload.replay([0.0, 0.1], payloads=edits)
        p = env.process(produce(q, wl, random.Random(1), group_id=lambda e: e["doc"]))
        env.run(until=q.when_drained(after=p))
        b = esm.batches.set_index(esm.batches["message_ids"].apply(lambda t, q=q: q.messages[t[0]].body))
        first, second = (b.loc[json.dumps(e)] for e in edits)
        timing[name] = (first.started_s, first.end_s, second.started_s, second.end_s)
    s1, e1, s2, e2 = timing["edits"]
    assert s2 < e1 and e2 < e1              # standard: edit 2 runs during edit 1 and finishes first
    s1, e1, s2, e2 = timing["edits.fifo"]
    assert s2 >= e1                          # FIFO: edit 2 waits for edit 1


# -- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, parameter", [
    (dict(queue="q.fifo", batch_size=11), "BatchSize"),
    (dict(queue="q.fifo", maximum_batching_window_s=1), "MaximumBatchingWindowInSeconds"),
    (dict(queue="q", batch_size=11), "MaximumBatchingWindowInSeconds"),
    (dict(queue="q", batch_size=10001, maximum_batching_window_s=1), "BatchSize"),
    (dict(queue="q", maximum_batching_window_s=301), "MaximumBatchingWindowInSeconds"),
    (dict(queue="q", maximum_concurrency=1), "ScalingConfig.MaximumConcurrency"),
    (dict(queue="q", maximum_concurrency=1001), "ScalingConfig.MaximumConcurrency"),
    (dict(queue="q", batch_size=0), "BatchSize"),
])
def test_mapping_validation(kwargs, parameter):
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return None\n")
    q = SqsQueue(lab.account, kwargs.pop("queue"))
    with pytest.raises(InvalidParameterValueException) as e:
        SqsEventSourceMapping(lab.account, q, fn, **kwargs)
    assert e.value.parameter == parameter


def test_mapping_allows_large_batches_with_a_window_on_standard_queues():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return None\n")
    esm = SqsEventSourceMapping(lab.account, SqsQueue(lab.account, "q"), fn, batch_size=10000,
                                maximum_batching_window_s=1, maximum_concurrency=2)
    assert esm.slots == 2


def test_function_timeout_must_not_exceed_the_visibility_timeout():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return None\n", timeout_s=60)
    q = SqsQueue(lab.account, "jobs")     # visibility timeout 30 s by default
    with pytest.raises(InvalidParameterValueException) as e:
        SqsEventSourceMapping(lab.account, q, fn)
    assert "30" in str(e.value) and "60" in str(e.value)
    SqsEventSourceMapping(lab.account, SqsQueue(lab.account, "slow", visibility_timeout_s=60), fn)


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(visibility_timeout_s=43201), "VisibilityTimeout"),
    (dict(visibility_timeout_s=-1), "VisibilityTimeout"),
    (dict(message_retention_s=59), "MessageRetentionPeriod"),
    (dict(message_retention_s=1209601), "MessageRetentionPeriod"),
    (dict(fifo=True), "QueueName"),
])
def test_queue_validation(kwargs, parameter):
    lab = lk.Lab(seed=1)
    with pytest.raises(InvalidParameterValueException) as e:
        SqsQueue(lab.account, "jobs", **kwargs)
    assert e.value.parameter == parameter
    with pytest.raises(InvalidParameterValueException):
        RedrivePolicy(DestinationQueue("d"), 0)
    with pytest.raises(InvalidParameterValueException):
        SqsQueue(lab.account, "ok").send_message({"not": "a string"})


def test_queue_metrics_track_visible_in_flight_and_age():
    lab, q, esm = _backlog_run(3000, 20)
    m = q.metrics(1.0)
    assert m["ApproximateNumberOfMessagesVisible"].iloc[0] == 3000 - 50   # 5 batches of 10 taken at once
    assert m["ApproximateNumberOfMessagesNotVisible"].iloc[0] == 50
    assert m["ApproximateAgeOfOldestMessage"].iloc[10] == pytest.approx(10.0)
    assert m["ApproximateNumberOfMessagesVisible"].is_monotonic_decreasing


def test_same_seed_same_records():
    def once():
        lab, q, esm = _backlog_run(500, 30)
        return esm.batches, q.history()
    (b1, h1), (b2, h2) = once(), once()
    pd.testing.assert_frame_equal(b1, b2)
    pd.testing.assert_frame_equal(h1, h2)


# -- property: nothing is lost, FIFO order holds -----------------------------------------------------

@st.composite
def scenarios(draw):
    fifo = draw(st.booleans())
    n = draw(st.integers(1, 25))
    bodies = [{"n": i, "g": draw(st.integers(0, 2)), "s": draw(st.sampled_from([0.0, 0.1, 0.3])),
               "fail": draw(st.sampled_from([0, 0, 0, 1, 2, 10 ** 6]))} for i in range(n)]
    times = sorted(draw(st.lists(st.floats(0, 20), min_size=n, max_size=n)))
    batch_size = draw(st.integers(1, 10 if fifo else 20))
    window = 0 if fifo else draw(st.sampled_from([0, 1, 2]) if batch_size <= 10 else st.sampled_from([1, 2]))
    return dict(fifo=fifo, bodies=bodies, times=times, batch_size=batch_size, window=window,
                partial=draw(st.booleans()), dlq=draw(st.sampled_from([None, "destination", "queue"])),
                max_receive=draw(st.integers(1, 4)), visibility=draw(st.integers(2, 8)),
                retention=draw(st.sampled_from([60, facts.SQS_DEFAULT_RETENTION_S])),
                reserved=draw(st.sampled_from([None, 1, 2])),
                max_concurrency=draw(st.sampled_from([None, 2, 3])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_message_settles_once_or_stays_pending_and_fifo_groups_stay_ordered(sc):
    fifo = sc["fifo"]
    lab = lk.Lab(seed=7)
    fn = lab.function(source=HANDLER.format(partial=sc["partial"], fifo=fifo), timeout_s=1,
                      reserved_concurrency=sc["reserved"])
    suffix = ".fifo" if fifo else ""
    dlq = None
    if sc["dlq"] == "destination":
        dlq = DestinationQueue("dlq")
    elif sc["dlq"] == "queue":
        dlq = SqsQueue(lab.account, "dlq" + suffix)
    redrive = RedrivePolicy(dlq, sc["max_receive"]) if dlq is not None else None
    q = SqsQueue(lab.account, "src" + suffix, visibility_timeout_s=sc["visibility"],
                 message_retention_s=sc["retention"], redrive_policy=redrive)
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=sc["batch_size"],
                                maximum_batching_window_s=sc["window"], maximum_concurrency=sc["max_concurrency"],
                                report_batch_item_failures=sc["partial"])
    env = lab.account.env
    wl = lk.workload.replay(sc["times"], payloads=sc["bodies"])
    producer = env.process(produce(q, wl, random.Random(1), group_id=lambda b: f"g{b['g']}"))
    env.run(until=env.any_of([q.when_drained(after=producer), env.timeout(300)]))

    ids = producer.value
    assert sorted(ids) == sorted(m.message_id for m in q.messages.values())    # every send accepted once
    body = {m.message_id: json.loads(m.body) for m in q.messages.values()}
    counts = q.ledger.counts()
    for mid in ids:
        entry = q.ledger.states[mid]
        state, reason, t = entry.state, entry.reason, entry.time_s
        m = q.messages[mid]
        assert state in FINAL_STATES or state == "pending"
        assert (state == "pending") == (m.state in ("visible", "in_flight"))
        if state == "succeeded":
            assert body[mid]["fail"] < m.receive_count            # the handler did process it
        elif state == "dead_letter_queue":
            assert redrive is not None and m.receive_count == sc["max_receive"]
        elif state == "dropped":
            assert reason == "RetentionExpired" and t == pytest.approx(m.sent_s + sc["retention"])
        else:
            assert state == "pending"
    if isinstance(dlq, DestinationQueue):
        assert len(dlq) == counts.get("dead_letter_queue", 0)
    elif isinstance(dlq, SqsQueue):
        assert len(dlq.messages) == counts.get("dead_letter_queue", 0)
    b = esm.batches
    assert (b["size"] <= sc["batch_size"]).all()
    if sc["max_concurrency"] is not None:
        assert esm.concurrency()["batches"].max() <= sc["max_concurrency"]
    if fifo:
        for g in {m.group_id for m in q.messages.values()}:
            done = sorted((m for m in q.messages.values() if m.group_id == g and q.ledger.state(m.ledger_key)
                           == "succeeded"), key=lambda m: m.settle_order)
            assert [m.seq for m in done] == sorted(m.seq for m in done)
            # One batch in flight per group: the next opens after the last ended, unless retention
            # deleted the last one's messages while it ran (that frees the group at once).
            mine = b[b["group_ids"].apply(lambda t, g=g: t[0] == g)].sort_values("opened_s")
            # Consecutive batches: the second iterator is one shorter.
            for prev, nxt in zip(mine.itertuples(), mine.iloc[1:].itertuples(), strict=False):
                if nxt.opened_s < prev.end_s - 1e-9:
                    for mid in prev.message_ids:
                        state, t = q.ledger.states[mid].state, q.ledger.states[mid].time_s
                        assert state == "dropped" and t <= nxt.opened_s


# -- records by name ---------------------------------------------------------------------------------

def test_every_table_has_its_record_types_columns():
    lab, q, esm = _backlog_run(200, 30)
    tables = {SqsBatchRecord: (esm.batches, esm.records), SqsPollerSample: (esm.concurrency(), esm.samples),
              SqsQueueSample: (q.history(), q.samples), SqsQueueMetrics: (q.metrics(1.0), None),
              SqsMessageState: (q.states(), None)}
    for record_type, (frame, rows) in tables.items():
        assert len(frame) > 0
        assert tuple(frame.columns) == record_type._fields
        assert rows is None or all(type(r) is record_type for r in rows)
    assert BATCH_COLUMNS == SQS_BATCH_COLUMNS == SqsBatchRecord._fields
