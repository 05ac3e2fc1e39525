"""Evaluating parsed expressions against items: conditions, updates and projections.

Semantics (DynamoDB's):

* **Conditions** (``evaluate``) read the item as it is; an absent item is
  ``{}``. A path that leads to no value is ``MISSING``: every comparison with
  it is false except ``<>``, and every function on it is false except
  ``attribute_not_exists``. ``=``/``<>`` compare values of any type (different
  types are unequal); ``<``, ``<=``, ``>``, ``>=`` and ``BETWEEN`` are true only
  between values of one type, string, number or binary (binaries compare as
  bytes). ``size`` of a number, boolean or NULL is a ``ValidationException``.
* **Updates** (``apply_update``) compute every right-hand side against the item
  *before* the update, then apply the changes in the order written, to a copy:
  the stored item is never changed in place. ``update_item`` on a missing item
  starts from its key. ``ADD`` on a missing number starts from 0 (on a missing
  set, from the empty set); ``SET a = a + :d`` on a missing ``a`` is an error;
  ``DELETE`` that empties a set removes the attribute. A key attribute cannot
  be updated.
* **Projections** (``project``) copy the projected paths into a new item of
  the same nested shape; paths that lead nowhere are left out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from itertools import pairwise
from typing import Any, cast

from boto3.dynamodb.types import Binary

from .errors import MSG_OPERAND_TYPE, validation
from .nodes import (
    And,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    IfNotExists,
    In,
    ListAppend,
    Not,
    Operand,
    Or,
    Path,
    SetOperand,
    UpdateAction,
    Value,
)
from .values import (
    KEY_TYPES,
    MISSING,
    SET_TYPES,
    TYPE_NAMES,
    DocPath,
    arithmetic,
    get_path,
    remove_path,
    set_path,
    sortable,
    type_of,
)

Item = dict[str, Any]

# -- conditions -----------------------------------------------------------------------------------


def _operand(op: Operand, item: Item, kind: str) -> Any:
    """The value an operand reads from ``item`` (``MISSING`` if its path leads nowhere)."""
    if isinstance(op, Value):
        return op.value
    if isinstance(op, Path):
        return get_path(item, op.elements)
    # Size
    v = get_path(item, op.path.elements)
    if v is MISSING:
        return MISSING
    if isinstance(v, (str, list, dict, set, frozenset)):
        return Decimal(len(v))
    if isinstance(v, Binary):
        return Decimal(len(v.value))
    raise validation(f"Invalid {kind}: Incorrect operand type for operator or function; operator or function: "
                     f"size, operand type: {TYPE_NAMES[type_of(v)]}")


def _compare(op: str, a: Any, b: Any) -> bool:
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


def _and(cond: And, item: Item, kind: str) -> bool:
    return evaluate(cond.left, item, kind) and evaluate(cond.right, item, kind)


def _or(cond: Or, item: Item, kind: str) -> bool:
    return evaluate(cond.left, item, kind) or evaluate(cond.right, item, kind)


def _not(cond: Not, item: Item, kind: str) -> bool:
    return not evaluate(cond.condition, item, kind)


def _comparison(cond: Compare, item: Item, kind: str) -> bool:
    return _compare(cond.op, _operand(cond.left, item, kind), _operand(cond.right, item, kind))


def _between(cond: Between, item: Item, kind: str) -> bool:
    x = _operand(cond.operand, item, kind)
    lo = _operand(cond.low, item, kind)
    hi = _operand(cond.high, item, kind)
    return _compare(">=", x, lo) and _compare("<=", x, hi)


def _in(cond: In, item: Item, kind: str) -> bool:
    x = _operand(cond.operand, item, kind)
    return any(_compare("=", x, _operand(o, item, kind)) for o in cond.options)


def _attribute_exists(cond: AttributeExists, item: Item, kind: str) -> bool:
    return get_path(item, cond.path.elements) is not MISSING


def _attribute_not_exists(cond: AttributeNotExists, item: Item, kind: str) -> bool:
    return get_path(item, cond.path.elements) is MISSING


def _attribute_type(cond: AttributeType, item: Item, kind: str) -> bool:
    v = get_path(item, cond.path.elements)
    if v is MISSING:
        return False
    arg = _operand(cond.type, item, kind)
    if arg not in TYPE_NAMES:
        raise validation(f"Invalid {kind}: Invalid attribute type name found; type: {arg}, "
                         f"valid types: {{{', '.join(TYPE_NAMES)}}}")
    return type_of(v) == arg


def _begins_with(cond: BeginsWith, item: Item, kind: str) -> bool:
    v = get_path(item, cond.path.elements)
    if v is MISSING:
        return False
    arg = _operand(cond.prefix, item, kind)
    if isinstance(v, str) and isinstance(arg, str):
        return v.startswith(arg)
    if isinstance(v, Binary) and isinstance(arg, Binary):
        return v.value.startswith(arg.value)
    return False


def _contains(cond: Contains, item: Item, kind: str) -> bool:
    v = get_path(item, cond.path.elements)
    if v is MISSING:
        return False
    arg = _operand(cond.operand, item, kind)
    if arg is MISSING:
        return False
    if isinstance(v, str):
        return isinstance(arg, str) and arg in v
    if isinstance(v, Binary):
        return isinstance(arg, Binary) and arg.value in v.value
    if isinstance(v, (set, frozenset, list)):
        return arg in v if not isinstance(arg, (dict, list, set)) else any(arg == x for x in v)
    return False


_CONDITIONS: dict[type, Callable[[Any, Item, str], bool]] = {
    And: _and, Or: _or, Not: _not, Compare: _comparison, Between: _between, In: _in,
    AttributeExists: _attribute_exists, AttributeNotExists: _attribute_not_exists,
    AttributeType: _attribute_type, BeginsWith: _begins_with, Contains: _contains}


def evaluate(cond: Condition, item: Item, kind: str = "ConditionExpression") -> bool:
    """Whether ``cond`` (from ``parse_condition``) holds for ``item`` (a dict; {} if absent).
    ``kind`` names the expression in errors."""
    return _CONDITIONS[type(cond)](cond, item, kind)


# -- updates --------------------------------------------------------------------------------------


def set_value(expr: SetOperand, item: Item) -> Any:
    """The value the right-hand side of a ``SET`` gives on ``item`` (a fresh copy)."""
    if isinstance(expr, Value):
        return copy.deepcopy(expr.value)
    if isinstance(expr, Path):
        v = get_path(item, expr.elements)
        if v is MISSING:
            raise validation("The provided expression refers to an attribute that does not exist in the item")
        return copy.deepcopy(v)
    if isinstance(expr, IfNotExists):
        v = get_path(item, expr.path.elements)
        return set_value(expr.default, item) if v is MISSING else copy.deepcopy(v)
    if isinstance(expr, ListAppend):
        a, b = set_value(expr.left, item), set_value(expr.right, item)
        for v in (a, b):
            if not isinstance(v, list):
                raise validation("Invalid UpdateExpression: Incorrect operand type for operator or function; "
                                 f"operator or function: list_append, operand type: {TYPE_NAMES[type_of(v)]}")
        return a + b
    # Arithmetic: "+" / "-"
    a, b = set_value(expr.left, item), set_value(expr.right, item)
    if not (isinstance(a, Decimal) and isinstance(b, Decimal)) or isinstance(a, bool) or isinstance(b, bool):
        raise validation(MSG_OPERAND_TYPE)
    return arithmetic(expr.op, a, b)


def apply_update(actions: Iterable[UpdateAction], old: Item | None, key: Mapping[str, Any]) -> Item:
    """The item after ``actions`` (a new dict): every right-hand side is evaluated on ``old``
    (None if there is no item, which then starts as ``key``)."""
    base = old if old is not None else {}
    changes: list[tuple[DocPath, Any]] = []   # (path, value to store there, or MISSING to remove it)
    for action in actions:
        clause, path = action.clause, action.path
        if path[0] in key:
            raise validation(f"One or more parameter values were invalid: Cannot update attribute {path[0]}. "
                             "This attribute is part of the key")
        if clause == "SET":
            changes.append((path, set_value(cast(SetOperand, action.operand), base)))
        elif clause == "REMOVE":
            changes.append((path, MISSING))
        else:
            v = cast(Value, action.operand).value
            current = get_path(base, path)
            t = type_of(v)
            if clause == "ADD":
                if t != "N" and t not in SET_TYPES:
                    raise validation("Invalid UpdateExpression: Incorrect operand type for operator or function; "
                                     f"operator: ADD, operand type: {TYPE_NAMES[t]}")
                if current is MISSING:
                    new = copy.deepcopy(v)
                elif type_of(current) != t:
                    raise validation(MSG_OPERAND_TYPE)
                else:
                    new = arithmetic("+", current, v) if t == "N" else set(current) | set(v)
                changes.append((path, new))
            else:   # DELETE from a set
                if t not in SET_TYPES:
                    raise validation("Invalid UpdateExpression: Incorrect operand type for operator or function; "
                                     f"operator: DELETE, operand type: {TYPE_NAMES[t]}")
                if current is MISSING:
                    continue
                if type_of(current) != t:
                    raise validation(MSG_OPERAND_TYPE)
                rest = set(current) - set(v)
                changes.append((path, rest if rest else MISSING))
    new = copy.deepcopy(base) if old is not None else dict(key)
    for path, value in changes:
        if value is MISSING:
            remove_path(new, path)
        else:
            set_path(new, path, value)
    return new


# -- projections ----------------------------------------------------------------------------------


def project(item: Item, paths: Iterable[DocPath]) -> Item:
    """A new item holding copies of the values at ``paths`` (from ``parse_projection``)."""
    out: Item = {}
    for path in paths:
        v = get_path(item, path)
        if v is MISSING:
            continue
        # Rebuild the nested shape down to the projected element (list indexes collapse in order).
        cur: Any = out
        for p, nxt in pairwise(path):
            cur = cur.setdefault(p, [] if isinstance(nxt, int) else {}) if isinstance(cur, dict) else cur
            if isinstance(cur, list):
                break
        if isinstance(cur, dict):
            cur[path[-1]] = copy.deepcopy(v)
        else:
            cur.append(copy.deepcopy(v))
    return out
