"""Parsing DynamoDB expressions: text to the syntax tree of ``nodes``.

``parse_condition``, ``parse_update`` and ``parse_projection`` read one
expression of a request. Placeholders are resolved while parsing through the
request's ``ExpressionContext`` (its ``ExpressionAttributeNames`` and
``ExpressionAttributeValues``), which also records which of them were used:
``check_all_used()`` then refuses a request that defines one it never uses,
as DynamoDB does.

Grammar (DynamoDB's, the supported part)::

    condition  := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | primary
    primary    := "(" condition ")" | function "(" ... ")"
                | operand comparator operand | operand "BETWEEN" operand "AND" operand
                | operand "IN" "(" operand ("," operand)* ")"
    operand    := :value | "size" "(" path ")" | path
    path       := name ("." name | "[" number "]")*        name: #placeholder or bare word
    update     := (clause action ("," action)*)+           each clause at most once
    action     := path "=" set_value (SET) | path (REMOVE) | path :value (ADD, DELETE)
    set_value  := set_operand (("+" | "-") set_operand)?
    set_operand:= "if_not_exists" "(" path "," set_operand ")"
                | "list_append" "(" set_operand "," set_operand ")" | :value | path
    projection := path ("," path)*

Keywords are case-insensitive; function names are not. A bare name that is one
of DynamoDB's reserved words (``reserved``) is refused, as AWS does. Every
refusal is a ``ValidationException`` worded as AWS words it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, NoReturn, cast

from .errors import validation
from .nodes import (
    And,
    Arithmetic,
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
    Size,
    UpdateAction,
    Value,
)
from .reserved import RESERVED_WORDS
from .values import DocPath, path_text

_TOKEN = re.compile(r"""\s*(?:
    (?P<name>\#[A-Za-z0-9_]+)
  | (?P<value>:[A-Za-z0-9_]+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9]+)
  | (?P<op><>|<=|>=|=|<|>|\(|\)|,|\.|\[|\]|\+|-)
)""", re.X)

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
CONDITION_FUNCTIONS = ("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with",
                       "contains", "size")
UPDATE_FUNCTIONS = ("if_not_exists", "list_append")
CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
_FUNCTIONS = CONDITION_FUNCTIONS + UPDATE_FUNCTIONS


class Token(NamedTuple):
    """One token: ``kind`` is ``"name"`` (``#n``), ``"value"`` (``:v``), ``"ident"``,
    ``"number"``, ``"op"`` or ``"eof"``; ``pos`` its offset in the text (None at the end)."""
    kind: str
    text: str
    pos: int | None


EOF = Token("eof", "<EOF>", None)


class ExpressionContext:
    """ExpressionAttributeNames/Values of one request, and which of them were used."""

    def __init__(self, names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> None:
        self.names = dict(names or {})
        self.values = dict(values or {})
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def check_all_used(self) -> None:
        """Refuse the request if it defines a placeholder none of its expressions used."""
        unused = sorted(set(self.values) - self.used_values)
        if unused:
            raise validation("Value provided in ExpressionAttributeValues unused in expressions: "
                             f"keys: {{{', '.join(unused)}}}")
        unused = sorted(set(self.names) - self.used_names)
        if unused:
            raise validation("Value provided in ExpressionAttributeNames unused in expressions: "
                             f"keys: {{{', '.join(unused)}}}")


@functools.lru_cache(maxsize=1024)
def tokenize(text: str, kind: str) -> tuple[Token, ...]:
    """The tokens of ``text``, ending with ``EOF``; ``kind`` names the expression in errors.
    A simulation sends the same few expressions again and again: results are cached (they are
    immutable), refusals are not."""
    toks, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            near = text[max(0, pos - 10):pos + 10].strip()
            raise validation(f'Invalid {kind}: Syntax error; token: "{bad}", near: "{near}"')
        k = cast(str, m.lastgroup)   # every alternative is a named group
        toks.append(Token(k, m.group(k), m.start(k)))
        pos = m.end()
    toks.append(EOF)
    return tuple(toks)


class _Parser:
    """A recursive-descent parser over the tokens of one expression (see the grammar above)."""

    def __init__(self, text: str, kind: str, ctx: ExpressionContext) -> None:
        if not isinstance(text, str):
            raise validation(f"Invalid {kind}: expected a string, got {type(text).__name__}")
        if not text.strip():
            raise validation(f"Invalid {kind}: The expression can not be empty;")
        self.text, self.kind, self.ctx = text, kind, ctx
        self.toks = tokenize(text, kind)
        self.i = 0

    # -- token helpers --
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.peek()
        self.i += 1
        return t

    def is_op(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "op" and t.text == text

    def is_keyword(self, word: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "ident" and t.text.upper() == word

    def expect_op(self, text: str) -> None:
        if not self.is_op(text):
            self.syntax_error()
        self.i += 1

    def syntax_error(self, tok: Token | None = None) -> NoReturn:
        t = tok if tok is not None else self.peek()
        if t.pos is None:
            near = self.text.strip()[-20:]
        else:
            near = self.text[max(0, t.pos - 12):t.pos + len(t.text) + 12].strip()
        raise validation(f'Invalid {self.kind}: Syntax error; token: "{t.text}", near: "{near}"')

    def at_end(self) -> bool:
        return self.peek().kind == "eof"

    def finish(self) -> None:
        if not self.at_end():
            self.syntax_error()

    # -- operands --
    def path(self) -> Path:
        elems: list[str | int] = [self._name_part()]
        while True:
            if self.is_op("."):
                self.i += 1
                elems.append(self._name_part())
            elif self.is_op("["):
                self.i += 1
                t = self.next()
                if t.kind != "number":
                    self.syntax_error(t)
                self.expect_op("]")
                elems.append(int(t.text))
            else:
                return Path(tuple(elems))

    def _name_part(self) -> str:
        t = self.next()
        if t.kind == "name":
            if t.text not in self.ctx.names:
                raise validation(f"Invalid {self.kind}: An expression attribute name used in the document "
                                 f"path is not defined; attribute name: {t.text}")
            self.ctx.used_names.add(t.text)
            return self.ctx.names[t.text]
        if t.kind == "ident":
            if self.is_op("(") and t.text not in _FUNCTIONS:
                raise validation(f"Invalid {self.kind}: Invalid function name; function: {t.text}")
            if t.text.upper() in RESERVED_WORDS:
                raise validation(f"Invalid {self.kind}: Attribute name is a reserved keyword; "
                                 f"reserved keyword: {t.text}")
            return t.text
        self.syntax_error(t)

    def value(self) -> Value:
        t = self.next()
        if t.kind != "value":
            self.syntax_error(t)
        if t.text not in self.ctx.values:
            raise validation(f"Invalid {self.kind}: An expression attribute value used in expression is "
                             f"not defined; attribute value: {t.text}")
        self.ctx.used_values.add(t.text)
        return Value(self.ctx.values[t.text])

    def operand(self) -> Operand:
        t = self.peek()
        if t.kind == "value":
            return self.value()
        if t.kind == "ident" and t.text == "size" and self.is_op("(", 1):
            self.i += 2
            p = self.path()
            self.expect_op(")")
            return Size(p)
        return self.path()

    # -- conditions --
    def condition(self) -> Condition:
        left = self._and()
        while self.is_keyword("OR"):
            self.i += 1
            left = Or(left, self._and())
        return left

    def _and(self) -> Condition:
        left = self._not()
        while self.is_keyword("AND"):
            self.i += 1
            left = And(left, self._not())
        return left

    def _not(self) -> Condition:
        if self.is_keyword("NOT"):
            self.i += 1
            return Not(self._not())
        return self._primary()

    def _primary(self) -> Condition:
        t = self.peek()
        if t.kind == "op" and t.text == "(":
            self.i += 1
            c = self.condition()
            self.expect_op(")")
            return c
        if t.kind == "ident" and self.is_op("(", 1) and t.text != "size":
            return self._function(t.text)
        left = self.operand()
        t = self.next()
        if t.kind == "op" and t.text in COMPARATORS:
            return Compare(t.text, left, self.operand())
        if t.kind == "ident" and t.text.upper() == "BETWEEN":
            lo = self.operand()
            if not self.is_keyword("AND"):
                self.syntax_error()
            self.i += 1
            return Between(left, lo, self.operand())
        if t.kind == "ident" and t.text.upper() == "IN":
            self.expect_op("(")
            options = [self.operand()]
            while self.is_op(","):
                self.i += 1
                options.append(self.operand())
            self.expect_op(")")
            return In(left, tuple(options))
        self.syntax_error(t)

    def _function(self, name: str) -> Condition:
        """A condition function call; the parser is at its name, followed by ``(``."""
        if name not in CONDITION_FUNCTIONS:
            raise validation(f"Invalid {self.kind}: Invalid function name; function: {name}")
        self.i += 2
        node: Condition
        if name == "attribute_exists":
            node = AttributeExists(self.path())
        elif name == "attribute_not_exists":
            node = AttributeNotExists(self.path())
        else:
            p = self.path()
            self.expect_op(",")
            if name == "attribute_type":
                node = AttributeType(p, self.value())
            elif name == "begins_with":
                node = BeginsWith(p, self.operand())
            else:   # contains
                node = Contains(p, self.operand())
        self.expect_op(")")
        return node

    # -- update expressions --
    def update(self) -> list[UpdateAction]:
        seen, actions = set(), []
        while not self.at_end():
            t = self.next()
            if t.kind != "ident" or t.text.upper() not in CLAUSES:
                self.syntax_error(t)
            clause = t.text.upper()
            if clause in seen:
                raise validation(f'Invalid UpdateExpression: The "{clause}" section can only be used once '
                                 "in an update expression;")
            seen.add(clause)
            while True:
                p = self.path()
                if clause == "SET":
                    self.expect_op("=")
                    actions.append(UpdateAction("SET", p.elements, self._set_value()))
                elif clause == "REMOVE":
                    actions.append(UpdateAction("REMOVE", p.elements, None))
                else:   # ADD / DELETE take a value placeholder
                    if self.peek().kind != "value":
                        self.syntax_error()
                    actions.append(UpdateAction(clause, p.elements, self.value()))
                if self.is_op(","):
                    self.i += 1
                    continue
                break
            nxt = self.peek()
            if not (nxt.kind == "eof" or (nxt.kind == "ident" and nxt.text.upper() in CLAUSES)):
                self.syntax_error()
        return actions

    def _set_value(self) -> SetOperand:
        left = self._set_operand()
        if self.is_op("+") or self.is_op("-"):
            op = self.next().text
            return Arithmetic(op, left, self._set_operand())
        return left

    def _set_operand(self) -> SetOperand:
        t = self.peek()
        if t.kind == "ident" and self.is_op("(", 1):
            name = t.text
            if name not in UPDATE_FUNCTIONS:
                raise validation(f"Invalid UpdateExpression: Invalid function name; function: {name}")
            self.i += 2
            if name == "if_not_exists":
                p = self.path()
                self.expect_op(",")
                default = self._set_operand()
                self.expect_op(")")
                return IfNotExists(p, default)
            a = self._set_operand()
            self.expect_op(",")
            b = self._set_operand()
            self.expect_op(")")
            return ListAppend(a, b)
        if t.kind == "value":
            return self.value()
        return self.path()


def parse_condition(text: str, ctx: ExpressionContext, kind: str = "ConditionExpression") -> Condition:
    """The tree of a condition (``kind`` names it in errors: ``KeyConditionExpression``, ...)."""
    p = _Parser(text, kind, ctx)
    c = p.condition()
    p.finish()
    return c


def parse_update(text: str, ctx: ExpressionContext) -> list[UpdateAction]:
    """The actions of an UpdateExpression, in order; two actions on overlapping paths are refused."""
    p = _Parser(text, "UpdateExpression", ctx)
    actions = p.update()
    paths = [a.path for a in actions]
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            n = min(len(a), len(b))
            if a[:n] == b[:n]:
                raise validation("Invalid UpdateExpression: Two document paths overlap with each other; must "
                                 "remove or rewrite one of these paths; "
                                 f"path one: [{path_text(a)}], path two: [{path_text(b)}]")
    return actions


def parse_projection(text: str, ctx: ExpressionContext) -> list[DocPath]:
    """The document paths of a ProjectionExpression, in order."""
    p = _Parser(text, "ProjectionExpression", ctx)
    paths = [p.path().elements]
    while p.is_op(","):
        p.i += 1
        paths.append(p.path().elements)
    p.finish()
    return paths
