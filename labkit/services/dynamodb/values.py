"""DynamoDB values and document paths.

Values arrive normalised as boto3's resource layer does it: numbers are
``decimal.Decimal``, binary is ``boto3.dynamodb.types.Binary``, sets are
``set``, lists ``list``, maps ``dict``, booleans ``bool`` and NULL ``None``.

A document path (``DocPath``) is a tuple of elements, a ``str`` for a map key
and an ``int`` for a list index: ``a.b[0]`` is ``("a", "b", 0)``. Reading a
path that leads nowhere gives ``MISSING`` (never an error); writing follows
DynamoDB: an index past the end of a list appends, and a parent that is not a
map or list is a ``ValidationException``.

Numbers follow DynamoDB's 38-digit arithmetic (boto3's ``DYNAMODB_CONTEXT``):
a result that would be rounded or out of range is a ``ValidationException``.
"""

from __future__ import annotations

from decimal import Decimal, Inexact, InvalidOperation, Overflow, Rounded, Underflow
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary

from .errors import MSG_INVALID_UPDATE_PATH, validation

DocPath = tuple[str | int, ...]

# The type codes of DynamoDB, and the names its error messages use for them.
TYPE_NAMES = {"S": "STRING", "N": "NUMBER", "B": "BINARY", "BOOL": "BOOLEAN", "NULL": "NULL",
              "L": "LIST", "M": "MAP", "SS": "SET", "NS": "SET", "BS": "SET"}
KEY_TYPES = ("S", "N", "B")          # the types a key attribute can have; the only ordered ones
SET_TYPES = ("SS", "NS", "BS")


class _Missing:
    """The type of ``MISSING``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a path that leads to no value reads as (distinct from a stored NULL, which is ``None``)."""


def type_of(v: Any) -> str:
    """DynamoDB's type code of a normalised value (``"S"``, ``"N"``, ``"SS"``, ``"M"``, ...)."""
    if isinstance(v, bool):
        return "BOOL"
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "S"
    if isinstance(v, Decimal):
        return "N"
    if isinstance(v, Binary):
        return "B"
    if isinstance(v, (set, frozenset)):
        first = next(iter(v), None)
        return {"S": "SS", "N": "NS", "B": "BS"}.get(type_of(first) if first is not None else "S", "SS")
    if isinstance(v, list):
        return "L"
    if isinstance(v, dict):
        return "M"
    raise validation(f"labkit: unsupported value type {type(v).__name__}")


def sortable(v: Any) -> Any:
    """A key-type value in a form Python orders as DynamoDB does (``Binary`` as its bytes)."""
    return v.value if isinstance(v, Binary) else v


def arithmetic(op: str, a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` (``op`` ``"+"``) or ``a - b`` (any other ``op``) in DynamoDB's number context."""
    ctx = DYNAMODB_CONTEXT.copy()
    try:
        return ctx.add(a, b) if op == "+" else ctx.subtract(a, b)
    except (Inexact, Rounded, Overflow, Underflow, InvalidOperation):
        raise validation("Number overflow. Attempting to store a number with magnitude larger than "
                         "supported range") from None


def get_path(item: Any, path: DocPath) -> Any:
    """The value at ``path`` inside ``item``, or ``MISSING``."""
    cur = item
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or p >= len(cur):
                return MISSING
        elif not isinstance(cur, dict) or p not in cur:
            return MISSING
        cur = cur[p]
    return cur


def set_path(item: dict[str, Any], path: DocPath, value: Any) -> None:
    """Store ``value`` at ``path`` in ``item`` (in place); an index past a list's end appends."""
    parent = get_path(item, path[:-1]) if len(path) > 1 else item
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(parent, list):
            raise validation(MSG_INVALID_UPDATE_PATH)
        if last < len(parent):
            parent[last] = value
        else:
            parent.append(value)   # DynamoDB appends past the end of a list
    else:
        if not isinstance(parent, dict):
            raise validation(MSG_INVALID_UPDATE_PATH)
        parent[last] = value


def remove_path(item: dict[str, Any], path: DocPath) -> None:
    """Remove the value at ``path`` from ``item`` (in place); nothing happens if there is none."""
    parent = get_path(item, path[:-1]) if len(path) > 1 else item
    last = path[-1]
    if isinstance(last, int):
        if isinstance(parent, list) and last < len(parent):
            del parent[last]
    elif isinstance(parent, dict):
        parent.pop(last, None)


def path_text(path: DocPath) -> str:
    """``path`` written as in an expression (``a.b[0]``), for error messages."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (("." if out else "") + p)
    return out
