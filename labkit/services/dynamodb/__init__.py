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

from boto3.dynamodb.types import Binary

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
from .reserved import RESERVED_WORDS
from .values import (
    KEY_TYPES,
    MISSING,
    TYPE_NAMES,
    arithmetic,
    get_path,
    path_text,
    remove_path,
    set_path,
    sortable,
    type_of,
)

# labkit defaults, not AWS figures: DynamoDB answers single-item requests in a few ms.
DEFAULT_LATENCY_S = 0.005
DEFAULT_JITTER_S = 0.0

READS = ("GetItem", "Query", "Scan")
WRITES = ("PutItem", "UpdateItem", "DeleteItem")


# ---------------------------------------------------------------------------------------------
# Expressions: tokenizer, parser (to tuples), evaluator
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<name>\#[A-Za-z0-9_]+)
  | (?P<value>:[A-Za-z0-9_]+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9]+)
  | (?P<op><>|<=|>=|=|<|>|\(|\)|,|\.|\[|\]|\+|-)
)""", re.X)

_COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
_CONDITION_FUNCTIONS = ("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with",
                        "contains", "size")
_UPDATE_FUNCTIONS = ("if_not_exists", "list_append")
_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
_EOF = ("eof", "<EOF>", None)


class ExpressionContext:
    """ExpressionAttributeNames/Values of one request, and which of them were used."""

    def __init__(self, names=None, values=None):
        self.names = dict(names or {})
        self.values = dict(values or {})
        self.used_names, self.used_values = set(), set()

    def check_all_used(self):
        unused = sorted(set(self.values) - self.used_values)
        if unused:
            raise validation("Value provided in ExpressionAttributeValues unused in expressions: "
                             f"keys: {{{', '.join(unused)}}}")
        unused = sorted(set(self.names) - self.used_names)
        if unused:
            raise validation("Value provided in ExpressionAttributeNames unused in expressions: "
                             f"keys: {{{', '.join(unused)}}}")


def _tokenize(text, kind):
    toks, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise validation(f'Invalid {kind}: Syntax error; token: "{bad}", near: "{text[max(0, pos - 10):pos + 10].strip()}"')
        k = m.lastgroup
        toks.append((k, m.group(k), m.start(k)))
        pos = m.end()
    toks.append(_EOF)
    return toks


class _Parser:
    def __init__(self, text, kind, ctx):
        if not isinstance(text, str):
            raise validation(f"Invalid {kind}: expected a string, got {type(text).__name__}")
        if not text.strip():
            raise validation(f"Invalid {kind}: The expression can not be empty;")
        self.text, self.kind, self.ctx = text, kind, ctx
        self.toks = _tokenize(text, kind)
        self.i = 0

    # -- token helpers --
    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.peek()
        self.i += 1
        return t

    def is_op(self, text, k=0):
        t = self.peek(k)
        return t[0] == "op" and t[1] == text

    def is_keyword(self, word, k=0):
        t = self.peek(k)
        return t[0] == "ident" and t[1].upper() == word

    def expect_op(self, text):
        if not self.is_op(text):
            self.syntax_error()
        self.i += 1

    def syntax_error(self, tok=None):
        t = tok or self.peek()
        if t[2] is None:
            near = self.text.strip()[-20:]
        else:
            near = self.text[max(0, t[2] - 12):t[2] + len(t[1]) + 12].strip()
        raise validation(f'Invalid {self.kind}: Syntax error; token: "{t[1]}", near: "{near}"')

    def at_end(self):
        return self.peek()[0] == "eof"

    def finish(self):
        if not self.at_end():
            self.syntax_error()

    # -- operands --
    def path(self):
        elems = [self._name_part()]
        while True:
            if self.is_op("."):
                self.i += 1
                elems.append(self._name_part())
            elif self.is_op("["):
                self.i += 1
                t = self.next()
                if t[0] != "number":
                    self.syntax_error(t)
                self.expect_op("]")
                elems.append(int(t[1]))
            else:
                return ("path", tuple(elems))

    def _name_part(self):
        t = self.next()
        if t[0] == "name":
            if t[1] not in self.ctx.names:
                raise validation(f"Invalid {self.kind}: An expression attribute name used in the document "
                                 f"path is not defined; attribute name: {t[1]}")
            self.ctx.used_names.add(t[1])
            return self.ctx.names[t[1]]
        if t[0] == "ident":
            if self.is_op("(") and t[1] not in _CONDITION_FUNCTIONS + _UPDATE_FUNCTIONS:
                raise validation(f"Invalid {self.kind}: Invalid function name; function: {t[1]}")
            if t[1].upper() in RESERVED_WORDS:
                raise validation(f"Invalid {self.kind}: Attribute name is a reserved keyword; "
                                 f"reserved keyword: {t[1]}")
            return t[1]
        self.syntax_error(t)

    def value(self):
        t = self.next()
        if t[0] != "value":
            self.syntax_error(t)
        if t[1] not in self.ctx.values:
            raise validation(f"Invalid {self.kind}: An expression attribute value used in expression is "
                             f"not defined; attribute value: {t[1]}")
        self.ctx.used_values.add(t[1])
        return ("value", self.ctx.values[t[1]])

    def operand(self):
        t = self.peek()
        if t[0] == "value":
            return self.value()
        if t[0] == "ident" and t[1] == "size" and self.is_op("(", 1):
            self.i += 2
            p = self.path()
            self.expect_op(")")
            return ("size", p)
        return self.path()

    # -- conditions --
    def condition(self):
        left = self._and()
        while self.is_keyword("OR"):
            self.i += 1
            left = ("or", left, self._and())
        return left

    def _and(self):
        left = self._not()
        while self.is_keyword("AND"):
            self.i += 1
            left = ("and", left, self._not())
        return left

    def _not(self):
        if self.is_keyword("NOT"):
            self.i += 1
            return ("not", self._not())
        return self._primary()

    def _primary(self):
        t = self.peek()
        if t[0] == "op" and t[1] == "(":
            self.i += 1
            c = self.condition()
            self.expect_op(")")
            return c
        if t[0] == "ident" and self.is_op("(", 1) and t[1] != "size":
            name = t[1]
            if name not in _CONDITION_FUNCTIONS:
                raise validation(f"Invalid {self.kind}: Invalid function name; function: {name}")
            self.i += 2
            if name in ("attribute_exists", "attribute_not_exists"):
                args = (self.path(),)
            elif name == "attribute_type":
                p = self.path()
                self.expect_op(",")
                args = (p, self.value())
            else:   # begins_with, contains
                p = self.path()
                self.expect_op(",")
                args = (p, self.operand())
            self.expect_op(")")
            return ("fn", name, args)
        left = self.operand()
        t = self.next()
        if t[0] == "op" and t[1] in _COMPARATORS:
            return ("cmp", t[1], left, self.operand())
        if t[0] == "ident" and t[1].upper() == "BETWEEN":
            lo = self.operand()
            if not self.is_keyword("AND"):
                self.syntax_error()
            self.i += 1
            return ("between", left, lo, self.operand())
        if t[0] == "ident" and t[1].upper() == "IN":
            self.expect_op("(")
            options = [self.operand()]
            while self.is_op(","):
                self.i += 1
                options.append(self.operand())
            self.expect_op(")")
            return ("in", left, tuple(options))
        self.syntax_error(t)

    # -- update expressions --
    def update(self):
        seen, actions = set(), []
        while not self.at_end():
            t = self.next()
            if t[0] != "ident" or t[1].upper() not in _CLAUSES:
                self.syntax_error(t)
            clause = t[1].upper()
            if clause in seen:
                raise validation(f'Invalid UpdateExpression: The "{clause}" section can only be used once '
                                 "in an update expression;")
            seen.add(clause)
            while True:
                p = self.path()
                if clause == "SET":
                    self.expect_op("=")
                    actions.append(("SET", p[1], self._set_value()))
                elif clause == "REMOVE":
                    actions.append(("REMOVE", p[1], None))
                else:   # ADD / DELETE take a value placeholder
                    if self.peek()[0] != "value":
                        self.syntax_error()
                    actions.append((clause, p[1], self.value()))
                if self.is_op(","):
                    self.i += 1
                    continue
                break
            nxt = self.peek()
            if not (nxt[0] == "eof" or (nxt[0] == "ident" and nxt[1].upper() in _CLAUSES)):
                self.syntax_error()
        return actions

    def _set_value(self):
        left = self._set_operand()
        if self.is_op("+") or self.is_op("-"):
            op = self.next()[1]
            return (op, left, self._set_operand())
        return left

    def _set_operand(self):
        t = self.peek()
        if t[0] == "ident" and self.is_op("(", 1):
            name = t[1]
            if name not in _UPDATE_FUNCTIONS:
                raise validation(f"Invalid UpdateExpression: Invalid function name; function: {name}")
            self.i += 2
            if name == "if_not_exists":
                a = self.path()
            else:
                a = self._set_operand()
            self.expect_op(",")
            b = self._set_operand()
            self.expect_op(")")
            return (name, a, b)
        if t[0] == "value":
            return self.value()
        return self.path()


def parse_condition(text, ctx, kind="ConditionExpression"):
    p = _Parser(text, kind, ctx)
    c = p.condition()
    p.finish()
    return c


def parse_update(text, ctx):
    p = _Parser(text, "UpdateExpression", ctx)
    actions = p.update()
    paths = [a[1] for a in actions]
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            n = min(len(a), len(b))
            if a[:n] == b[:n]:
                raise validation("Invalid UpdateExpression: Two document paths overlap with each other; must "
                                 "remove or rewrite one of these paths; "
                                 f"path one: [{path_text(a)}], path two: [{path_text(b)}]")
    return actions


def parse_projection(text, ctx):
    p = _Parser(text, "ProjectionExpression", ctx)
    paths = [p.path()[1]]
    while p.is_op(","):
        p.i += 1
        paths.append(p.path()[1])
    p.finish()
    return paths


def _operand(op, item, kind):
    k = op[0]
    if k == "value":
        return op[1]
    if k == "path":
        return get_path(item, op[1])
    # size(path)
    v = get_path(item, op[1][1])
    if v is MISSING:
        return MISSING
    if isinstance(v, (str, list, dict, set, frozenset)):
        return Decimal(len(v))
    if isinstance(v, Binary):
        return Decimal(len(v.value))
    raise validation(f"Invalid {kind}: Incorrect operand type for operator or function; operator or function: "
                     f"size, operand type: {TYPE_NAMES[type_of(v)]}")


def _compare(op, a, b):
    if a is MISSING or b is MISSING:
        return op == "<>"
    same = type_of(a) == type_of(b)
    if op == "=":
        return same and a == b
    if op == "<>":
        return not (same and a == b)
    if not same or type_of(a) not in KEY_TYPES:
        return False
    a, b = sortable(a), sortable(b)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def evaluate(cond, item, kind="ConditionExpression"):
    """Whether ``cond`` (from ``parse_condition``) holds for ``item`` (a dict; {} if absent)."""
    k = cond[0]
    if k == "and":
        return evaluate(cond[1], item, kind) and evaluate(cond[2], item, kind)
    if k == "or":
        return evaluate(cond[1], item, kind) or evaluate(cond[2], item, kind)
    if k == "not":
        return not evaluate(cond[1], item, kind)
    if k == "cmp":
        return _compare(cond[1], _operand(cond[2], item, kind), _operand(cond[3], item, kind))
    if k == "between":
        x, lo, hi = (_operand(o, item, kind) for o in cond[1:])
        return _compare(">=", x, lo) and _compare("<=", x, hi)
    if k == "in":
        x = _operand(cond[1], item, kind)
        return any(_compare("=", x, _operand(o, item, kind)) for o in cond[2])
    name, args = cond[1], cond[2]
    v = get_path(item, args[0][1])
    if name == "attribute_exists":
        return v is not MISSING
    if name == "attribute_not_exists":
        return v is MISSING
    if v is MISSING:
        return False
    arg = _operand(args[1], item, kind)
    if name == "attribute_type":
        if arg not in TYPE_NAMES:
            raise validation(f"Invalid {kind}: Invalid attribute type name found; type: {arg}, "
                             f"valid types: {{{', '.join(TYPE_NAMES)}}}")
        return type_of(v) == arg
    if name == "begins_with":
        if isinstance(v, str) and isinstance(arg, str):
            return v.startswith(arg)
        if isinstance(v, Binary) and isinstance(arg, Binary):
            return v.value.startswith(arg.value)
        return False
    # contains
    if arg is MISSING:
        return False
    if isinstance(v, str):
        return isinstance(arg, str) and arg in v
    if isinstance(v, Binary):
        return isinstance(arg, Binary) and arg.value in v.value
    if isinstance(v, (set, frozenset, list)):
        return arg in v if not isinstance(arg, (dict, list, set)) else any(arg == x for x in v)
    return False


def _set_value(expr, item):
    k = expr[0]
    if k == "value":
        return copy.deepcopy(expr[1])
    if k == "path":
        v = get_path(item, expr[1])
        if v is MISSING:
            raise validation("The provided expression refers to an attribute that does not exist in the item")
        return copy.deepcopy(v)
    if k == "if_not_exists":
        v = get_path(item, expr[1][1])
        return _set_value(expr[2], item) if v is MISSING else copy.deepcopy(v)
    if k == "list_append":
        a, b = _set_value(expr[1], item), _set_value(expr[2], item)
        for v in (a, b):
            if not isinstance(v, list):
                raise validation("Invalid UpdateExpression: Incorrect operand type for operator or function; "
                                 f"operator or function: list_append, operand type: {TYPE_NAMES[type_of(v)]}")
        return a + b
    # "+" / "-"
    a, b = _set_value(expr[1], item), _set_value(expr[2], item)
    if not (isinstance(a, Decimal) and isinstance(b, Decimal)) or isinstance(a, bool) or isinstance(b, bool):
        raise validation("An operand in the update expression has an incorrect data type")
    return arithmetic(k, a, b)


def apply_update(actions, old, key):
    """The item after ``actions``: every right-hand side is evaluated on ``old``."""
    base = old if old is not None else {}
    computed = []
    for clause, path, arg in actions:
        if path[0] in key:
            raise validation(f"One or more parameter values were invalid: Cannot update attribute {path[0]}. "
                             "This attribute is part of the key")
        if clause == "SET":
            computed.append((clause, path, _set_value(arg, base)))
        elif clause == "REMOVE":
            computed.append((clause, path, None))
        else:
            v = arg[1]
            current = get_path(base, path)
            t = type_of(v)
            if clause == "ADD":
                if t != "N" and t not in ("SS", "NS", "BS"):
                    raise validation("Invalid UpdateExpression: Incorrect operand type for operator or function; "
                                     f"operator: ADD, operand type: {TYPE_NAMES[t]}")
                if current is MISSING:
                    new = copy.deepcopy(v)
                elif type_of(current) != t:
                    raise validation("An operand in the update expression has an incorrect data type")
                else:
                    new = arithmetic("+", current, v) if t == "N" else set(current) | set(v)
                computed.append(("SET", path, new))
            else:   # DELETE from a set
                if t not in ("SS", "NS", "BS"):
                    raise validation("Invalid UpdateExpression: Incorrect operand type for operator or function; "
                                     f"operator: DELETE, operand type: {TYPE_NAMES[t]}")
                if current is MISSING:
                    continue
                if type_of(current) != t:
                    raise validation("An operand in the update expression has an incorrect data type")
                rest = set(current) - set(v)
                computed.append(("SET", path, rest) if rest else ("REMOVE", path, None))
    new = copy.deepcopy(base) if old is not None else dict(key)
    for clause, path, value in computed:
        if clause == "SET":
            set_path(new, path, value)
        else:
            remove_path(new, path)
    return new


def project(item, paths):
    out = {}
    for path in paths:
        v = get_path(item, path)
        if v is MISSING:
            continue
        # Rebuild the nested shape down to the projected element (list indexes collapse in order).
        cur = out
        for p, nxt in zip(path, path[1:]):
            cur = cur.setdefault(p, [] if isinstance(nxt, int) else {}) if isinstance(cur, dict) else cur
            if isinstance(cur, list):
                break
        if isinstance(cur, dict):
            cur[path[-1]] = copy.deepcopy(v)
        else:
            cur.append(copy.deepcopy(v))
    return out


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
            tops = dict.fromkeys(a[1][0] for a in actions)
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
            if c[0] == "and":
                return has_hash_eq(c[1]) or has_hash_eq(c[2])
            return c[0] == "cmp" and c[1] == "=" and c[2][0] == "path" and c[2][1] == (hash_key,)

        def allowed(c):
            if c[0] == "and":
                return allowed(c[1]) and allowed(c[2])
            if c[0] == "cmp":
                return c[1] != "<>"
            return c[0] == "between" or (c[0] == "fn" and c[1] == "begins_with")

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
