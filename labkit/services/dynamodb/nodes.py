"""The syntax tree of DynamoDB expressions: what ``expressions`` builds and ``evaluate`` reads.

Every node is a small immutable ``NamedTuple``: read its fields by name, and
tell nodes apart by type (``isinstance``), never by position or by ``==``
across types (two nodes of different types with equal fields are equal tuples).
Placeholders are already resolved when a tree is built: a ``Path`` holds
attribute names, a ``Value`` the value itself.

Operands (what a comparison or function reads)::

    Path(elements)          a document path, e.g. ("a", "b", 0) for a.b[0]
    Value(value)            an ExpressionAttributeValues value (:v)
    Size(path)              size(path)

Conditions (ConditionExpression, KeyConditionExpression, FilterExpression)::

    Compare(op, left, right)        op one of = <> < <= > >=
    Between(operand, low, high)     operand BETWEEN low AND high
    In(operand, options)            operand IN (option, ...)
    And(left, right), Or(left, right), Not(condition)
    AttributeExists(path), AttributeNotExists(path), AttributeType(path, type)
    BeginsWith(path, prefix), Contains(path, operand)

UpdateExpression: a list of ``UpdateAction(clause, path, operand)``; the
right-hand side of ``SET`` is an operand (``Path`` or ``Value``) or one of
``Arithmetic(op, left, right)``, ``IfNotExists(path, default)``,
``ListAppend(left, right)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .values import DocPath

# -- operands -------------------------------------------------------------------------------------


class Path(NamedTuple):
    """A document path: attribute names (str) and list indexes (int)."""
    elements: DocPath


class Value(NamedTuple):
    """A value given in ExpressionAttributeValues."""
    value: Any


class Size(NamedTuple):
    """``size(path)``: the length of a string, binary, list, map or set, as a number."""
    path: Path


Operand = Path | Value | Size

# -- conditions -----------------------------------------------------------------------------------


class Compare(NamedTuple):
    """``left op right``, ``op`` one of ``= <> < <= > >=``."""
    op: str
    left: Operand
    right: Operand


class Between(NamedTuple):
    """``operand BETWEEN low AND high`` (both ends included)."""
    operand: Operand
    low: Operand
    high: Operand


class In(NamedTuple):
    """``operand IN (options...)``."""
    operand: Operand
    options: tuple[Operand, ...]


class And(NamedTuple):
    left: Condition
    right: Condition


class Or(NamedTuple):
    left: Condition
    right: Condition


class Not(NamedTuple):
    condition: Condition


class AttributeExists(NamedTuple):
    path: Path


class AttributeNotExists(NamedTuple):
    path: Path


class AttributeType(NamedTuple):
    """``attribute_type(path, :t)``: ``type`` holds a type code such as ``"N"``."""
    path: Path
    type: Value


class BeginsWith(NamedTuple):
    path: Path
    prefix: Operand


class Contains(NamedTuple):
    path: Path
    operand: Operand


Condition = (Compare | Between | In | And | Or | Not | AttributeExists | AttributeNotExists | AttributeType
             | BeginsWith | Contains)

# -- update expressions ---------------------------------------------------------------------------


class Arithmetic(NamedTuple):
    """``left + right`` or ``left - right`` (``op`` ``"+"`` or ``"-"``) in a ``SET``."""
    op: str
    left: SetOperand
    right: SetOperand


class IfNotExists(NamedTuple):
    """``if_not_exists(path, default)``: the value at ``path``, or ``default`` if there is none."""
    path: Path
    default: SetOperand


class ListAppend(NamedTuple):
    """``list_append(left, right)``: the two lists, one after the other."""
    left: SetOperand
    right: SetOperand


SetOperand = Path | Value | Arithmetic | IfNotExists | ListAppend


class UpdateAction(NamedTuple):
    """One action of an UpdateExpression.

    ``clause`` is ``"SET"``, ``"REMOVE"``, ``"ADD"`` or ``"DELETE"``; ``path``
    the document path it changes; ``operand`` the right-hand side of ``SET``,
    the ``Value`` of ``ADD``/``DELETE``, None for ``REMOVE``.
    """
    clause: str
    path: DocPath
    operand: SetOperand | None
