"""Simulated services: DynamoDB-style tables (boto3 shapes) and the HTTP reference-data service."""

import urllib.error
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError, ParamValidationError

import labkit as lk
from labkit.errors import InvalidParameterValueException, SimulationError
from labkit.services import DynamoDBBackend, ReferenceService
from labkit.services.base import Clock


def code(e):
    return e.value.response["Error"]["Code"]


@pytest.fixture
def lab():
    return lk.Lab(seed=1)


@pytest.fixture
def table(lab):
    return lab.dynamodb_table("accounts", items=[{"id": "a", "balance": 100}])


# -- conditional writes --------------------------------------------------------------------------

def test_put_if_not_exists_then_conditional_check_failed(table):
    table.put_item(Item={"id": "b", "balance": 1}, ConditionExpression="attribute_not_exists(id)")
    with pytest.raises(ClientError) as e:
        table.put_item(Item={"id": "b", "balance": 2}, ConditionExpression="attribute_not_exists(id)")
    assert code(e) == "ConditionalCheckFailedException"
    assert e.value.response["Error"]["Message"] == "The conditional request failed"
    assert str(e.value) == ("An error occurred (ConditionalCheckFailedException) when calling the PutItem "
                            "operation: The conditional request failed")
    assert isinstance(e.value, table.meta.client.exceptions.ConditionalCheckFailedException)
    assert table.get_item(Key={"id": "b"})["Item"]["balance"] == 1       # unchanged
    assert table.sim.conditional_failures == 1


def test_update_with_condition_and_add(table):
    kw = dict(Key={"id": "a"}, UpdateExpression="ADD balance :d", ConditionExpression="balance >= :min")
    r = table.update_item(**kw, ExpressionAttributeValues={":d": -10, ":min": 10}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"balance": Decimal(90)}
    with pytest.raises(table.meta.client.exceptions.ConditionalCheckFailedException):
        table.update_item(**kw, ExpressionAttributeValues={":d": -10, ":min": 1000})
    assert table.sim.item(id="a")["balance"] == 90
    assert table.sim.counters()["UpdateItem"] == 2 and table.sim.counters()["conditional_failures"] == 1


def test_failed_condition_can_return_the_item(table):
    with pytest.raises(ClientError) as e:
        table.update_item(Key={"id": "a"}, UpdateExpression="SET balance = :v", ConditionExpression="balance = :old",
                          ExpressionAttributeValues={":v": 1, ":old": 5},
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert e.value.response["Item"] == {"id": {"S": "a"}, "balance": {"N": "100"}}


def test_version_check_optimistic_locking(table):
    table.put_item(Item={"id": "v", "version": 1, "x": "old"})
    table.put_item(Item={"id": "v", "version": 2, "x": "new"}, ConditionExpression="version = :seen",
                   ExpressionAttributeValues={":seen": 1})
    with pytest.raises(ClientError) as e:   # a writer that still holds version 1 is refused
        table.put_item(Item={"id": "v", "version": 2, "x": "stale"}, ConditionExpression="version = :seen",
                       ExpressionAttributeValues={":seen": 1})
    assert code(e) == "ConditionalCheckFailedException"
    assert table.sim.item(id="v")["x"] == "new"


def test_delete_with_condition(table):
    with pytest.raises(ClientError):
        table.delete_item(Key={"id": "a"}, ConditionExpression="balance < :z", ExpressionAttributeValues={":z": 0})
    r = table.delete_item(Key={"id": "a"}, ReturnValues="ALL_OLD")
    assert r["Attributes"]["balance"] == 100
    assert "Item" not in table.get_item(Key={"id": "a"})


# -- atomic counters and update expressions ----------------------------------------------------------

def test_add_starts_from_zero_and_creates_the_item(table):
    r = table.update_item(Key={"id": "new"}, UpdateExpression="ADD hits :one",
                          ExpressionAttributeValues={":one": 1}, ReturnValues="ALL_NEW")
    assert r["Attributes"] == {"id": "new", "hits": 1}
    table.update_item(Key={"id": "new"}, UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": 2})
    assert table.sim.item(id="new")["hits"] == 3


def test_set_arithmetic_needs_the_attribute(table):
    table.update_item(Key={"id": "a"}, UpdateExpression="SET balance = balance + :d",
                      ExpressionAttributeValues={":d": 5})
    assert table.sim.item(id="a")["balance"] == 105
    with pytest.raises(ClientError) as e:
        table.update_item(Key={"id": "a"}, UpdateExpression="SET absent = absent + :d",
                          ExpressionAttributeValues={":d": 5})
    assert code(e) == "ValidationException"
    assert "does not exist in the item" in e.value.response["Error"]["Message"]
    table.update_item(Key={"id": "a"}, UpdateExpression="SET n = if_not_exists(n, :zero) + :d",
                      ExpressionAttributeValues={":zero": 0, ":d": 5})
    assert table.sim.item(id="a")["n"] == 5


def test_set_remove_and_rhs_see_the_old_item(table):
    table.update_item(Key={"id": "a"}, UpdateExpression="SET x = :one, y = :two",
                      ExpressionAttributeValues={":one": 1, ":two": 2})
    table.update_item(Key={"id": "a"}, UpdateExpression="SET x = y, y = x REMOVE balance")
    item = table.sim.item(id="a")
    assert (item["x"], item["y"]) == (2, 1) and "balance" not in item


def test_add_and_delete_on_sets_and_list_append(table):
    table.update_item(Key={"id": "a"},
                      UpdateExpression="ADD tags :t SET seen = list_append(if_not_exists(seen, :e), :s)",
                      ExpressionAttributeValues={":t": {"x", "y"}, ":e": [], ":s": ["first"]})
    table.update_item(Key={"id": "a"}, UpdateExpression="DELETE tags :t", ExpressionAttributeValues={":t": {"x"}})
    item = table.sim.item(id="a")
    assert item["tags"] == {"y"} and item["seen"] == ["first"]


@pytest.mark.parametrize("rv,expected", [
    ("NONE", None),
    ("ALL_OLD", {"id": "a", "balance": 100}),
    ("UPDATED_OLD", {"balance": 100}),
    ("ALL_NEW", {"id": "a", "balance": 101, "note": "hi"}),
    ("UPDATED_NEW", {"balance": 101, "note": "hi"}),
])
def test_update_return_values(table, rv, expected):
    r = table.update_item(Key={"id": "a"}, UpdateExpression="ADD balance :d SET note = :n",
                          ExpressionAttributeValues={":d": 1, ":n": "hi"}, ReturnValues=rv)
    assert r.get("Attributes") == expected


def test_put_return_values_and_invalid_return_values(table):
    assert table.put_item(Item={"id": "a", "balance": 1}, ReturnValues="ALL_OLD")["Attributes"]["balance"] == 100
    assert "Attributes" not in table.put_item(Item={"id": "z"}, ReturnValues="ALL_OLD")
    with pytest.raises(ClientError) as e:
        table.put_item(Item={"id": "a"}, ReturnValues="ALL_NEW")
    assert code(e) == "ValidationException"


# -- numbers: boto3's resource rule ------------------------------------------------------------------

def test_numbers_come_back_as_decimal_and_floats_are_refused(table):
    table.put_item(Item={"id": "n", "i": 3, "d": Decimal("1.5")})
    item = table.get_item(Key={"id": "n"})["Item"]
    assert item["i"] == Decimal(3) and isinstance(item["i"], Decimal) and item["d"] == Decimal("1.5")
    with pytest.raises(TypeError, match="^Float types are not supported. Use Decimal types instead.$"):
        table.put_item(Item={"id": "f", "x": 1.5})
    with pytest.raises(TypeError, match="Float types are not supported"):
        table.update_item(Key={"id": "a"}, UpdateExpression="SET x = :v", ExpressionAttributeValues={":v": 0.1})
    assert table.sim.calls["PutItem"] == 1      # the refused calls never left the client


def test_low_level_client_uses_wire_format(lab, table):
    client = lab.services.boto3.client("dynamodb")
    assert client.get_item(TableName="accounts", Key={"id": {"S": "a"}})["Item"] == \
        {"id": {"S": "a"}, "balance": {"N": "100"}}
    with pytest.raises(ParamValidationError):
        client.get_item(TableName="accounts", Key={"id": "a"})
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="missing", Key={"id": {"S": "a"}})


# -- expressions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("cond,values,holds", [
    ("balance > :a AND (balance < :b OR attribute_not_exists(id))", {":a": 50, ":b": 200}, True),
    ("NOT (balance = :a)", {":a": 100}, False),
    ("balance <> :a", {":a": 1}, True),
    ("nothing <> :a", {":a": 1}, True),           # a missing attribute is "not equal"
    ("nothing < :a", {":a": 1}, False),           # ... and never ordered
    ("balance BETWEEN :a AND :b", {":a": 100, ":b": 100}, True),
    ("balance IN (:a, :b)", {":a": 1, ":b": 100}, True),
    ("begins_with(id, :p)", {":p": "a"}, True),
    ("contains(tags, :t)", {":t": "red"}, True),
    ("size(tags) = :n", {":n": 2}, True),
    ("attribute_type(balance, :t)", {":t": "N"}, True),
    ("balance = :s", {":s": "100"}, False),       # a string is never equal to a number
])
def test_condition_expressions(lab, cond, values, holds):
    t = lab.dynamodb_table("things", items=[{"id": "a", "balance": 100, "tags": {"red", "blue"}}])
    try:
        t.put_item(Item={"id": "a", "balance": 100, "tags": {"red", "blue"}}, ConditionExpression=cond,
                   ExpressionAttributeValues=values)
        assert holds
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ConditionalCheckFailedException" and not holds


def test_boto3_condition_objects_and_names(table):
    table.update_item(Key={"id": "a"}, UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                      ConditionExpression=Attr("balance").gte(10) & Attr("id").exists(),
                      ExpressionAttributeValues={":s": "open"})
    assert table.sim.item(id="a")["status"] == "open"
    with pytest.raises(table.meta.client.exceptions.ConditionalCheckFailedException):
        table.delete_item(Key={"id": "a"}, ConditionExpression=Attr("status").eq("closed"))


@pytest.mark.parametrize("expr,values,fragment", [
    ("SET count = count + :d", {":d": 1}, "reserved keyword: count"),
    ("SET #n = :d", {":d": 1}, "attribute name: #n"),
    ("SET a = :zz", {":d": 1}, "attribute value: :zz"),
    ("SET a = :d", {":d": 1, ":extra": 2}, "unused in expressions: keys: {:extra}"),
    ("SET a = :d, a = :d", {":d": 1}, "Two document paths overlap"),
    ("SET a = least(:d, :d)", {":d": 1}, "Invalid function name; function: least"),
    ("SET a = :d SET b = :d", {":d": 1}, 'The "SET" section can only be used once'),
    ("SET a := :d", {":d": 1}, "Syntax error"),
    ("ADD a :s", {":s": "text"}, "operator: ADD, operand type: STRING"),
    ("SET id = :d", {":d": 1}, "Cannot update attribute id"),
])
def test_bad_update_expressions_are_validation_errors(table, expr, values, fragment):
    with pytest.raises(ClientError) as e:
        table.update_item(Key={"id": "a"}, UpdateExpression=expr, ExpressionAttributeValues=values)
    assert code(e) == "ValidationException"
    assert fragment in e.value.response["Error"]["Message"]
    assert table.sim.item(id="a") == {"id": "a", "balance": 100}


def test_key_schema_and_parameters_are_checked(table):
    for bad in ({"id": 1}, {"nope": "a"}, {"id": "a", "extra": "x"}):
        with pytest.raises(ClientError, match="does not match the schema"):
            table.get_item(Key=bad)
    with pytest.raises(ClientError, match="Missing the key id in the item"):
        table.put_item(Item={"balance": 1})
    with pytest.raises(ParamValidationError, match='Unknown parameter in input: "Keys"'):
        table.get_item(Keys={"id": "a"})
    with pytest.raises(ClientError, match="does not support the parameter.*AttributesToGet"):
        table.get_item(Key={"id": "a"}, AttributesToGet=["balance"])
    with pytest.raises(TypeError):
        table.get_item({"id": "a"})      # boto3's methods take keyword arguments only


def test_query_scan_projection_and_pagination(lab):
    t = lab.dynamodb_table("orders", key="customer", sort_key="n", sort_key_type="N",
                           items=[{"customer": c, "n": n, "total": n * 10} for c in ("x", "y") for n in (1, 2, 3)])
    r = t.query(KeyConditionExpression=Key("customer").eq("x") & Key("n").gte(2), ScanIndexForward=False)
    assert [i["n"] for i in r["Items"]] == [3, 2]
    r = t.scan(FilterExpression=Attr("total").gt(15), ProjectionExpression="customer, n")
    assert r["Count"] == 4 and r["ScannedCount"] == 6 and r["Items"][0] == {"customer": "x", "n": 2}
    seen, kw = [], {"Limit": 4}
    while True:
        page = t.scan(**kw)
        seen += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert len(seen) == 6
    with pytest.raises(ClientError, match="missed key schema element: customer"):
        t.query(KeyConditionExpression=Key("n").eq(1))


# -- capacity ----------------------------------------------------------------------------------

def test_write_capacity_throttles_and_refills(lab):
    t = lab.dynamodb_table("slow", write_units_per_s=2)
    t.put_item(Item={"id": "1"})
    t.put_item(Item={"id": "2"})
    with pytest.raises(ClientError) as e:
        t.put_item(Item={"id": "3"})
    assert code(e) == "ProvisionedThroughputExceededException"
    assert isinstance(e.value, t.meta.client.exceptions.ProvisionedThroughputExceededException)
    assert t.sim.throttles == 1 and len(t.sim) == 2
    lab.advance(0.5)                       # one unit back
    t.put_item(Item={"id": "3"})
    assert t.get_item(Key={"id": "3"})["Item"] == {"id": "3"}   # reads have no limit here


WRITER = '''
import boto3
from botocore.exceptions import ClientError
table = boto3.resource("dynamodb").Table("slow")

def handler(event, context):
    try:
        r = table.put_item(Item={"id": str(event["n"])})
        return r["ResponseMetadata"]["RetryAttempts"]
    except ClientError as e:
        return e.response["Error"]["Code"]
'''


def test_capacity_inside_a_simulation_and_sdk_retries():
    lab = lk.Lab(seed=3)
    t = lab.dynamodb_table("slow", write_units_per_s=5)
    run = lab.invoke(lab.function(source=WRITER), lk.workload.parallel(8))
    responses = list(run.invocations["response"])
    assert responses.count("ProvisionedThroughputExceededException") == 3 and t.sim.throttles == 3

    lab = lk.Lab(seed=3)
    lab.services.dynamodb_retry = lk.SdkRetry(max_attempts=5, base_s=0.5)
    t = lab.dynamodb_table("slow", write_units_per_s=5)
    run = lab.invoke(lab.function(source=WRITER), lk.workload.parallel(8))
    responses = list(run.invocations["response"])
    assert len(t.sim) == 8 and sum(responses) >= 3       # every write landed, some after retries


# -- timing: latency, one atomic instant, outside a simulation --------------------------------------

TIMED = '''
import boto3, time
table = boto3.resource("dynamodb").Table("accounts")

def handler(event, context):
    t0 = time.monotonic()
    table.get_item(Key={"id": "a"})
    table.update_item(Key={"id": "a"}, UpdateExpression="ADD balance :d", ExpressionAttributeValues={":d": 1})
    return round(time.monotonic() - t0, 6)
'''


def test_each_call_spends_latency_and_applies_at_its_end():
    lab = lk.Lab(seed=1)
    t = lab.dynamodb_table("accounts", items=[{"id": "a", "balance": 0}], latency_s=0.02)
    run = lab.invoke(lab.function(source=TIMED, runtime_init_ms=0), lk.workload.sequential(1))
    assert run.invocations["response"][0] == pytest.approx(0.04)
    recs = lab.services.records()
    assert [(r.operation, r.start_s, r.time_s) for r in recs] == [("GetItem", 0.0, 0.02), ("UpdateItem", 0.02, 0.04)]
    assert recs[0].request_id == run.invocations["request_id"][0]
    # Outside a simulation: no time passes, and the record has no caller.
    t.put_item(Item={"id": "b"})
    assert lab.now == pytest.approx(0.04) and lab.services.records()[-1].request_id is None


def test_jitter_is_seeded():
    def durations(seed):
        lab = lk.Lab(seed=seed)
        lab.dynamodb_table("accounts", items=[{"id": "a", "balance": 0}], latency_s=0.005, jitter_s=0.01)
        run = lab.invoke(lab.function(source=TIMED), lk.workload.parallel(5))
        return list(run.invocations["response"])
    assert durations(7) == durations(7)
    assert durations(7) != durations(8)


# -- the lost update, deterministic, and its two fixes ---------------------------------------------

READ_MODIFY_WRITE = '''
import boto3
import labkit as lk
table = boto3.resource("dynamodb").Table("counters")

def handler(event, context):
    item = table.get_item(Key={"id": "page"})["Item"]
    lk.sleep(0.01)
    table.put_item(Item={"id": "page", "hits": item["hits"] + 1})
'''

ATOMIC_ADD = '''
import boto3
import labkit as lk
table = boto3.resource("dynamodb").Table("counters")

def handler(event, context):
    lk.sleep(0.01)
    table.update_item(Key={"id": "page"}, UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": 1})
'''

CONDITIONAL_RETRY = '''
import boto3
import labkit as lk
from botocore.exceptions import ClientError
table = boto3.resource("dynamodb").Table("counters")

def handler(event, context):
    while True:
        item = table.get_item(Key={"id": "page"})["Item"]
        lk.sleep(0.01)
        try:
            table.put_item(Item={"id": "page", "hits": item["hits"] + 1},
                           ConditionExpression="hits = :seen", ExpressionAttributeValues={":seen": item["hits"]})
            return
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
'''


def count_hits(source, seed=1):
    lab = lk.Lab(seed=seed)
    t = lab.dynamodb_table("counters", items=[{"id": "page", "hits": 0}], jitter_s=0.005)
    run = lab.invoke(lab.function(source=source), lk.workload.closed_loop(clients=10, requests_per_client=10))
    assert run.summary()["succeeded"] == 100
    return int(t.sim.item(id="page")["hits"]), t.sim


def test_read_modify_write_loses_updates_deterministically():
    hits, sim = count_hits(READ_MODIFY_WRITE)
    assert hits == 11                     # 100 calls, 89 increments lost
    assert count_hits(READ_MODIFY_WRITE)[0] == 11
    assert sim.counters()["GetItem"] == 100 and sim.counters()["PutItem"] == 100


def test_atomic_add_loses_nothing():
    assert count_hits(ATOMIC_ADD)[0] == 100


def test_conditional_write_with_retry_loses_nothing():
    hits, sim = count_hits(CONDITIONAL_RETRY)
    assert hits == 100 and sim.conditional_failures > 0


# -- handler code: imports, isolation -------------------------------------------------------------

def test_handler_imports_and_unsimulated_services():
    src = '''
import boto3
import boto3.dynamodb.conditions
from boto3.dynamodb.conditions import Attr
from boto3.session import Session

def handler(event, context):
    table = Session().resource("dynamodb", region_name="eu-west-1").Table("accounts")
    table.put_item(Item={"id": "z"}, ConditionExpression=Attr("id").not_exists())
    try:
        boto3.client("s3")
    except Exception as e:
        return type(e).__name__
'''
    lab = lk.Lab(seed=1)
    t = lab.dynamodb_table("accounts")
    run = lab.invoke(lab.function(source=src), lk.workload.sequential(1))
    assert run.invocations["response"][0] == "SimulationError"
    assert t.sim.item(id="z") == {"id": "z"}


def test_a_table_of_another_lab_is_refused():
    import types
    other = lk.Lab(seed=1)
    foreign = other.dynamodb_table("accounts")
    lab = lk.Lab(seed=1)
    lab.dynamodb_table("accounts")
    lab.account.module_overrides["foreign_tables"] = types.SimpleNamespace(table=foreign)
    src = ("import foreign_tables\n"
           "def handler(event, context):\n"
           "    return foreign_tables.table.get_item(Key={'id': 'a'})\n")
    run = lab.invoke(lab.function(source=src), lk.workload.sequential(1))
    assert run.invocations["error_type"][0] == "SimulationError"
    assert "belongs to another Lab" in run.invocations["error_message"][0]
    with pytest.raises(InvalidParameterValueException):
        lab.dynamodb_table("accounts")        # one table per name and Lab


def test_bad_table_options():
    lab = lk.Lab(seed=1)
    with pytest.raises(InvalidParameterValueException):
        lab.dynamodb_table("ab")
    with pytest.raises(InvalidParameterValueException):
        lab.dynamodb_table("accounts", write_units_per_s=0)
    with pytest.raises(InvalidParameterValueException):
        lab.dynamodb_table("accounts", latency_s=-1)


def test_state_model_works_without_a_lab():
    backend = DynamoDBBackend()
    backend.create_table("plain")
    backend.request("PutItem", "plain", {"Item": {"id": "a", "n": Decimal(1)}})
    assert backend.request("GetItem", "plain", {"Key": {"id": "a"}})["Item"] == {"id": "a", "n": 1}


# -- the reference-data service ----------------------------------------------------------------------

FETCH = '''
import json
import urllib.request
from urllib.error import HTTPError

def handler(event, context):
    try:
        with urllib.request.urlopen("https://rates.internal/EUR") as r:
            body = json.loads(r.read())
            return [r.status, body["value"], body["version"]]
    except HTTPError as e:
        return [e.code, e.headers["Retry-After"], None]
'''


def test_reference_service_rate_limit_answers_429_and_counts():
    lab = lk.Lab(seed=1)
    rates = lab.reference_service("rates", data={"EUR": "1.08"}, rps_limit=5, latency_s=0.03)
    run = lab.invoke(lab.function(source=FETCH), lk.workload.parallel(8))
    statuses = sorted(status for status, _, _ in run.invocations["response"])
    assert statuses == [200] * 5 + [429] * 3
    assert ["1", None] in [[retry_after, version] for _, retry_after, version in run.invocations["response"]]
    assert rates.counters() == {"calls": 8, "refusals": 3, "not_found": 0}
    assert run.invocations["duration_ms"].min() == pytest.approx(30.0)
    lab.advance(1.0)   # the bucket refills: a second later all are served again
    run = lab.invoke(lab.function(source=FETCH, name="again"), lk.workload.parallel(5))
    assert all(status == 200 for status, _, _ in run.invocations["response"])


def test_reference_data_versions_change_over_time():
    lab = lk.Lab(seed=1)
    rates = lab.reference_service("rates", data=lambda v: {"EUR": str(1 + v / 100)}, version_every_s=60)
    assert rates.get("/EUR")["value"] == "1.01"
    lab.advance(61)
    body = rates.get("/")
    assert body["version"] == 2 and body["data"] == {"EUR": "1.02"} and body["as_of"] == "2026-01-01T00:01:00.000Z"

    fixed = lab.reference_service("prices", data={"tea": 3})
    fixed.publish({"tea": 4})
    assert fixed.get("tea") == {"key": "tea", "value": 4, "version": 2, "as_of": "2026-01-01T00:01:01.000Z"}


def test_reference_service_errors_and_no_network():
    lab = lk.Lab(seed=1)
    rates = lab.reference_service("rates", data={"EUR": "1.08"})
    with pytest.raises(urllib.error.HTTPError) as e:
        rates.get("/GBP")
    assert e.value.code == 404 and rates.not_found == 1
    src = ('import urllib.request\n'
           'def handler(event, context):\n'
           '    try:\n'
           '        urllib.request.urlopen("https://example.com/")\n'
           '    except Exception as e:\n'
           '        return str(e)\n')
    run = lab.invoke(lab.function(source=src), lk.workload.sequential(1))
    assert "no network in the simulator" in run.invocations["response"][0]
    assert "https://rates.internal" in run.invocations["response"][0]
    with pytest.raises(InvalidParameterValueException):
        ReferenceService("rates", data=[1, 2])
    with pytest.raises(SimulationError):
        lab.reference_service("ticker", data={"a": 1}, version_every_s=5).publish({"a": 2})


def test_service_calls_are_numbered_per_lab_in_the_order_they_were_made():
    lab = lk.Lab(seed=1)
    a = lab.reference_service("a", data={"k": 1})
    b = lab.reference_service("b", data={"k": 2}, url="https://b.internal/v1")
    for svc in (a, b, b, a):
        svc.get("/k")                             # from a notebook: every call at the same instant
    recs = lab.services.records()
    assert {r.time_s for r in recs} == {0.0}
    assert [r.resource for r in recs] == ["a", "b", "b", "a"] and [r.seq for r in recs] == [0, 1, 2, 3]
    other = lk.Lab(seed=1)                         # another Lab numbers its own calls, from 0
    other.reference_service("a", data={"k": 1}).get("/k")
    assert [r.seq for r in other.services.records()] == [0]
    a.get("/k")
    assert lab.services.records()[-1].seq == 4     # ... whatever other Labs did in between
    clock = Clock()                                # a clock without a Lab has a counter of its own
    assert [clock.next_seq(), clock.next_seq(), Clock().next_seq()] == [0, 1, 0]
    assert Clock(lab.account).next_seq() == 5      # every clock of one Lab shares its counter
