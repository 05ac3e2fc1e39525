"""Kinesis data streams and their Lambda event source mapping (facts sheet, sections 2c, 2d and 3).

Each test pins one behaviour: MD5 routing to shards, the per-shard write limits,
sequence numbers, batching, one batch in flight per shard (or per lane with a
ParallelizationFactor), order per partition key, a poison record blocking its
shard, bisection, ReportBatchItemFailures, retention, and a property test over
random configurations.
"""

import base64
import hashlib
import json
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labkit as lk
from labkit import facts
from labkit.errors import InvalidParameterValueException, LambdaError, SimulationError
from labkit.event_sources.destinations import DestinationQueue
from labkit.event_sources.kinesis import (BATCH_COLUMNS, ITERATOR_AGE_COLUMNS, PUT_COLUMNS, RECORD_COLUMNS,
                                          KinesisEventSourceMapping, KinesisStream,
                                          ProvisionedThroughputExceededException, even_hash_ranges)
from labkit.event_sources.ledger import FINAL_STATES, Ledger
from labkit.records import (KINESIS_BATCH_COLUMNS, KINESIS_PUT_COLUMNS, KINESIS_RECORD_COLUMNS, IteratorAgeRecord,
                            KinesisBatchRecord, KinesisPutRecord, KinesisRecordState)

SPACE = 2 ** 128
DAY_S = 24 * 3600

# Decodes every record as AWS handlers do, logs what it saw (in order) and fails on
# records whose data says "poison" (always) or "flaky" (the first time an execution
# environment sees that record). ``sleep`` in the data slows the batch down.
HANDLER = """
import base64, json
import labkit as lk
seen = set()

def handler(event, context):
    pause = 0.0
    for r in event["Records"]:
        k = r["kinesis"]
        body = json.loads(base64.b64decode(k["data"]))
        print("SEEN", k["partitionKey"], k["sequenceNumber"])
        pause = max(pause, body.get("sleep", 0.0))
        if body.get("poison") or (body.get("flaky") and k["sequenceNumber"] not in seen):
            seen.add(k["sequenceNumber"])
            raise ValueError("cannot process " + k["sequenceNumber"])
    lk.sleep(pause or 0.05)
"""

# The same, but it reports the first bad record (and every later bad one) instead of raising.
REPORTING = """
import base64, json
import labkit as lk
seen = set()

def handler(event, context):
    failures = []
    for r in event["Records"]:
        k = r["kinesis"]
        body = json.loads(base64.b64decode(k["data"]))
        if not failures:
            print("SEEN", k["partitionKey"], k["sequenceNumber"])
        if body.get("poison") or (body.get("flaky") and k["sequenceNumber"] not in seen):
            seen.add(k["sequenceNumber"])
            failures.append({"itemIdentifier": k["sequenceNumber"]})
    lk.sleep(0.05)
    # Out of order on purpose: the checkpoint is the lowest sequence number, not the first entry.
    return {"batchItemFailures": failures[::-1]}
"""


def _setup(source=HANDLER, shards=1, seed=1, retention_hours=24, **fn_options):
    lab = lk.Lab(seed=seed)
    fn = lab.function(source=textwrap.dedent(source), runtime_init_ms=0, **fn_options)
    ledger = Ledger()
    stream = KinesisStream(lab.account, ledger, "orders", shards, retention_hours)
    return lab, fn, ledger, stream


def _keys(stream, shard_index, n, prefix="key"):
    """The first ``n`` keys ``prefix-<i>`` that route to shard ``shard_index``."""
    out, i = [], 0
    while len(out) < n:
        k = f"{prefix}-{i}"
        if stream.shard_for(k).index == shard_index:
            out.append(k)
        i += 1
    return out


def _put_at(lab, stream, puts):
    """Put ``(time_s, partition_key, data)`` records at their times (a simpy process)."""
    env = lab.account.env

    def run():
        for t, key, data in sorted(puts, key=lambda p: p[0]):
            if t > env.now:
                yield env.timeout(t - env.now)
            stream.put_record(data, key)

    env.process(run())


def _seen_order(lab, mapping):
    """``[(partition_key, sequence_number), ...]`` in the order the handler first saw them."""
    logs = lab.account.logs
    rows = mapping.batches
    rows = rows[rows["outcome"] != "throttled"].sort_values("invoked_s", kind="stable")
    seen, out = set(), []
    for rid in rows["request_id"]:
        for line in logs.get(rid, []):
            if line.startswith("SEEN "):
                _, key, seq = line.split()
                if seq not in seen:
                    seen.add(seq)
                    out.append((key, seq))
    return out


def _assert_in_order_per_key(order, succeeded=None):
    last = {}
    for key, seq in order:
        if succeeded is not None and seq not in succeeded:
            continue
        assert int(seq) > last.get(key, -1), f"key {key}: {seq} seen after {last[key]}"
        last[key] = int(seq)


def _no_overlap(df):
    df = df[df["outcome"] != "throttled"].sort_values("invoked_s")
    return bool((df["invoked_s"].to_numpy()[1:] >= df["finished_s"].to_numpy()[:-1]).all())


# -- 3. Partition key -> shard -------------------------------------------------------------

def test_partition_keys_route_by_md5_to_the_shard_owning_the_hash():
    lab, fn, ledger, stream = _setup(shards=4)
    step = SPACE // 4
    for key in ("alice", "bob", "file-42", "ünïcödé", "x" * 256):
        h = int(hashlib.md5(key.encode("utf-8")).hexdigest(), 16)
        expected = min(h // step, 3)
        assert stream.shard_for(key).index == expected
        assert stream.put_record(b"payload", key)["ShardId"] == f"shardId-{expected:012d}"
    # The same key always lands on the same shard.
    assert len({stream.put_record(b"x", "alice")["ShardId"] for _ in range(5)}) == 1


def test_explicit_hash_key_overrides_the_partition_key_hash():
    lab, fn, ledger, stream = _setup(shards=4)
    step = SPACE // 4
    assert stream.put_record(b"a", "alice", explicit_hash_key="0")["ShardId"] == "shardId-000000000000"
    assert stream.shard_for("alice", str(step - 1)).index == 0
    assert stream.shard_for("alice", str(step)).index == 1
    assert stream.shard_for("alice", str(3 * step)).index == 3
    assert stream.shard_for("alice", str(SPACE - 1)).index == 3
    for bad in ("01", "-1", str(SPACE), "1e5", 7):
        with pytest.raises(InvalidParameterValueException) as e:
            stream.shard_for("alice", bad)
        assert e.value.parameter == "ExplicitHashKey"
    for bad in ("", "k" * 257, 5):
        with pytest.raises(InvalidParameterValueException) as e:
            stream.put_record(b"x", bad)
        assert e.value.parameter == "PartitionKey"


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 500])
def test_even_ranges_cover_the_key_space_exactly(n):
    ranges = even_hash_ranges(n)
    assert len(ranges) == n
    first, last = ranges[0], ranges[-1]
    assert first.start == 0 and last.end == SPACE - 1
    for prev, nxt in zip(ranges, ranges[1:], strict=False):   # consecutive ranges
        assert nxt.start == prev.end + 1 and prev.start <= prev.end
    step = SPACE // n
    assert all(r.end - r.start + 1 == step for r in ranges[:-1])
    assert last.end - last.start + 1 == step + SPACE % n


def test_two_shard_ranges_match_aws_and_describe_reports_them():
    lab, fn, ledger, stream = _setup(shards=2)
    d = stream.describe()
    assert [s["ShardId"] for s in d["Shards"]] == ["shardId-000000000000", "shardId-000000000001"]
    assert d["Shards"][1]["HashKeyRange"] == {"StartingHashKey": "170141183460469231731687303715884105728",
                                              "EndingHashKey": "340282366920938463463374607431768211455"}
    assert d["RetentionPeriodHours"] == 24
    assert d["StreamARN"] == "arn:aws:kinesis:us-east-1:123456789012:stream/orders"


# -- 3. Per-shard write limits -------------------------------------------------------------

def test_put_record_is_limited_to_1000_records_per_second_per_shard():
    lab, fn, ledger, stream = _setup(shards=2)
    k0 = _keys(stream, 0, 1)[0]
    k1 = _keys(stream, 1, 1)[0]
    for _ in range(facts.KINESIS_SHARD_WRITE_RECORDS_PER_S):
        stream.put_record(b"x", k0)
    with pytest.raises(ProvisionedThroughputExceededException) as e:
        stream.put_record(b"x", k0)
    assert isinstance(e.value, LambdaError) and e.value.status == 400
    assert e.value.code == "ProvisionedThroughputExceededException"
    assert str(e.value) == ("Rate exceeded for shard shardId-000000000000 in stream orders "
                            "under account 123456789012.")
    stream.put_record(b"x", k1)                    # the other shard has its own limit
    lab.advance(0.5)                               # half a second refills half the limit
    for _ in range(500):
        stream.put_record(b"x", k0)
    with pytest.raises(ProvisionedThroughputExceededException):
        stream.put_record(b"x", k0)
    # Rejected puts are visible in the put log but never reach the ledger.
    puts = stream.puts
    assert (puts["outcome"] == "rejected").sum() == 2
    assert len(ledger.states) == (puts["outcome"] == "accepted").sum() == 1501


def test_put_record_is_limited_to_1_mb_per_second_per_shard():
    lab, fn, ledger, stream = _setup()
    blob = b"x" * (100 * 1024)
    for _ in range(10):                            # 10 x 100 KiB (+ key) fit in 1 MiB
        stream.put_record(blob, "k")
    with pytest.raises(ProvisionedThroughputExceededException):
        stream.put_record(blob, "k")
    with pytest.raises(InvalidParameterValueException) as e:
        stream.put_record(b"x" * (facts.KINESIS_MAX_RECORD_BYTES + 1), "k")   # over the record size
    assert e.value.parameter == "Data"
    lab.advance(1.0)                               # a full bucket takes a maximum-size record
    stream.put_record(b"x" * facts.KINESIS_MAX_RECORD_BYTES, "k")
    with pytest.raises(ProvisionedThroughputExceededException):
        stream.put_record(b"x", "k")


def test_put_records_fails_partially_with_per_record_errors():
    lab, fn, ledger, stream = _setup(shards=2)
    k0 = _keys(stream, 0, 1)[0]
    k1 = _keys(stream, 1, 1)[0]
    for _ in range(facts.KINESIS_SHARD_WRITE_RECORDS_PER_S - 1):
        stream.put_record(b"x", k0)
    out = stream.put_records([{"Data": b"a", "PartitionKey": k0},      # the last slot of shard 0
                              {"Data": b"b", "PartitionKey": k0},      # over the limit
                              {"Data": {"n": 1}, "PartitionKey": k1},  # shard 1 is fine
                              {"Data": "d", "PartitionKey": k0}])      # over the limit
    assert out["FailedRecordCount"] == 2
    recs = out["Records"]
    assert [("ErrorCode" in r) for r in recs] == [False, True, False, True]
    assert recs[0]["ShardId"] == "shardId-000000000000" and recs[2]["ShardId"] == "shardId-000000000001"
    assert recs[1]["ErrorCode"] == "ProvisionedThroughputExceededException"
    assert "Rate exceeded for shard shardId-000000000000" in recs[1]["ErrorMessage"]
    assert "SequenceNumber" not in recs[1] and "ErrorCode" not in recs[2]
    assert len(ledger.states) == facts.KINESIS_SHARD_WRITE_RECORDS_PER_S + 1


def test_sequence_numbers_are_digit_strings_increasing_per_shard():
    lab, fn, ledger, stream = _setup(shards=3)
    by_shard = {}
    for i in range(300):
        r = stream.put_record(b"x", f"user-{i % 17}")
        by_shard.setdefault(r["ShardId"], []).append(r["SequenceNumber"])
    assert len(by_shard) == 3
    everything = [s for seqs in by_shard.values() for s in seqs]
    assert len(set(everything)) == len(everything)
    for seqs in by_shard.values():
        assert all(s.isdigit() for s in seqs)
        nums = [int(s) for s in seqs]
        assert nums == sorted(nums) and len(set(nums)) == len(nums)
        assert seqs == sorted(seqs)              # fixed width: strings sort the same way


def test_retention_is_validated():
    lab = lk.Lab(seed=1)
    for bad in (23, 8761, 24.0, True):
        with pytest.raises(InvalidParameterValueException) as e:
            KinesisStream(lab.account, Ledger(), "s", 1, bad)
        assert e.value.parameter == "RetentionPeriodHours"
    KinesisStream(lab.account, Ledger(), "s", 1, 8760)
    with pytest.raises(InvalidParameterValueException):
        KinesisStream(lab.account, Ledger(), "s", 0)


# -- 2d. The event and the mapping's configuration -----------------------------------------

def test_event_has_aws_shape_and_base64_data():
    echo = "def handler(event, context):\n    return event\n"
    lab, fn, ledger, stream = _setup(echo, shards=2)
    m = KinesisEventSourceMapping(stream, fn)
    _put_at(lab, stream, [(0.25, "alice", {"order": 7})])
    lab.account.env.run(until=5)
    resp = [r.response for r in lab.account.records if r.outcome == "success"][0]
    (rec,) = resp["Records"]
    shard = stream.shard_for("alice")
    seq = shard.records[0].sequence_number
    assert rec["eventSource"] == "aws:kinesis" and rec["eventVersion"] == "1.0"
    assert rec["eventName"] == "aws:kinesis:record" and rec["awsRegion"] == "us-east-1"
    assert rec["eventID"] == f"{shard.id}:{seq}"
    assert rec["eventSourceARN"] == stream.arn
    k = rec["kinesis"]
    assert k["kinesisSchemaVersion"] == "1.0" and k["partitionKey"] == "alice" and k["sequenceNumber"] == seq
    assert json.loads(base64.b64decode(k["data"])) == {"order": 7}
    assert k["approximateArrivalTimestamp"] == pytest.approx(lab.account.epoch + 0.25)
    assert ledger.counts() == {"succeeded": 1} and m.drained


@pytest.mark.parametrize("option, bad", [
    ("batch_size", 0), ("batch_size", 10001), ("maximum_batching_window_s", 301),
    ("maximum_batching_window_s", -1), ("parallelization_factor", 0), ("parallelization_factor", 11),
    ("maximum_retry_attempts", -2), ("maximum_retry_attempts", 10001), ("maximum_record_age_s", 59),
    ("maximum_record_age_s", 604801), ("maximum_record_age_s", 0), ("starting_position", "AT_TIMESTAMP"),
    ("bisect_batch_on_function_error", 1), ("on_failure", "my-queue"),
])
def test_mapping_configuration_is_validated(option, bad):
    lab, fn, ledger, stream = _setup()
    with pytest.raises(InvalidParameterValueException):
        KinesisEventSourceMapping(stream, fn, **{option: bad})


def test_mapping_defaults_and_extremes_are_accepted():
    lab, fn, ledger, stream = _setup()
    m = KinesisEventSourceMapping(stream, fn, batch_size=10000, maximum_batching_window_s=300,
                                  parallelization_factor=10, maximum_retry_attempts=10000,
                                  maximum_record_age_s=604800)
    assert m.config.batch_size == 10000
    with pytest.raises(SimulationError):          # one mapping per stream in labkit
        KinesisEventSourceMapping(stream, fn)
    lab2, fn2, ledger2, stream2 = _setup()
    c = KinesisEventSourceMapping(stream2, fn2).config
    assert (c.batch_size, c.maximum_batching_window_s, c.parallelization_factor) == (100, 0, 1)
    assert (c.maximum_retry_attempts, c.maximum_record_age_s) == (-1, -1)


# -- 2c. Batching --------------------------------------------------------------------------

def test_batch_size_splits_the_polled_records_into_back_to_back_batches():
    lab, fn, ledger, stream = _setup()
    m = KinesisEventSourceMapping(stream, fn, batch_size=10)
    _put_at(lab, stream, [(0.5, f"k{i}", {"i": i}) for i in range(35)])
    lab.account.env.run(until=10)
    b = m.batches
    assert list(b["size"]) == [10, 10, 10, 5]
    assert b["invoked_s"].iloc[0] == pytest.approx(1.0)          # the first poll after the puts
    assert (b["invoked_s"].to_numpy()[1:] == b["finished_s"].to_numpy()[:-1]).all()
    assert ledger.counts() == {"succeeded": 35}


def test_batching_window_waits_for_more_records():
    lab, fn, ledger, stream = _setup()
    m = KinesisEventSourceMapping(stream, fn, batch_size=3, maximum_batching_window_s=300)
    _put_at(lab, stream, [(0.5 + i, "k", {"i": i}) for i in range(4)])
    lab.account.env.run(until=400)
    b = m.batches
    # Three records are there at the poll of t=3: the batch is full, no need to wait longer.
    assert b["size"].iloc[0] == 3 and b["invoked_s"].iloc[0] == pytest.approx(3.0)
    # The fourth waits the whole window (it started when the lane found it at t=4).
    assert b["size"].iloc[1] == 1 and b["invoked_s"].iloc[1] == pytest.approx(304.0)


def test_window_of_five_seconds_collects_what_arrives():
    lab, fn, ledger, stream = _setup()
    m = KinesisEventSourceMapping(stream, fn, maximum_batching_window_s=5)
    _put_at(lab, stream, [(0.5 + i, "k", {"i": i}) for i in range(20)])
    lab.account.env.run(until=60)
    b = m.batches
    assert b["invoked_s"].iloc[0] == pytest.approx(6.0)
    assert b["size"].iloc[0] >= 5 and b["size"].sum() == 20


def test_a_batch_never_exceeds_the_6_mb_payload():
    lab, fn, ledger, stream = _setup()
    blob = {"pad": "z" * 600_000}                  # base64 makes each record ~800 KB in the event
    _put_at(lab, stream, [(i * 1.0, f"k{i}", blob) for i in range(10)])
    lab.account.env.run(until=10.5)
    m = KinesisEventSourceMapping(stream, fn, batch_size=100)   # TRIM_HORIZON: reads all 10
    lab.account.env.run(until=20)
    b = m.batches
    assert list(b["size"]) == [7, 3] and ledger.counts() == {"succeeded": 10}
    assert (b["payload_bytes"] <= facts.KINESIS_ESM_BATCH_PAYLOAD_LIMIT_BYTES).all()
    assert b["payload_bytes"].iloc[0] + 800_000 > facts.KINESIS_ESM_BATCH_PAYLOAD_LIMIT_BYTES


def test_latest_starting_position_skips_old_records_which_then_expire():
    lab, fn, ledger, stream = _setup()
    stream.put_record({"old": True}, "k")
    m = KinesisEventSourceMapping(stream, fn, starting_position="LATEST")
    _put_at(lab, stream, [(2.0, "k", {"old": False})])
    lab.account.env.run(until=DAY_S + 10)
    assert ledger.counts() == {"succeeded": 1, "dropped": 1}
    old = stream.shards[0].records[0]
    assert (ledger.states[old.record_id].state, ledger.states[old.record_id].reason) == ("dropped", "RetentionExpired")
    assert m.batches["size"].sum() == 1


# -- 2d. Concurrency per shard and order per key ------------------------------------------

@pytest.mark.parametrize("pf", [1, 4])
def test_one_batch_per_shard_or_lane_and_order_per_partition_key(pf):
    lab, fn, ledger, stream = _setup(shards=3)
    m = KinesisEventSourceMapping(stream, fn, batch_size=5, parallelization_factor=pf)
    puts = [(i * 0.05, f"user-{i % 40}", {"i": i, "sleep": 0.3 + 0.1 * (i % 3)}) for i in range(240)]
    _put_at(lab, stream, puts)
    lab.account.env.run(until=200)
    assert ledger.counts() == {"succeeded": 240}
    b = m.batches
    for shard_id, g in b.groupby("shard_id"):
        if pf == 1:
            assert _no_overlap(g), f"two batches in flight on {shard_id}"
        else:
            assert all(_no_overlap(lane) for _, lane in g.groupby("lane"))
            assert not _no_overlap(g)                 # lanes of one shard do run at once
        assert set(g["lane"]) <= set(range(pf))
    order = _seen_order(lab, m)
    assert len(order) == 240
    _assert_in_order_per_key(order)


# -- 2d. Errors: a poison record blocks its shard ------------------------------------------

def test_poison_record_blocks_its_shard_until_maximum_record_age():
    lab, fn, ledger, stream = _setup(shards=2)
    failures = DestinationQueue("kinesis-failures")
    m = KinesisEventSourceMapping(stream, fn, batch_size=10, maximum_record_age_s=60, on_failure=failures)
    k0, k1 = _keys(stream, 0, 3), _keys(stream, 1, 3)
    puts = [(0.2, k0[0], {"poison": True})]
    puts += [(0.5 + i, k0[i % 3], {"i": i}) for i in range(100)]
    puts += [(0.5 + i, k1[i % 3], {"i": i}) for i in range(100)]
    _put_at(lab, stream, puts)
    lab.account.env.run(until=300)
    age = m.iterator_age
    a0 = age[age["shard_id"] == "shardId-000000000000"]
    a1 = age[age["shard_id"] == "shardId-000000000001"]
    blocked = a0[a0["outcome"] == "error"]["iterator_age_ms"].to_numpy()
    assert len(blocked) > 50 and (blocked[1:] > blocked[:-1]).all()          # climbing
    assert blocked.max() > 55_000
    assert a1["iterator_age_ms"].max() < 2_000                             # the other shard flows
    # Shard 1 finished its records long before shard 0 was unblocked.
    s1 = stream.records
    assert (s1[s1["shard_id"] == "shardId-000000000001"]["state"] == "succeeded").all()
    # The poison batch went to the destination as metadata, with RecordAgeExceeded.
    body = failures.messages[0].body
    assert body["requestContext"]["condition"] == "RecordAgeExceeded"
    assert body["requestContext"]["approximateInvokeCount"] > 50
    info = body["KinesisBatchInfo"]
    poison = stream.shards[0].records[0]
    assert info["shardId"] == "shardId-000000000000"
    assert info["startSequenceNumber"] == poison.sequence_number
    assert info["streamArn"] == stream.arn and info["batchSize"] >= 1
    assert {"approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord", "endSequenceNumber"} <= set(info)
    assert "Records" not in body and "requestPayload" not in body
    assert ((ledger.states[poison.record_id].state, ledger.states[poison.record_id].reason)
            == ("failure_destination", "RecordAgeExceeded"))
    assert failures.messages[0].time_s == pytest.approx(60.2, abs=1.5)
    assert stream.drained and set(ledger.counts()) <= {"succeeded", "failure_destination"}


def test_maximum_retry_attempts_gives_up_after_the_retries():
    lab, fn, ledger, stream = _setup()
    failures = DestinationQueue("f")
    m = KinesisEventSourceMapping(stream, fn, maximum_retry_attempts=3, on_failure=failures)
    _put_at(lab, stream, [(0.5, "a", {"poison": True}), (0.6, "b", {}), (5.0, "c", {})])
    lab.account.env.run(until=60)
    b = m.batches
    first = b[b["batch_id"] == b["batch_id"].iloc[0]]
    assert list(first["retry"]) == [0, 1, 2, 3] and (first["outcome"] == "error").all()
    (msg,) = failures.messages
    assert msg.body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert msg.body["requestContext"]["approximateInvokeCount"] == 4
    assert msg.body["responseContext"]["functionError"] == "Unhandled"
    assert msg.body["KinesisBatchInfo"]["batchSize"] == 2          # "b" shared the batch
    assert ledger.counts() == {"failure_destination": 2, "succeeded": 1}
    # The record behind the blocked batch waited for it.
    assert b["invoked_s"].iloc[-1] > first["finished_s"].max()


def test_without_a_destination_given_up_records_are_dropped_with_the_reason():
    lab, fn, ledger, stream = _setup()
    KinesisEventSourceMapping(stream, fn, maximum_retry_attempts=0)
    _put_at(lab, stream, [(0.5, "a", {"poison": True})])
    lab.account.env.run(until=10)
    (state,) = ledger.states.values()
    assert (state.state, state.reason) == ("dropped", "RetryAttemptsExhausted")


def test_bisect_isolates_the_poison_record_and_a_split_is_not_a_retry():
    lab, fn, ledger, stream = _setup()
    failures = DestinationQueue("f")
    m = KinesisEventSourceMapping(stream, fn, batch_size=8, maximum_retry_attempts=0,
                                  bisect_batch_on_function_error=True, on_failure=failures)
    _put_at(lab, stream, [(0.1 * i, f"k{i}", {"i": i, "poison": i == 5}) for i in range(8)])
    lab.account.env.run(until=30)
    poison = stream.shards[0].records[5]
    (msg,) = failures.messages
    info = msg.body["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison.sequence_number
    assert ledger.counts() == {"succeeded": 7, "failure_destination": 1}
    b = m.batches
    assert b["bisect_depth"].max() == 3                    # 8 -> 4 -> 2 -> 1
    assert (b["retry"] == 0).all()                         # splitting used no retries
    assert list(b[b["bisect_depth"] == 1]["size"]) == [4, 4]


# -- 2d. ReportBatchItemFailures ----------------------------------------------------------

def test_report_batch_item_failures_checkpoints_at_the_lowest_sequence_number():
    lab, fn, ledger, stream = _setup(REPORTING)
    m = KinesisEventSourceMapping(stream, fn, batch_size=10, report_batch_item_failures=True)
    _put_at(lab, stream, [(0.1 * i, "k", {"i": i, "flaky": i in (3, 6)}) for i in range(10)])
    lab.account.env.run(until=30)
    seqs = [r.sequence_number for r in stream.shards[0].records]
    b = m.batches
    assert list(b["outcome"]) == ["partial", "success"]
    assert list(b["size"]) == [10, 7]
    assert b["first_sequence"].iloc[1] == seqs[3]          # records 0-2 were checkpointed
    assert list(b["retry"]) == [0, 1]
    assert ledger.counts() == {"succeeded": 10}


@pytest.mark.parametrize("response, outcome", [
    (None, "success"), ({}, "success"), ({"batchItemFailures": []}, "success"),
    ({"batchItemFailures": None}, "success"),
    ({"batchItemFailures": [{"itemIdentifier": ""}]}, "invalid_response"),
    ({"batchItemFailures": [{"itemIdentifier": None}]}, "invalid_response"),
    ({"batchItemFailures": [{"itemId": "1"}]}, "invalid_response"),
    ({"batchItemFailures": [{"itemIdentifier": "123"}]}, "invalid_response"),   # not in the batch
])
def test_batch_item_failure_responses(response, outcome):
    src = f"def handler(event, context):\n    return {response!r}\n"
    lab, fn, ledger, stream = _setup(src)
    m = KinesisEventSourceMapping(stream, fn, report_batch_item_failures=True, maximum_retry_attempts=0)
    _put_at(lab, stream, [(0.5, "k", b"1"), (0.6, "k", b"2")])
    lab.account.env.run(until=10)
    assert m.batches["outcome"].iloc[0] == outcome
    if outcome == "success":
        assert ledger.counts() == {"succeeded": 2}
    else:
        assert ledger.counts() == {"dropped": 2}


def test_batch_item_failures_are_ignored_unless_turned_on():
    src = "def handler(event, context):\n    return {'batchItemFailures': [{'itemIdentifier': ''}]}\n"
    lab, fn, ledger, stream = _setup(src)
    KinesisEventSourceMapping(stream, fn)
    _put_at(lab, stream, [(0.5, "k", b"1")])
    lab.account.env.run(until=5)
    assert ledger.counts() == {"succeeded": 1}


# -- 2d. Throttles and timeouts -----------------------------------------------------------

def test_throttles_do_not_use_up_retries():
    lab, fn, ledger, stream = _setup(reserved_concurrency=0)
    failures = DestinationQueue("f")
    m = KinesisEventSourceMapping(stream, fn, maximum_retry_attempts=0, maximum_record_age_s=60,
                                  on_failure=failures)
    _put_at(lab, stream, [(0.5, "k", b"1")])
    lab.account.env.run(until=200)
    b = m.batches
    assert len(b) >= 4 and (b["outcome"] == "throttled").all() and (b["retry"] == 0).all()
    gaps = (b["invoked_s"].diff().dropna()).tolist()
    assert gaps[:3] == pytest.approx([1.0, 2.0, 4.0])      # doubling backoff
    (msg,) = failures.messages
    assert msg.body["requestContext"]["condition"] == "RecordAgeExceeded"
    assert msg.body["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in msg.body


def test_a_timeout_is_a_function_error():
    lab, fn, ledger, stream = _setup(timeout_s=1)
    m = KinesisEventSourceMapping(stream, fn, maximum_retry_attempts=1)
    _put_at(lab, stream, [(0.5, "k", {"sleep": 5})])
    lab.account.env.run(until=20)
    assert list(m.batches["outcome"]) == ["timeout", "timeout"]
    (entry,) = ledger.states.values()
    assert (entry.state, entry.reason) == ("dropped", "RetryAttemptsExhausted")


# -- Retention -----------------------------------------------------------------------------

def test_records_nobody_reads_expire_after_retention():
    lab, fn, ledger, stream = _setup(retention_hours=24)
    _put_at(lab, stream, [(float(i), "k", b"x") for i in range(5)])
    lab.account.env.run(until=DAY_S + 2.5)
    assert ledger.counts() == {"dropped": 3, "pending": 2}   # the ones put at 0, 1 and 2 s
    lab.account.env.run(until=DAY_S + 10)
    assert ledger.counts() == {"dropped": 5} and stream.drained
    assert {s.reason for s in ledger.states.values()} == {"RetentionExpired"}


def test_retention_expiry_unblocks_a_shard_stuck_on_a_poison_record():
    lab, fn, ledger, stream = _setup()
    m = KinesisEventSourceMapping(stream, fn, retry_delay_s=600.0)    # infinite retries (default)
    _put_at(lab, stream, [(0.5, "a", {"poison": True}), (10.0, "b", {})])
    lab.account.env.run(until=DAY_S + 700)
    poison, ok = stream.shards[0].records
    assert ((ledger.states[poison.record_id].state, ledger.states[poison.record_id].reason)
            == ("dropped", "RetentionExpired"))
    assert ledger.states[ok.record_id].state == "succeeded"
    assert ledger.states[ok.record_id].time_s > DAY_S           # it waited the whole day
    assert m.iterator_age["iterator_age_ms"].max() > (DAY_S - 700) * 1000


def test_a_record_expiring_during_an_invocation_is_settled_when_it_ends():
    slow_fail = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(1000)\n"
    lab, fn, ledger, stream = _setup(slow_fail, timeout_s=900)
    KinesisEventSourceMapping(stream, fn)
    _put_at(lab, stream, [(0.5, "a", b"x")])
    lab.account.env.run(until=DAY_S + 2000)
    (state,) = ledger.states.values()
    assert (state.state, state.reason) == ("dropped", "RetentionExpired")
    assert state.time_s > DAY_S + 0.5                           # at the end of the running invocation


# -- Producer and drain --------------------------------------------------------------------

def test_producer_records_throttled_puts_as_rejected_and_the_mapping_drains():
    lab, fn, ledger, stream = _setup()
    m = KinesisEventSourceMapping(stream, fn, batch_size=500)
    wl = lk.workload.burst(1500, at_s=1.0, spread_s=0.5, payload=lambda i: {"user": i % 7})
    stream.produce(wl, lambda p: f"user-{p['user']}")
    env = lab.account.env
    env.run(until=2.0)
    done = m.when_drained()
    env.run(until=done)
    puts = stream.puts
    accepted = (puts["outcome"] == "accepted").sum()
    rejected = puts[puts["outcome"] == "rejected"]
    assert accepted + len(rejected) == 1500
    assert 1000 <= accepted < 1500
    assert (rejected["error_code"] == "ProvisionedThroughputExceededException").all()
    assert len(ledger.states) == accepted and ledger.counts() == {"succeeded": accepted}
    assert m.drained and stream.unsettled == 0


def test_producer_refuses_closed_loop_workloads():
    lab, fn, ledger, stream = _setup()
    with pytest.raises(InvalidParameterValueException):
        stream.produce(lk.workload.closed_loop(2, requests_per_client=1), lambda p: "k")


def test_same_seed_same_batches():
    def run():
        lab, fn, ledger, stream = _setup(shards=2, seed=7)
        m = KinesisEventSourceMapping(stream, fn, batch_size=7, parallelization_factor=2)
        stream.produce(lk.workload.poisson(rate_per_s=30, seconds=10, payload=lambda i: {"u": i % 5}),
                       lambda p: f"u{p['u']}")
        lab.account.env.run(until=60)
        return m.batches.to_dict("list")
    assert run() == run()


# -- Property: every record ends in one final state; order per key holds ----------------------

KEYS = [f"key-{i}" for i in range(6)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shards=st.integers(1, 3), batch_size=st.integers(1, 8), pf=st.integers(1, 3),
       bisect=st.booleans(), report=st.booleans(),
       max_retry=st.sampled_from([-1, 0, 1, 3]), max_age=st.sampled_from([-1, 60]),
       poison=st.sets(st.sampled_from(KEYS), max_size=2), flaky=st.sets(st.sampled_from(KEYS), max_size=3),
       reserved=st.sampled_from([None, 1]),
       times=st.lists(st.tuples(st.floats(0, 5, allow_nan=False), st.sampled_from(KEYS)), min_size=1, max_size=40),
       window=st.sampled_from([0, 2]))
def test_property_every_record_settles_once_and_order_holds_per_key(shards, batch_size, pf, bisect, report,
                                                                   max_retry, max_age, poison, flaky, reserved,
                                                                   times, window):
    lab, fn, ledger, stream = _setup(REPORTING if report else HANDLER, shards=shards,
                                     reserved_concurrency=reserved)
    m = KinesisEventSourceMapping(stream, fn, batch_size=batch_size, parallelization_factor=pf,
                                  bisect_batch_on_function_error=bisect, report_batch_item_failures=report,
                                  maximum_retry_attempts=max_retry, maximum_record_age_s=max_age,
                                  maximum_batching_window_s=window, on_failure=DestinationQueue("f"))
    _put_at(lab, stream, [(t, k, {"poison": k in poison, "flaky": k in flaky}) for t, k in times])
    # A Ledger refuses a second settle, so a double settle would raise out of run().
    lab.account.env.run(until=250)
    accepted = {r.record_id: r for s in stream.shards for r in s.records}
    assert set(ledger.states) == set(accepted) and len(accepted) == len(times)
    states = {rid: entry.state for rid, entry in ledger.states.items()}
    assert set(states.values()) <= set(FINAL_STATES) | {"pending"}
    assert sum(v == "pending" for v in states.values()) == stream.unsettled
    for rid, rec in accepted.items():
        if rec.partition_key in poison:
            assert states[rid] != "succeeded"
    # Only a poison record with unlimited retries and age keeps records pending.
    if not (poison and max_retry == -1 and max_age == -1):
        assert stream.drained, ledger.counts()
    if not poison and not flaky and reserved is None:
        assert set(states.values()) == {"succeeded"}
    succeeded = {r.sequence_number for rid, r in accepted.items() if states[rid] == "succeeded"}
    _assert_in_order_per_key(_seen_order(lab, m), succeeded)
    # Never two batches at once in a lane.
    b = m.batches
    for _, g in b.groupby(["shard_id", "lane"]):
        assert _no_overlap(g)


# -- records by name -------------------------------------------------------------------------

def test_every_table_has_its_record_types_columns():
    lab, fn, ledger, stream = _setup(shards=2)
    m = KinesisEventSourceMapping(stream, fn, batch_size=5, parallelization_factor=2)
    _put_at(lab, stream, [(0.1 * i, k, {"i": i}) for i, k in enumerate(_keys(stream, 0, 6) + _keys(stream, 1, 6))])
    lab.account.env.run(until=30)
    tables = {KinesisPutRecord: (stream.puts, stream.put_rows), KinesisRecordState: (stream.records, None),
              KinesisBatchRecord: (m.batches, m.batch_rows), IteratorAgeRecord: (m.iterator_age, m.iterator_age_rows)}
    for record_type, (frame, rows) in tables.items():
        assert len(frame) > 0
        assert tuple(frame.columns) == record_type._fields
        assert rows is None or all(type(r) is record_type for r in rows)
    # The column names each module always exported are the record types' fields.
    assert (PUT_COLUMNS, RECORD_COLUMNS, BATCH_COLUMNS, ITERATOR_AGE_COLUMNS) == (
        KINESIS_PUT_COLUMNS, KINESIS_RECORD_COLUMNS, KINESIS_BATCH_COLUMNS, IteratorAgeRecord._fields)
