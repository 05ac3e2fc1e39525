"""The boto3 call shapes of the simulated DynamoDB (the API layer over ``dynamodb.py``).

Inside simulated handler code, ``import boto3`` gives the module built here
(the Lab registers it in ``Account.module_overrides``), so ordinary AWS code
runs unchanged::

    import boto3
    from botocore.exceptions import ClientError
    table = boto3.resource("dynamodb").Table("accounts")

    def handler(event, context):
        try:
            table.update_item(Key={"id": event["id"]}, UpdateExpression="ADD balance :d",
                              ConditionExpression="balance >= :min",
                              ExpressionAttributeValues={":d": -10, ":min": 10})
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

What matches boto3: method and parameter names (a subset, below), keyword-only
calls, ``boto3.dynamodb.conditions`` objects (``Key``/``Attr``) in
``ConditionExpression``/``KeyConditionExpression``/``FilterExpression``, the
resource layer's number rule (numbers come back as ``Decimal``; a ``float``
raises ``TypeError: Float types are not supported. Use Decimal types
instead.``), the low-level client's wire format (``{"S": "a"}``), and errors:
real ``botocore`` ``ClientError`` subclasses (``table.meta.client.exceptions.
ConditionalCheckFailedException``) with AWS's codes and messages, and
``ParamValidationError`` for unknown or missing parameters.

Supported: ``Table.get_item``, ``put_item``, ``update_item``, ``delete_item``,
``query``, ``scan`` (also a parallel scan: ``Segment``/``TotalSegments``), ``batch_writer()``; the same operations on
``boto3.client("dynamodb")``. A parameter boto3 knows but labkit does not
simulate raises a ``ValidationException`` that says so. Other AWS services are
not simulated: ``boto3.client("s3")`` raises ``SimulationError``.

SDK retries: by default a throttled call raises at once (so it can be seen).
``lab.services.dynamodb_retry = lk.SdkRetry()`` makes the client retry throttles as
botocore does, spending the backoff in simulated time.
"""

import copy
import random
import types
from types import SimpleNamespace

import boto3 as _real_boto3
import boto3.dynamodb.conditions   # noqa: F401  (makes boto3.dynamodb.conditions an attribute)
import boto3.dynamodb.types        # noqa: F401
from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
import botocore.session
from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError

from .. import bridge
from ..errors import SimulationError
from .dynamodb import DynamoDBError
from .fake_lambda import LambdaClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Parameters labkit simulates, per operation (the rest of boto3's are refused by name).
SUPPORTED = {
    "GetItem": ("TableName", "Key", "ProjectionExpression", "ExpressionAttributeNames", "ConsistentRead",
                "ReturnConsumedCapacity"),
    "PutItem": ("TableName", "Item", "ConditionExpression", "ExpressionAttributeNames",
                "ExpressionAttributeValues", "ReturnValues", "ReturnConsumedCapacity",
                "ReturnValuesOnConditionCheckFailure"),
    "UpdateItem": ("TableName", "Key", "UpdateExpression", "ConditionExpression", "ExpressionAttributeNames",
                   "ExpressionAttributeValues", "ReturnValues", "ReturnConsumedCapacity",
                   "ReturnValuesOnConditionCheckFailure"),
    "DeleteItem": ("TableName", "Key", "ConditionExpression", "ExpressionAttributeNames",
                   "ExpressionAttributeValues", "ReturnValues", "ReturnConsumedCapacity",
                   "ReturnValuesOnConditionCheckFailure"),
    "Query": ("TableName", "KeyConditionExpression", "FilterExpression", "ProjectionExpression",
              "ExpressionAttributeNames", "ExpressionAttributeValues", "ScanIndexForward", "ConsistentRead",
              "Limit", "ExclusiveStartKey", "ReturnConsumedCapacity"),
    "Scan": ("TableName", "FilterExpression", "ProjectionExpression", "ExpressionAttributeNames",
             "ExpressionAttributeValues", "ConsistentRead", "Limit", "ExclusiveStartKey", "ReturnConsumedCapacity",
             "Segment", "TotalSegments"),
}
_METHOD = {"GetItem": "get_item", "PutItem": "put_item", "UpdateItem": "update_item",
           "DeleteItem": "delete_item", "Query": "query", "Scan": "scan"}
_RETRYABLE = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")

_model_cache: dict[str, object] = {}


def _service_model():
    """botocore's DynamoDB service model (shipped with botocore; no network)."""
    if "model" not in _model_cache:
        _model_cache["model"] = botocore.session.get_session().get_service_model("dynamodb")
    return _model_cache["model"]


def client_exceptions():
    """botocore's modelled DynamoDB exception classes (``client.exceptions``)."""
    if "exceptions" not in _model_cache:
        _model_cache["exceptions"] = ClientExceptionsFactory().create_client_exceptions(_service_model())
    return _model_cache["exceptions"]


def _client_error(e, operation, request_id, wire):
    response = {"Error": {"Code": e.code, "Message": e.message},
                "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": 400, "RetryAttempts": 0}}
    if e.item is not None:
        response["Item"] = _to_wire(e.item)   # error responses are not transformed by the resource layer
    return client_exceptions().from_code(e.code)(response, operation)


def _to_wire(item):
    return {k: _serializer.serialize(v) for k, v in item.items()}


def _from_wire(param, value):
    if not isinstance(value, dict):
        raise ParamValidationError(report=f"Invalid type for parameter {param}, value: {value!r}, "
                                          f"type: {type(value)}, valid types: <class 'dict'>")
    out = {}
    for k, v in value.items():
        if not isinstance(v, dict) or len(v) != 1:
            raise ParamValidationError(
                report=f"Invalid type for parameter {param}.{k}, value: {v!r}, type: {type(v)}, "
                       "valid types: <class 'dict'> (an AttributeValue such as {'S': 'text'} or {'N': '1'}: "
                       "the low-level client takes DynamoDB's wire format; boto3.resource('dynamodb').Table "
                       "takes plain Python values)")
        try:
            out[k] = _deserializer.deserialize(v)
        except (TypeError, KeyError) as err:
            raise ParamValidationError(report=f"Invalid value for parameter {param}.{k}: {err}") from None
    return out


def _normalise(value):
    """What boto3's resource layer does to a Python value: serialise (raising its TypeError
    for floats and unsupported types) and read back (numbers become Decimal)."""
    return _deserializer.deserialize(_serializer.serialize(value))


class DynamoDBClient:
    """``boto3.client("dynamodb")``: low-level calls in DynamoDB's wire format."""

    def __init__(self, services, region_name="us-east-1"):
        self._services = services
        self.exceptions = client_exceptions()
        self.meta = SimpleNamespace(region_name=region_name, service_model=None,
                                    endpoint_url=f"https://dynamodb.{region_name}.amazonaws.com")
        self._retry_rng = random.Random(f"{services.seed}:dynamodb-sdk-retry")

    def __repr__(self):
        return "<botocore.client.DynamoDB object (labkit simulation)>"

    # -- operations (wire format) --
    def get_item(self, **kwargs):
        return self._call("GetItem", kwargs, wire=True)

    def put_item(self, **kwargs):
        return self._call("PutItem", kwargs, wire=True)

    def update_item(self, **kwargs):
        return self._call("UpdateItem", kwargs, wire=True)

    def delete_item(self, **kwargs):
        return self._call("DeleteItem", kwargs, wire=True)

    def query(self, **kwargs):
        return self._call("Query", kwargs, wire=True)

    def scan(self, **kwargs):
        return self._call("Scan", kwargs, wire=True)

    def can_paginate(self, operation_name):
        return False

    # -- shared path --
    def _call(self, operation, kwargs, wire):
        params = self._check_params(operation, kwargs)
        if wire:
            for p in ("Key", "Item", "ExpressionAttributeValues", "ExclusiveStartKey"):
                if p in params:
                    params[p] = _from_wire(p, params[p])
        backend = self._services.dynamodb
        retry = self._services.dynamodb_retry
        attempt = 1
        while True:
            try:
                result = backend.request(operation, params["TableName"], params)
                break
            except DynamoDBError as e:
                if retry is not None and e.code in _RETRYABLE and attempt < retry.max_attempts \
                        and bridge.current() is not None:
                    bridge.sleep(retry.delay(attempt, self._retry_rng))
                    attempt += 1
                    continue
                err = _client_error(e, operation, self._services.next_request_id(), wire)
                err.response["ResponseMetadata"]["RetryAttempts"] = attempt - 1
                raise err from None
        out = {}
        for k, v in result.items():
            if k in ("Item", "Attributes", "LastEvaluatedKey"):
                out[k] = _to_wire(v) if wire else v
            elif k == "Items":
                out[k] = [_to_wire(i) for i in v] if wire else v
            else:
                out[k] = v
        if params.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = {"TableName": params["TableName"], "CapacityUnits": 1.0}
        out["ResponseMetadata"] = {"RequestId": self._services.next_request_id(), "HTTPStatusCode": 200,
                                   "HTTPHeaders": {"content-type": "application/x-amz-json-1.0"},
                                   "RetryAttempts": attempt - 1}
        return out

    @staticmethod
    def _check_params(operation, kwargs):
        shape = _service_model().operation_model(operation).input_shape
        known = list(shape.members)
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            raise ParamValidationError(report="\n".join(
                f'Unknown parameter in input: "{k}", must be one of: {", ".join(known)}' for k in unknown))
        missing = [k for k in shape.required_members if k not in kwargs]
        if missing:
            raise ParamValidationError(report="\n".join(
                f'Missing required parameter in input: "{k}"' for k in missing))
        unsupported = [k for k in kwargs if k not in SUPPORTED[operation]]
        if unsupported:
            raise ClientError({"Error": {"Code": "ValidationException", "Message":
                               f"labkit's simulated DynamoDB does not support the parameter(s) "
                               f"{', '.join(unsupported)} of {operation}; supported: "
                               f"{', '.join(SUPPORTED[operation])}"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)
        return dict(kwargs)


class Table:
    """``boto3.resource("dynamodb").Table(name)``: Python values in, Python values out.

    labkit extra (not in boto3): ``table.sim`` is the simulated table itself
    (items, counters, call records), for notebooks and checks.
    """

    def __init__(self, name, client):
        self.name = self.table_name = name
        self.meta = SimpleNamespace(client=client)

    def __repr__(self):
        return f"dynamodb.Table(name={self.name!r})"

    def __eq__(self, other):
        return isinstance(other, Table) and other.name == self.name and other.meta.client is self.meta.client

    def __hash__(self):
        return hash(("Table", self.name))

    @property
    def sim(self):
        t = self.meta.client._services.dynamodb.tables.get(self.name)
        if t is None:
            raise SimulationError(f"there is no simulated table named {self.name!r} in this Lab")
        return t

    @property
    def key_schema(self):
        return [{"AttributeName": k, "KeyType": "HASH" if i == 0 else "RANGE"}
                for i, (k, _) in enumerate(self.sim.key_schema)]

    def get_item(self, **kwargs):
        return self._call("GetItem", kwargs)

    def put_item(self, **kwargs):
        return self._call("PutItem", kwargs)

    def update_item(self, **kwargs):
        return self._call("UpdateItem", kwargs)

    def delete_item(self, **kwargs):
        return self._call("DeleteItem", kwargs)

    def query(self, **kwargs):
        return self._call("Query", kwargs)

    def scan(self, **kwargs):
        return self._call("Scan", kwargs)

    def batch_writer(self, overwrite_by_pkeys=None):
        """Like boto3's: collects puts and deletes, sends them when the block ends
        (labkit sends them one by one, each a PutItem/DeleteItem)."""
        return _BatchWriter(self)

    def _call(self, operation, kwargs):
        if "TableName" in kwargs:
            raise ParamValidationError(report='Unknown parameter in input: "TableName" (a Table already '
                                              "knows its name)")
        params = dict(kwargs)
        # boto3.dynamodb.conditions objects -> expression strings, as boto3's resource layer does.
        builder = ConditionExpressionBuilder()
        for p in ("ConditionExpression", "KeyConditionExpression", "FilterExpression"):
            c = params.get(p)
            if isinstance(c, ConditionBase):
                built = builder.build_expression(c, is_key_condition=(p == "KeyConditionExpression"))
                params[p] = built.condition_expression
                if built.attribute_name_placeholders:
                    params.setdefault("ExpressionAttributeNames", {})
                    params["ExpressionAttributeNames"] = {**params["ExpressionAttributeNames"],
                                                          **built.attribute_name_placeholders}
                if built.attribute_value_placeholders:
                    params["ExpressionAttributeValues"] = {**(params.get("ExpressionAttributeValues") or {}),
                                                           **built.attribute_value_placeholders}
        for p in ("Key", "Item", "ExpressionAttributeValues", "ExclusiveStartKey"):
            if p in params:
                v = params[p]
                if not isinstance(v, dict):
                    raise ParamValidationError(report=f"Invalid type for parameter {p}, value: {v!r}, "
                                                      f"type: {type(v)}, valid types: <class 'dict'>")
                params[p] = {k: _normalise(x) for k, x in v.items()}
        params["TableName"] = self.name
        return self.meta.client._call(operation, params, wire=False)


class _BatchWriter:
    def __init__(self, table):
        self._table = table
        self._pending = []

    def put_item(self, Item):
        self._pending.append(("put", copy.deepcopy(Item)))

    def delete_item(self, Key):
        self._pending.append(("delete", copy.deepcopy(Key)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pending, self._pending = self._pending, []
        for kind, arg in pending:
            if kind == "put":
                self._table.put_item(Item=arg)
            else:
                self._table.delete_item(Key=arg)
        return False


class DynamoDBResource:
    """``boto3.resource("dynamodb")``."""

    def __init__(self, services, region_name="us-east-1"):
        self.meta = SimpleNamespace(client=DynamoDBClient(services, region_name), service_name="dynamodb")

    def Table(self, name):   # noqa: N802 (boto3's name)
        return Table(name, self.meta.client)

    def __repr__(self):
        return "dynamodb.ServiceResource()"


def _not_simulated(service_name):
    return SimulationError(
        f"labkit simulates only DynamoDB (and the Lambda client) behind boto3; {service_name!r} is not "
        "simulated, so handler code "
        "cannot call it in the Lab (and no real AWS call is ever made from a simulation)")


class Session:
    """``boto3.Session(...)``: region and credentials are accepted and ignored."""

    def __init__(self, aws_access_key_id=None, aws_secret_access_key=None, aws_session_token=None,
                 region_name=None, botocore_session=None, profile_name=None, **_):
        self.region_name = region_name or "us-east-1"
        self._services = None

    def resource(self, service_name, region_name=None, **_):
        if service_name != "dynamodb":
            raise _not_simulated(service_name)
        return DynamoDBResource(self._services, region_name or self.region_name)

    def client(self, service_name, region_name=None, **_):
        if service_name == "lambda":
            return LambdaClient(self._services, region_name or self.region_name)
        if service_name != "dynamodb":
            raise _not_simulated(service_name)
        return DynamoDBClient(self._services, region_name or self.region_name)


def make_module(services):
    """A ``boto3`` module whose DynamoDB is ``services.dynamodb`` (one per Lab)."""
    m = types.ModuleType("boto3", "boto3 as seen by simulated handler code: DynamoDB is simulated by labkit")
    m.__version__ = _real_boto3.__version__
    m.dynamodb = _real_boto3.dynamodb            # conditions and types are boto3's own
    m.exceptions = _real_boto3.exceptions

    class BoundSession(Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._services = services

    default = BoundSession()
    m.Session = BoundSession
    m.session = types.ModuleType("boto3.session")
    m.session.Session = BoundSession
    m.resource = default.resource
    m.client = default.client
    m.setup_default_session = lambda **kw: None
    m.DEFAULT_SESSION = default
    return m
