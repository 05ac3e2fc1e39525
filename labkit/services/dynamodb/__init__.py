"""Simulated DynamoDB: the state model (tables, items, expressions, capacity, counters).

This module knows nothing of boto3's call shapes; ``labkit.services.fake_boto3``
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
"""

import copy
import re
import zlib
from collections import Counter
from decimal import Decimal

from ...errors import InvalidParameterValueException
from ...scaling import TokenBucket
from ..base import CallRecord, Clock, Latency, records_frame, show
from .errors import (
    CONDITIONAL_CHECK_FAILED,
    MSG_CONDITION_FAILED,
    MSG_THROUGHPUT,
    THROUGHPUT_EXCEEDED,
    DynamoDBError,
    validation,
)
from .evaluate import apply_update, evaluate, project
from .expressions import ExpressionContext, parse_condition, parse_projection, parse_update
from .nodes import And, BeginsWith, Between, Compare, Path
from .values import KEY_TYPES, sortable, type_of

# labkit defaults, not AWS figures: DynamoDB answers single-item requests in a few ms.
DEFAULT_LATENCY_S = 0.005
DEFAULT_JITTER_S = 0.0

READS = ("GetItem", "Query", "Scan")
WRITES = ("PutItem", "UpdateItem", "DeleteItem")


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

def _check_key_name(param, v):
    if not isinstance(v, str) or not v:
        raise InvalidParameterValueException(param, v, "an attribute name (a non-empty str)")


class TableState:
    """One table: its items, key schema, capacity buckets, counters and call records.

    ``calls`` counts requests by operation (``GetItem``, ``PutItem``, ...),
    ``conditional_failures`` and ``throttles`` the refused ones. Items are stored
    as immutable snapshots (a write stores a new dict), so a call record can keep
    the item it read or wrote without copying it.
    """

    def __init__(self, name, key="id", *, key_type="S", sort_key=None, sort_key_type="S",
                 read_units_per_s=None, write_units_per_s=None, burst_s=1.0, latency=None, now=0.0):
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", name):
            raise InvalidParameterValueException("TableName", name, "3-255 characters: letters, digits, _ . -")
        _check_key_name("key", key)
        if sort_key is not None:
            _check_key_name("sort_key", sort_key)
        for p, t in (("key_type", key_type), ("sort_key_type", sort_key_type)):
            if t not in KEY_TYPES:
                raise InvalidParameterValueException(p, t, f"one of {KEY_TYPES}")
        for p, u in (("read_units_per_s", read_units_per_s), ("write_units_per_s", write_units_per_s)):
            if u is not None and (isinstance(u, bool) or not isinstance(u, (int, float)) or not u > 0):
                raise InvalidParameterValueException(p, u, "None (on-demand, never throttled) or a number > 0")
        if isinstance(burst_s, bool) or not isinstance(burst_s, (int, float)) or not burst_s > 0:
            raise InvalidParameterValueException("burst_s", burst_s, "a number of seconds > 0")
        self.name = name
        self.key_schema = [(key, key_type)] + ([(sort_key, sort_key_type)] if sort_key else [])
        self.read_units_per_s, self.write_units_per_s = read_units_per_s, write_units_per_s
        self._read_bucket = TokenBucket(max(1.0, read_units_per_s * burst_s), read_units_per_s, now) \
            if read_units_per_s else None
        self._write_bucket = TokenBucket(max(1.0, write_units_per_s * burst_s), write_units_per_s, now) \
            if write_units_per_s else None
        self.latency = latency
        self._items = {}
        self.calls = Counter()
        self.conditional_failures = 0
        self.throttles = 0

    # -- inspection (for notebooks and tests) --------------------------------------------------
    @property
    def key_names(self):
        return [k for k, _ in self.key_schema]

    def items(self):
        """Copies of every item, sorted by key."""
        return [copy.deepcopy(self._items[k]) for k in sorted(self._items, key=_key_sort)]

    def item(self, **key):
        """A copy of one item (``table.sim.item(id="a")``), or None."""
        it = self._items.get(self._key_tuple(key))
        return copy.deepcopy(it)

    def __len__(self):
        return len(self._items)

    def counters(self):
        """Calls by operation, plus conditional failures and throttles."""
        out = {op: self.calls.get(op, 0) for op in READS + WRITES}
        out["conditional_failures"] = self.conditional_failures
        out["throttles"] = self.throttles
        return out

    def __repr__(self):
        return f"<simulated table {self.name}: {len(self._items)} items, key {self.key_names}>"

    # -- keys -----------------------------------------------------------------------------------
    def _key_tuple(self, key, where="key"):
        if not isinstance(key, dict) or len(key) != len(self.key_schema):
            raise validation("The provided key element does not match the schema")
        out = []
        for name, t in self.key_schema:
            if name not in key:
                raise validation("The provided key element does not match the schema")
            v = key[name]
            if type_of(v) != t:
                raise validation("The provided key element does not match the schema")
            if t in ("S", "B") and len(sortable(v)) == 0:
                raise validation("One or more parameter values are not valid. The AttributeValue for a key "
                                 f"attribute cannot contain an empty {'string' if t == 'S' else 'binary'} "
                                 f"value. Key: {name}")
            out.append(sortable(v))
        return tuple(out)

    def _item_key(self, item):
        for name, t in self.key_schema:
            if name not in item:
                raise validation(f"One or more parameter values were invalid: Missing the key {name} in the item")
            if type_of(item[name]) != t:
                raise validation("One or more parameter values were invalid: Type mismatch for key "
                                 f"{name} expected: {t} actual: {type_of(item[name])}")
        return self._key_tuple({k: item[k] for k, _ in self.key_schema})

    def key_of(self, item):
        return {k: item[k] for k, _ in self.key_schema}

    # -- capacity --------------------------------------------------------------------------------
    def take_capacity(self, operation, now):
        bucket = self._read_bucket if operation in READS else self._write_bucket
        if bucket is not None and not bucket.take(now):
            self.throttles += 1
            raise DynamoDBError(THROUGHPUT_EXCEEDED, MSG_THROUGHPUT)

    # -- operations (each applies at one instant) ------------------------------------------------
    def _condition(self, params, ctx, current):
        text = params.get("ConditionExpression")
        if text is None:
            return
        cond = parse_condition(text, ctx)
        ctx.check_all_used()
        if not evaluate(cond, current if current is not None else {}):
            self.conditional_failures += 1
            on_fail = params.get("ReturnValuesOnConditionCheckFailure", "NONE")
            raise DynamoDBError(CONDITIONAL_CHECK_FAILED, MSG_CONDITION_FAILED,
                                item=copy.deepcopy(current) if on_fail == "ALL_OLD" and current else None)

    @staticmethod
    def _check_return_values(params, allowed):
        rv = params.get("ReturnValues", "NONE")
        if rv not in allowed:
            raise validation(f"ReturnValues can only be {' or '.join(allowed)} for this operation; got {rv!r}")
        on_fail = params.get("ReturnValuesOnConditionCheckFailure", "NONE")
        if on_fail not in ("NONE", "ALL_OLD"):
            raise validation("ReturnValuesOnConditionCheckFailure can only be NONE or ALL_OLD")
        return rv

    @staticmethod
    def _context(params, expressions):
        names, values = params.get("ExpressionAttributeNames"), params.get("ExpressionAttributeValues")
        if not any(params.get(e) is not None for e in expressions):
            if values:
                raise validation("ExpressionAttributeValues can only be specified when using expressions")
            if names:
                raise validation("ExpressionAttributeNames can only be specified when using expressions")
        if values is not None and not values:
            raise validation("ExpressionAttributeValues must not be empty")
        return ExpressionContext(names, values)

    def get_item(self, params):
        k = self._key_tuple(params["Key"])
        ctx = self._context(params, ("ProjectionExpression",))
        proj = params.get("ProjectionExpression")
        paths = parse_projection(proj, ctx) if proj is not None else None
        ctx.check_all_used()
        item = self._items.get(k)
        result = {}
        if item is not None:
            result["Item"] = project(item, paths) if paths is not None else copy.deepcopy(item)
        return result, item

    def put_item(self, params):
        item = params["Item"]
        k = self._item_key(item)
        rv = self._check_return_values(params, ("NONE", "ALL_OLD"))
        ctx = self._context(params, ("ConditionExpression",))
        old = self._items.get(k)
        self._condition(params, ctx, old)
        ctx.check_all_used()
        new = copy.deepcopy(item)
        self._items[k] = new
        result = {}
        if rv == "ALL_OLD" and old is not None:
            result["Attributes"] = copy.deepcopy(old)
        return result, new

    def update_item(self, params):
        key = params["Key"]
        k = self._key_tuple(key)
        rv = self._check_return_values(params, ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
        ctx = self._context(params, ("ConditionExpression", "UpdateExpression"))
        text = params.get("UpdateExpression")
        actions = parse_update(text, ctx) if text is not None else []
        old = self._items.get(k)
        cond_text = params.get("ConditionExpression")
        cond = parse_condition(cond_text, ctx) if cond_text is not None else None
        ctx.check_all_used()
        if cond is not None and not evaluate(cond, old if old is not None else {}):
            self.conditional_failures += 1
            on_fail = params.get("ReturnValuesOnConditionCheckFailure", "NONE")
            raise DynamoDBError(CONDITIONAL_CHECK_FAILED, MSG_CONDITION_FAILED,
                                item=copy.deepcopy(old) if on_fail == "ALL_OLD" and old else None)
        new = apply_update(actions, old, dict(key))
        self._items[k] = new
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

    def delete_item(self, params):
        k = self._key_tuple(params["Key"])
        rv = self._check_return_values(params, ("NONE", "ALL_OLD"))
        ctx = self._context(params, ("ConditionExpression",))
        old = self._items.get(k)
        self._condition(params, ctx, old)
        ctx.check_all_used()
        self._items.pop(k, None)
        result = {}
        if rv == "ALL_OLD" and old is not None:
            result["Attributes"] = copy.deepcopy(old)
        return result, old

    def _select(self, params, candidates, kind_filter="FilterExpression"):
        ctx = self._context(params, ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"))
        key_cond = None
        if "KeyConditionExpression" in params:
            key_cond = parse_condition(params["KeyConditionExpression"], ctx, "KeyConditionExpression")
            self._check_key_condition(key_cond)
        filt = parse_condition(params["FilterExpression"], ctx, kind_filter) \
            if params.get("FilterExpression") is not None else None
        proj = params.get("ProjectionExpression")
        paths = parse_projection(proj, ctx) if proj is not None else None
        ctx.check_all_used()
        keys = sorted(candidates, key=_key_sort)
        if key_cond is not None:
            keys = [k for k in keys if evaluate(key_cond, self._items[k], "KeyConditionExpression")]
            if params.get("ScanIndexForward") is False:
                keys.reverse()
        start = params.get("ExclusiveStartKey")
        if start is not None:
            sk = self._key_tuple(start, "ExclusiveStartKey")
            keys = keys[keys.index(sk) + 1:] if sk in keys else [k for k in keys if _key_sort(k) > _key_sort(sk)]
        limit = params.get("Limit")
        last = None
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise validation("1 validation error detected: Value at 'limit' failed to satisfy constraint: "
                                 "Member must have value greater than or equal to 1")
            if len(keys) > limit:
                keys = keys[:limit]
                last = self.key_of(self._items[keys[-1]])
        scanned = [self._items[k] for k in keys]
        out = [it for it in scanned if filt is None or evaluate(filt, it, kind_filter)]
        result = {"Items": [project(it, paths) if paths is not None else copy.deepcopy(it) for it in out],
                  "Count": len(out), "ScannedCount": len(scanned)}
        if last is not None:
            result["LastEvaluatedKey"] = copy.deepcopy(last)
        return result, len(out)

    def _check_key_condition(self, cond):
        hash_key = self.key_schema[0][0]

        def has_hash_eq(c):
            if isinstance(c, And):
                return has_hash_eq(c.left) or has_hash_eq(c.right)
            return isinstance(c, Compare) and c.op == "=" and isinstance(c.left, Path) \
                and c.left.elements == (hash_key,)

        def allowed(c):
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

    def query(self, params):
        return self._select(params, list(self._items))

    def scan(self, params):
        return self._select(params, self._segment(params))

    def _segment(self, params):
        """Parallel scan: with ``Segment``/``TotalSegments``, only the keys of that segment.
        DynamoDB splits a table into segments by partition-key hash; labkit uses a stable
        CRC-32 of the partition key, so an item's segment never depends on the process."""
        seg, total = params.get("Segment"), params.get("TotalSegments")
        if seg is None and total is None:
            return list(self._items)
        if total is None:
            raise validation("The TotalSegments parameter is required but was not present in the request "
                             "when Segment parameter is present")
        if seg is None:
            raise validation("The Segment parameter is required but was not present in the request when "
                             "parameter TotalSegments is present")
        for name, v, lo, hi in (("totalSegments", total, 1, 1_000_000), ("segment", seg, 0, 999_999)):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                bound = f"greater than or equal to {lo}" if not isinstance(v, int) or v < lo \
                    else f"less than or equal to {hi}"
                raise validation(f"1 validation error detected: Value '{v}' at '{name}' failed to satisfy "
                                 f"constraint: Member must have value {bound}")
        if seg >= total:
            raise validation("The Segment parameter is zero-based and must be less than parameter "
                             f"TotalSegments: Segment: {seg} is not less than TotalSegments: {total}")
        return [k for k in self._items if zlib.crc32(repr(k[0]).encode()) % total == seg]

    OPERATIONS = {"GetItem": get_item, "PutItem": put_item, "UpdateItem": update_item,
                  "DeleteItem": delete_item, "Query": query, "Scan": scan}


def _key_sort(k):
    return tuple((0, x) if isinstance(x, Decimal) else (1, x) if isinstance(x, str) else (2, x) for x in k)


class DynamoDBBackend:
    """All simulated tables of one Lab, the latency of their calls, and the call records.

    ``request(operation, table_name, params)`` spends the call's latency (inside
    simulated handler code), then applies the operation at one instant and
    returns ``(result_dict)`` or raises ``DynamoDBError``.
    """

    def __init__(self, account=None, seed=0, latency_s=DEFAULT_LATENCY_S, jitter_s=DEFAULT_JITTER_S):
        self.clock = Clock(account)
        self.seed = seed
        self.default_latency = (latency_s, jitter_s)
        self.tables = {}
        self.records = []
        self._unknown = Latency(latency_s, jitter_s, f"{seed}:dynamodb:<unknown>")

    def create_table(self, name, key="id", *, key_type="S", sort_key=None, sort_key_type="S", items=(),
                     read_units_per_s=None, write_units_per_s=None, burst_s=1.0, latency_s=None, jitter_s=None):
        if name in self.tables:
            raise InvalidParameterValueException("TableName", name, "a name not already used in this Lab")
        lat = Latency(self.default_latency[0] if latency_s is None else latency_s,
                      self.default_latency[1] if jitter_s is None else jitter_s,
                      f"{self.seed}:dynamodb:{name}")
        table = TableState(name, key, key_type=key_type, sort_key=sort_key, sort_key_type=sort_key_type,
                           read_units_per_s=read_units_per_s, write_units_per_s=write_units_per_s,
                           burst_s=burst_s, latency=lat, now=self.clock.now())
        self.tables[name] = table
        return table

    def request(self, operation, table_name, params):
        table = self.tables.get(table_name)
        start = self.clock.now()
        rid = self.clock.spend(table.latency if table is not None else self._unknown)
        now = self.clock.now()
        target = params.get("Key") or (params.get("Item") and table is not None and _safe_key(table, params["Item"]))
        if table is None:
            self._record(start, now, rid, table_name, operation, target, "ResourceNotFoundException", params, None)
            raise DynamoDBError("ResourceNotFoundException", "Requested resource not found")
        table.calls[operation] += 1
        try:
            table.take_capacity(operation, now)
            result, detail = TableState.OPERATIONS[operation](table, params)
        except DynamoDBError as e:
            self._record(start, now, rid, table_name, operation, target, e.code, params, None)
            raise
        self._record(start, now, rid, table_name, operation, target, "ok", params, detail)
        return result

    def _record(self, start, now, rid, table, operation, target, outcome, params, detail):
        self.records.append(CallRecord(start, now, rid, "dynamodb", table, operation, target, outcome,
                                       (params, detail), _describe))

    @property
    def calls(self):
        """Call records of every table as a DataFrame (see ``CallRecord``)."""
        return records_frame(self.records)


def _safe_key(table, item):
    try:
        return table.key_of(item)
    except (KeyError, TypeError):
        return None


def _with_values(text, params):
    """An expression with its placeholders replaced by names and values, for display."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}

    def sub(m):
        tok = m.group(0)
        if tok in names:
            return names[tok]
        if tok in values:
            return show(values[tok], 40)
        return tok
    return re.sub(r"[#:][A-Za-z0-9_]+", sub, text)


def _describe(rec):
    params, detail = rec.detail
    op = rec.operation
    head = f"{op} {rec.resource}" + (f" {show(rec.target, 60)}" if rec.target is not None else "")
    cond = params.get("ConditionExpression")
    if op == "UpdateItem" and params.get("UpdateExpression"):
        head += f": {_with_values(params['UpdateExpression'], params)}"
    elif op == "PutItem":
        head = f"{op} {rec.resource} {show(params.get('Item'))}"
    if cond:
        head += f" IF {_with_values(cond, params)}"
    if rec.outcome != "ok":
        return f"{head} -> refused: {rec.outcome}"
    if op == "GetItem":
        return f"{head} -> {show(detail) if detail is not None else '(no item)'}"
    if op == "UpdateItem":
        return f"{head} -> {show(detail)}"
    if op in ("Query", "Scan"):
        return f"{head} -> {detail} items"
    return head
