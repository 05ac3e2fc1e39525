"""Simulated DynamoDB: the state model (tables, items, expressions, capacity, counters).

This package knows nothing of boto3's call shapes; ``labkit.services.fake_boto3``
turns ``Table.update_item(Key=..., ...)`` into a request here and errors raised
here (``DynamoDBError``) into botocore ``ClientError``\\ s. Values arriving here
are already normalised as boto3's resource layer does it: numbers are
``decimal.Decimal``, binary is ``boto3.dynamodb.types.Binary``, sets are ``set``.

Semantics (each pinned by ``tests/test_services.py``):

* **Atomic at one instant.** A request applies all of its effects (condition
  check, update, return values) at once, at the end of its latency
  (``labkit.services.base``). Nothing else runs in between.
* **Conditions.** ``ConditionExpression`` is checked against the item as it is
  at that instant; a false condition changes nothing and raises
  ``ConditionalCheckFailedException`` ("The conditional request failed"). It
  still consumes write capacity, as on AWS.
* **Updates** evaluate every right-hand side against the item *before* the
  update; ``update_item`` on a missing item creates it. ``ADD`` on a missing
  number starts from 0; ``SET a = a + :d`` on a missing ``a`` is an error.
* **Expressions** supported: ``SET`` (``=``, ``+``, ``-``, ``if_not_exists``,
  ``list_append``), ``REMOVE``, ``ADD``, ``DELETE``; conditions with
  ``= <> < <= > >=``, ``BETWEEN``, ``IN``, ``AND``/``OR``/``NOT``,
  parentheses, ``attribute_exists``, ``attribute_not_exists``,
  ``attribute_type``, ``begins_with``, ``contains`` and ``size``; document
  paths (``a.b[0]``) and ``#name``/``:value`` placeholders. DynamoDB's reserved
  words are refused as bare names, and unused placeholders are refused, as AWS
  does. Anything else raises a ``ValidationException`` naming it.
* **Capacity** (optional): ``read_units_per_s`` / ``write_units_per_s`` are
  token buckets (``labkit.scaling.TokenBucket``) holding ``burst_s`` seconds
  of units. labkit simplification: every request costs one unit whatever the
  item size, and eventually consistent reads cost the same as strong ones.
  An empty bucket raises ``ProvisionedThroughputExceededException``.
* **Reads are strongly consistent** (labkit simplification: no replica lag).

Modules, one concept each; each imports only from those listed before it:

    reserved     DynamoDB's reserved words
    errors       DynamoDBError, validation(), error codes and messages
    values       type codes, MISSING, document paths (get/set/remove), number arithmetic
    nodes        the syntax tree of expressions (NamedTuple nodes)
    expressions  tokenizer and parser: expression text -> nodes
    evaluate     conditions, updates and projections applied to items
    table        TableState: key schema, items, capacity, counters
    operations   GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan on a TableState
    backend      DynamoDBBackend: the tables of one Lab, latency, call records
"""

from .backend import DEFAULT_JITTER_S, DEFAULT_LATENCY_S, CallDetail, DynamoDBBackend
from .errors import CONDITIONAL_CHECK_FAILED, THROUGHPUT_EXCEEDED, DynamoDBError, validation
from .table import TableState

__all__ = ["DynamoDBBackend", "TableState", "DynamoDBError", "CallDetail", "validation", "DEFAULT_LATENCY_S",
           "DEFAULT_JITTER_S", "CONDITIONAL_CHECK_FAILED", "THROUGHPUT_EXCEEDED"]
