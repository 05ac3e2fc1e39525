"""The six DynamoDB operations, each applied to a ``TableState`` at one instant.

``OPERATIONS[name](table, params)`` checks a request's parameters, parses its
expressions, reads and writes the table's items and returns ``(result,
detail)``: ``result`` the response dict (``Item``, ``Attributes``, ``Items``,
``Count``, ...), ``detail`` what a call record keeps (the item read, written or
deleted; for ``Query``/``Scan`` the number of items returned). A refusal raises
``DynamoDBError`` and changes nothing, except the table's counters.

Semantics:

* **Atomic.** Everything a request does happens inside one call, with nothing
  else in between; the backend calls it at the end of the request's latency.
* **Conditions.** ``ConditionExpression`` is checked against the item as it is
  (``{}`` if absent); a false condition changes nothing, counts a conditional
  failure and raises ``ConditionalCheckFailedException``, with the old item if
  ``ReturnValuesOnConditionCheckFailure`` is ``ALL_OLD``.
* **Placeholders** must all be used by the request's expressions, and may only
  be given with an expression, as AWS requires.
* **Query/Scan** visit items in key order (numbers, strings, binaries), Query
  only those matching its ``KeyConditionExpression`` (which must test the
  partition key with ``=``), optionally in reverse. ``ExclusiveStartKey`` and
  ``Limit`` page through them, ``Limit`` counting items *before*
  ``FilterExpression``. A parallel Scan (``Segment``/``TotalSegments``) splits
  items by a stable CRC-32 of the partition key.
* **Reads are strongly consistent** (labkit simplification: no replica lag).
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ... import validation as arguments
from .errors import CONDITIONAL_CHECK_FAILED, MSG_CONDITION_FAILED, DynamoDBError, validation
from .evaluate import apply_update, evaluate, project
from .expressions import ExpressionContext, parse_condition, parse_projection, parse_update
from .nodes import And, BeginsWith, Between, Compare, Condition, Path
from .table import Item, KeyTuple, TableState, key_order

Params = dict[str, Any]
Result = tuple[dict[str, Any], Any]

# -- shared checks ----------------------------------------------------------------------------------


def _context(params: Params, expressions: Iterable[str]) -> ExpressionContext:
    """The request's placeholders; refused if given without any of ``expressions``, or empty."""
    names, values = params.get("ExpressionAttributeNames"), params.get("ExpressionAttributeValues")
    if not any(params.get(e) is not None for e in expressions):
        if values:
            raise validation("ExpressionAttributeValues can only be specified when using expressions")
        if names:
            raise validation("ExpressionAttributeNames can only be specified when using expressions")
    if values is not None and not values:
        raise validation("ExpressionAttributeValues must not be empty")
    return ExpressionContext(names, values)


def _check_return_values(params: Params, allowed: Sequence[str]) -> str:
    """The request's ``ReturnValues`` (one of ``allowed``); also checks
    ``ReturnValuesOnConditionCheckFailure``."""
    rv = params.get("ReturnValues", "NONE")
    if rv not in allowed:
        raise validation(f"ReturnValues can only be {' or '.join(allowed)} for this operation; got {rv!r}")
    on_fail = params.get("ReturnValuesOnConditionCheckFailure", "NONE")
    if on_fail not in ("NONE", "ALL_OLD"):
        raise validation("ReturnValuesOnConditionCheckFailure can only be NONE or ALL_OLD")
    return rv


def _parse_condition(params: Params, ctx: ExpressionContext) -> Condition | None:
    text = params.get("ConditionExpression")
    return parse_condition(text, ctx) if text is not None else None


def _check_condition(table: TableState, cond: Condition | None, current: Item | None, params: Params) -> None:
    """Refuse the request if ``cond`` is false for ``current`` (the item now; None if absent)."""
    if cond is not None and not evaluate(cond, current if current is not None else {}):
        table.conditional_failures += 1
        on_fail = params.get("ReturnValuesOnConditionCheckFailure", "NONE")
        raise DynamoDBError(CONDITIONAL_CHECK_FAILED, MSG_CONDITION_FAILED,
                            item=copy.deepcopy(current) if on_fail == "ALL_OLD" and current else None)


# -- single-item operations -----------------------------------------------------------------------


def get_item(table: TableState, params: Params) -> Result:
    k = table._key_tuple(params["Key"])
    ctx = _context(params, ("ProjectionExpression",))
    proj = params.get("ProjectionExpression")
    paths = parse_projection(proj, ctx) if proj is not None else None
    ctx.check_all_used()
    item = table._items.get(k)
    result = {}
    if item is not None:
        result["Item"] = project(item, paths) if paths is not None else copy.deepcopy(item)
    return result, item


def put_item(table: TableState, params: Params) -> Result:
    item = params["Item"]
    k = table._item_key(item)
    rv = _check_return_values(params, ("NONE", "ALL_OLD"))
    ctx = _context(params, ("ConditionExpression",))
    old = table._items.get(k)
    cond = _parse_condition(params, ctx)
    ctx.check_all_used()
    _check_condition(table, cond, old, params)
    new = copy.deepcopy(item)
    table._items[k] = new
    result = {}
    if rv == "ALL_OLD" and old is not None:
        result["Attributes"] = copy.deepcopy(old)
    return result, new


def update_item(table: TableState, params: Params) -> Result:
    """``UpdateItem``; ``UPDATED_OLD``/``UPDATED_NEW`` return the top-level attributes the update
    expression names (labkit simplification: whole attributes, not only the nested paths)."""
    key = params["Key"]
    k = table._key_tuple(key)
    rv = _check_return_values(params, ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
    ctx = _context(params, ("ConditionExpression", "UpdateExpression"))
    text = params.get("UpdateExpression")
    actions = parse_update(text, ctx) if text is not None else []
    old = table._items.get(k)
    cond = _parse_condition(params, ctx)
    ctx.check_all_used()
    _check_condition(table, cond, old, params)
    new = apply_update(actions, old, dict(key))
    table._items[k] = new
    result = {}
    if rv == "ALL_OLD" and old is not None:
        result["Attributes"] = copy.deepcopy(old)
    elif rv == "ALL_NEW":
        result["Attributes"] = copy.deepcopy(new)
    elif rv in ("UPDATED_OLD", "UPDATED_NEW"):
        src = old if rv == "UPDATED_OLD" else new
        tops = dict.fromkeys(a.path[0] for a in actions)
        attrs = {n: copy.deepcopy(src[n]) for n in tops if src is not None and n in src}
        if attrs:
            result["Attributes"] = attrs
    return result, new


def delete_item(table: TableState, params: Params) -> Result:
    k = table._key_tuple(params["Key"])
    rv = _check_return_values(params, ("NONE", "ALL_OLD"))
    ctx = _context(params, ("ConditionExpression",))
    old = table._items.get(k)
    cond = _parse_condition(params, ctx)
    ctx.check_all_used()
    _check_condition(table, cond, old, params)
    table._items.pop(k, None)
    result = {}
    if rv == "ALL_OLD" and old is not None:
        result["Attributes"] = copy.deepcopy(old)
    return result, old


# -- Query and Scan -------------------------------------------------------------------------------


def _check_key_condition(table: TableState, cond: Condition) -> None:
    """A KeyConditionExpression may only AND together comparisons (not ``<>``), ``BETWEEN`` and
    ``begins_with``, and must compare the partition key with ``=``."""
    hash_key = table.key_schema[0].name

    def has_hash_eq(c: Condition) -> bool:
        if isinstance(c, And):
            return has_hash_eq(c.left) or has_hash_eq(c.right)
        return isinstance(c, Compare) and c.op == "=" and isinstance(c.left, Path) \
            and c.left.elements == (hash_key,)

    def allowed(c: Condition) -> bool:
        if isinstance(c, And):
            return allowed(c.left) and allowed(c.right)
        if isinstance(c, Compare):
            return c.op != "<>"
        return isinstance(c, (Between, BeginsWith))

    if not allowed(cond):
        raise validation("Invalid operator used in KeyConditionExpression: only =, <, <=, >, >=, BETWEEN, "
                         "begins_with and AND are allowed")
    if not has_hash_eq(cond):
        raise validation(f"Query condition missed key schema element: {hash_key}")


def _select(table: TableState, params: Params, candidates: Iterable[KeyTuple],
            kind_filter: str = "FilterExpression") -> Result:
    """Query and Scan over the keys ``candidates``: key condition, order, paging, filter, projection."""
    ctx = _context(params, ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"))
    key_cond = None
    if "KeyConditionExpression" in params:
        key_cond = parse_condition(params["KeyConditionExpression"], ctx, "KeyConditionExpression")
        _check_key_condition(table, key_cond)
    filt = parse_condition(params["FilterExpression"], ctx, kind_filter) \
        if params.get("FilterExpression") is not None else None
    proj = params.get("ProjectionExpression")
    paths = parse_projection(proj, ctx) if proj is not None else None
    ctx.check_all_used()
    items = table._items
    keys = sorted(candidates, key=key_order)
    if key_cond is not None:
        keys = [k for k in keys if evaluate(key_cond, items[k], "KeyConditionExpression")]
        if params.get("ScanIndexForward") is False:
            keys.reverse()
    start = params.get("ExclusiveStartKey")
    if start is not None:
        sk = table._key_tuple(start, "ExclusiveStartKey")
        keys = keys[keys.index(sk) + 1:] if sk in keys else [k for k in keys if key_order(k) > key_order(sk)]
    limit = params.get("Limit")
    last = None
    if limit is not None:
        if not arguments.is_int(limit) or limit < 1:
            raise validation("1 validation error detected: Value at 'limit' failed to satisfy constraint: "
                             "Member must have value greater than or equal to 1")
        if len(keys) > limit:
            keys = keys[:limit]
            last = table.key_of(items[keys[-1]])
    scanned = [items[k] for k in keys]
    out = [it for it in scanned if filt is None or evaluate(filt, it, kind_filter)]
    result = {"Items": [project(it, paths) if paths is not None else copy.deepcopy(it) for it in out],
              "Count": len(out), "ScannedCount": len(scanned)}
    if last is not None:
        result["LastEvaluatedKey"] = copy.deepcopy(last)
    return result, len(out)


def _segment(table: TableState, params: Params) -> list[KeyTuple]:
    """Parallel scan: with ``Segment``/``TotalSegments``, only the keys of that segment.
    DynamoDB splits a table into segments by partition-key hash; labkit uses a stable
    CRC-32 of the partition key, so an item's segment never depends on the process."""
    seg, total = params.get("Segment"), params.get("TotalSegments")
    if seg is None and total is None:
        return list(table._items)
    if total is None:
        raise validation("The TotalSegments parameter is required but was not present in the request "
                         "when Segment parameter is present")
    if seg is None:
        raise validation("The Segment parameter is required but was not present in the request when "
                         "parameter TotalSegments is present")
    for name, v, lo, hi in (("totalSegments", total, 1, 1_000_000), ("segment", seg, 0, 999_999)):
        if not arguments.is_int(v) or not lo <= v <= hi:
            bound = f"greater than or equal to {lo}" if not arguments.is_int(v) or v < lo \
                else f"less than or equal to {hi}"
            raise validation(f"1 validation error detected: Value '{v}' at '{name}' failed to satisfy "
                             f"constraint: Member must have value {bound}")
    if seg >= total:
        raise validation("The Segment parameter is zero-based and must be less than parameter "
                         f"TotalSegments: Segment: {seg} is not less than TotalSegments: {total}")
    # A key tuple holds the key values in key-schema order: the partition key comes first.
    return [k for k in table._items if zlib.crc32(repr(k[0]).encode()) % total == seg]


def query(table: TableState, params: Params) -> Result:
    return _select(table, params, list(table._items))


def scan(table: TableState, params: Params) -> Result:
    return _select(table, params, _segment(table, params))


OPERATIONS: dict[str, Callable[[TableState, Params], Result]] = {
    "GetItem": get_item, "PutItem": put_item, "UpdateItem": update_item,
    "DeleteItem": delete_item, "Query": query, "Scan": scan}
