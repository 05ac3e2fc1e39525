"""Responses are serialised as AWS's Python runtime serialises them (labkit.marshaller)."""

import collections
import decimal
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import labkit as lk
from labkit.marshaller import MarshalError, marshal_response

NT = collections.namedtuple("NT", "a b")


class AsDict:
    def _asdict(self):
        return {"z": 1}


SAME_AS_AWS = [
    decimal.Decimal("1.50"), decimal.Decimal("1E+2"), decimal.Decimal("NaN"), decimal.Decimal("-Infinity"),
    decimal.Decimal("123456789012345678901234567890"), {"a": decimal.Decimal("0.1")}, NT(1, 2), [NT(1, 2)],
    {"k": NT(1, 2)}, {"b": b"hi"}, {b"k": 1}, {1.5: 1, True: 2, None: 3, 7: 4, math.inf: 5}, (1, 2), "é",
    {"items": [{"id": "a", "n": decimal.Decimal("3")}]}, AsDict(), [], {}, 1.25,
]
REFUSED_LIKE_AWS = [{decimal.Decimal(1): 1}, {(1, 2): 3}, {1, 2}, {"a": {"s": {1}}}, [1, object()], {"x": b"\xff"},
                    range(3)]


def _aws():
    marshaller = pytest.importorskip("awslambdaric.lambda_runtime_marshaller")
    return marshaller.LambdaMarshaller()


def _nan_safe(v):
    return json.dumps(v, sort_keys=True)   # NaN == NaN as text


@pytest.mark.parametrize("value", SAME_AS_AWS, ids=repr)
def test_the_caller_gets_what_the_aws_runtime_sends(value):
    sent, content_type = _aws().marshal_response(value)
    assert content_type == "application/json"
    assert _nan_safe(marshal_response(value)) == _nan_safe(json.loads(sent))


@pytest.mark.parametrize("value", REFUSED_LIKE_AWS, ids=repr)
def test_unserialisable_values_fail_with_the_runtimes_message(value):
    with pytest.raises(Exception) as aws:
        _aws().marshal_response(value)
    with pytest.raises(MarshalError) as ours:
        marshal_response(value)
    assert f"Unable to marshal response: {ours.value}" == aws.value.msg


def test_bytes_are_sent_as_they_are():
    assert _aws().marshal_response(b"\x00raw") == (b"\x00raw", "application/unknown")
    assert marshal_response(b"\x00raw") == b"\x00raw"


def test_circular_values_are_refused():
    a = {}
    a["a"] = a
    with pytest.raises(MarshalError, match="Circular reference detected"):
        marshal_response(a)
    shared = [1]
    assert marshal_response({"x": shared, "y": shared}) == {"x": [1], "y": [1]}   # shared, not circular


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    | st.tuples(children, children),
    max_leaves=20)


@given(json_values)
def test_any_json_like_value_matches_the_runtime(value):
    sent, _ = _aws().marshal_response(value)
    assert _nan_safe(marshal_response(value)) == _nan_safe(json.loads(sent))


SRC = '''import decimal, collections
Point = collections.namedtuple("Point", "x y")
def handler(event, context):
    kind = event["kind"]
    if kind == "item":          # what a DynamoDB get_item gives
        return {"id": "a", "balance": decimal.Decimal("10.50"), "n": decimal.Decimal("3")}
    if kind == "point":
        return Point(1, 2)
    if kind == "bytes":
        return b"raw"
    return {"tags": {"a", "b"}}
'''


def test_a_handler_returning_a_dynamodb_item_succeeds_through_a_lab():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC)
    inv = lab.invoke(fn, [{"kind": k} for k in ("item", "point", "bytes", "set")]).invocations
    assert inv["outcome"].tolist() == ["success", "success", "success", "error"]
    assert inv["response"][0] == {"id": "a", "balance": 10.5, "n": 3}
    assert inv["response"][1] == {"x": 1, "y": 2}
    assert inv["response"][2] == b"raw"
    assert inv["error_type"][3] == "Runtime.MarshalError"
    assert inv["error_message"][3] == "Unable to marshal response: Object of type set is not JSON serializable"
