"""One simulated table: its key schema, items, capacity and counters (the state model).

``TableState`` holds the state; ``operations`` applies requests to it. Items
are stored by their key tuple (the key values in key-schema order, binary as
bytes) as snapshots: a write stores a new dict and never changes a stored one
in place, so a call record can keep the item it read or wrote without copying
it. Inspection methods (``items()``, ``item(...)``) return copies.

Capacity (optional): ``read_units_per_s`` / ``write_units_per_s`` are token
buckets (``labkit.scaling.TokenBucket``) holding ``burst_s`` seconds of units,
at least one. labkit simplification: every request costs one unit whatever the
item size, and eventually consistent reads cost the same as strong ones. An
empty bucket refuses the request with ``ProvisionedThroughputExceededException``.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from decimal import Decimal
from typing import Any, NamedTuple

from ... import validation as arguments
from ...errors import InvalidParameterValueException
from ...scaling import TokenBucket
from ..base import Latency
from .errors import MSG_KEY_MISMATCH, MSG_THROUGHPUT, THROUGHPUT_EXCEEDED, DynamoDBError, validation
from .values import KEY_TYPES, sortable, type_of

READS = ("GetItem", "Query", "Scan")
WRITES = ("PutItem", "UpdateItem", "DeleteItem")

Item = dict[str, Any]
KeyTuple = tuple[Any, ...]


class KeyElement(NamedTuple):
    """One attribute of a key schema: its ``name`` and ``type`` (``"S"``, ``"N"`` or ``"B"``).
    The first element of a schema is the partition (hash) key, the second, if any, the sort key."""
    name: str
    type: str


def key_order(k: KeyTuple) -> tuple[tuple[int, Any], ...]:
    """A sort key for key tuples: numbers, then strings, then binaries, each in their own order."""
    return tuple((0, x) if isinstance(x, Decimal) else (1, x) if isinstance(x, str) else (2, x) for x in k)


def _check_key_name(param: str, v: Any) -> None:
    if not isinstance(v, str) or not v:
        raise InvalidParameterValueException(param, v, "an attribute name (a non-empty str)")


class TableState:
    """One table: its items, key schema, capacity buckets and counters.

    ``calls`` counts requests by operation (``GetItem``, ``PutItem``, ...),
    ``conditional_failures`` and ``throttles`` the refused ones. ``_items`` maps
    key tuples to stored items; labkit's own code (``operations``, set-up of
    initial items) reads and writes it directly. ``latency`` is the table's
    ``labkit.services.base.Latency``, spent by the backend on every call.
    """

    def __init__(self, name: str, key: str = "id", *, key_type: str = "S", sort_key: str | None = None,
                 sort_key_type: str = "S", read_units_per_s: float | None = None,
                 write_units_per_s: float | None = None, burst_s: float = 1.0, latency: Latency | None = None,
                 now: float = 0.0) -> None:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", name):
            raise InvalidParameterValueException("TableName", name, "3-255 characters: letters, digits, _ . -")
        _check_key_name("key", key)
        if sort_key is not None:
            _check_key_name("sort_key", sort_key)
        for p, t in (("key_type", key_type), ("sort_key_type", sort_key_type)):
            if t not in KEY_TYPES:
                raise InvalidParameterValueException(p, t, f"one of {KEY_TYPES}")
        for p, u in (("read_units_per_s", read_units_per_s), ("write_units_per_s", write_units_per_s)):
            if u is not None:
                arguments.number(p, u, 0, lo_open=True,
                                 allowed="None (on-demand, never throttled) or a finite number > 0")
        arguments.seconds("burst_s", burst_s, lo_open=True)
        self.name = name
        self.key_schema = [KeyElement(key, key_type)] + ([KeyElement(sort_key, sort_key_type)] if sort_key else [])
        self.read_units_per_s, self.write_units_per_s = read_units_per_s, write_units_per_s
        self._read_bucket = TokenBucket(max(1.0, read_units_per_s * burst_s), read_units_per_s, now) \
            if read_units_per_s else None
        self._write_bucket = TokenBucket(max(1.0, write_units_per_s * burst_s), write_units_per_s, now) \
            if write_units_per_s else None
        self.latency = latency
        self._items: dict[KeyTuple, Item] = {}
        self.calls: Counter[str] = Counter()
        self.conditional_failures = 0
        self.throttles = 0

    # -- inspection (for notebooks and tests) --------------------------------------------------
    @property
    def key_names(self) -> list[str]:
        return [el.name for el in self.key_schema]

    def items(self) -> list[Item]:
        """Copies of every item, sorted by key."""
        return [copy.deepcopy(self._items[k]) for k in sorted(self._items, key=key_order)]

    def item(self, **key: Any) -> Item | None:
        """A copy of one item (``table.sim.item(id="a")``), or None."""
        it = self._items.get(self._key_tuple(key))
        return copy.deepcopy(it)

    def __len__(self) -> int:
        return len(self._items)

    def counters(self) -> dict[str, int]:
        """Calls by operation, plus conditional failures and throttles."""
        out = {op: self.calls.get(op, 0) for op in READS + WRITES}
        out["conditional_failures"] = self.conditional_failures
        out["throttles"] = self.throttles
        return out

    def __repr__(self) -> str:
        return f"<simulated table {self.name}: {len(self._items)} items, key {self.key_names}>"

    # -- keys -----------------------------------------------------------------------------------
    def _key_tuple(self, key: Any, where: str = "key") -> KeyTuple:
        """The key tuple of a request's ``Key`` (exactly the schema's attributes, of their types)."""
        if not isinstance(key, dict) or len(key) != len(self.key_schema):
            raise validation(MSG_KEY_MISMATCH)
        out = []
        for el in self.key_schema:
            name, t = el.name, el.type
            if name not in key:
                raise validation(MSG_KEY_MISMATCH)
            v = key[name]
            if type_of(v) != t:
                raise validation(MSG_KEY_MISMATCH)
            if t in ("S", "B") and len(sortable(v)) == 0:
                raise validation("One or more parameter values are not valid. The AttributeValue for a key "
                                 f"attribute cannot contain an empty {'string' if t == 'S' else 'binary'} "
                                 f"value. Key: {name}")
            out.append(sortable(v))
        return tuple(out)

    def _item_key(self, item: Item) -> KeyTuple:
        """The key tuple of a whole item (``PutItem``), with PutItem's errors for a missing or mistyped key."""
        for el in self.key_schema:
            name, t = el.name, el.type
            if name not in item:
                raise validation(f"One or more parameter values were invalid: Missing the key {name} in the item")
            if type_of(item[name]) != t:
                raise validation("One or more parameter values were invalid: Type mismatch for key "
                                 f"{name} expected: {t} actual: {type_of(item[name])}")
        return self._key_tuple({el.name: item[el.name] for el in self.key_schema})

    def key_of(self, item: Item) -> Item:
        """The key attributes of ``item``, as a ``Key`` parameter."""
        return {el.name: item[el.name] for el in self.key_schema}

    # -- capacity --------------------------------------------------------------------------------
    def take_capacity(self, operation: str, now: float) -> None:
        """Take one read or write unit at ``now``, or count a throttle and refuse the request."""
        bucket = self._read_bucket if operation in READS else self._write_bucket
        if bucket is not None and not bucket.take(now):
            self.throttles += 1
            raise DynamoDBError(THROUGHPUT_EXCEEDED, MSG_THROUGHPUT)
