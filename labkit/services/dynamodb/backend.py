"""The simulated DynamoDB of one Lab: its tables, the latency of every call, and the call records.

``DynamoDBBackend.request(operation, table_name, params)`` is the one way in
(``labkit.services.fake_boto3`` calls it for every boto3 call). Timing follows
``labkit.services.base``: inside simulated handler code the call first spends
its table's latency, then the operation applies atomically at that instant
(``operations``); outside a simulation it takes no time. Every call, refused
or not, leaves a ``CallRecord`` whose ``detail`` is a ``CallDetail``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from ...errors import InvalidParameterValueException
from ..base import CallRecord, Clock, Latency, records_frame, show
from .errors import MSG_RESOURCE_NOT_FOUND, RESOURCE_NOT_FOUND, DynamoDBError
from .operations import OPERATIONS
from .table import Item, TableState

if TYPE_CHECKING:
    import pandas as pd

# labkit defaults, not AWS figures: DynamoDB answers single-item requests in a few ms.
DEFAULT_LATENCY_S = 0.005
DEFAULT_JITTER_S = 0.0


class LatencySetting(NamedTuple):
    """Latency of a call (seconds) plus a seeded uniform jitter of up to ``jitter_s``."""
    latency_s: float
    jitter_s: float


class CallDetail(NamedTuple):
    """``CallRecord.detail`` of a DynamoDB call: the request's ``params`` and ``data``, the item
    read (GetItem), written (PutItem, UpdateItem) or deleted (DeleteItem), or the number of items
    returned (Query, Scan); None for a refused call or an absent item."""
    params: dict[str, Any]
    data: Any


class DynamoDBBackend:
    """All simulated tables of one Lab, the latency of their calls, and the call records.

    ``request(operation, table_name, params)`` spends the call's latency (inside
    simulated handler code), then applies the operation at one instant and
    returns ``(result_dict)`` or raises ``DynamoDBError``.
    """

    def __init__(self, account: Any = None, seed: Any = 0, latency_s: float = DEFAULT_LATENCY_S,
                 jitter_s: float = DEFAULT_JITTER_S) -> None:
        self.clock = Clock(account)
        self.seed = seed
        self.default_latency = LatencySetting(latency_s, jitter_s)
        self.tables: dict[str, TableState] = {}
        self.records: list[CallRecord] = []
        self._unknown = Latency(latency_s, jitter_s, f"{seed}:dynamodb:<unknown>")

    def create_table(self, name: str, key: str = "id", *, key_type: str = "S", sort_key: str | None = None,
                     sort_key_type: str = "S", items: Any = (), read_units_per_s: float | None = None,
                     write_units_per_s: float | None = None, burst_s: float = 1.0, latency_s: float | None = None,
                     jitter_s: float | None = None) -> TableState:
        """A new empty table (see ``TableState``). ``latency_s``/``jitter_s`` default to the backend's.
        (``items`` is accepted and ignored here: ``Services.dynamodb_table`` puts the initial items.)"""
        if name in self.tables:
            raise InvalidParameterValueException("TableName", name, "a name not already used in this Lab")
        lat = Latency(self.default_latency.latency_s if latency_s is None else latency_s,
                      self.default_latency.jitter_s if jitter_s is None else jitter_s,
                      f"{self.seed}:dynamodb:{name}")
        table = TableState(name, key, key_type=key_type, sort_key=sort_key, sort_key_type=sort_key_type,
                           read_units_per_s=read_units_per_s, write_units_per_s=write_units_per_s,
                           burst_s=burst_s, latency=lat, now=self.clock.now())
        self.tables[name] = table
        return table

    def request(self, operation: str, table_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Spend the call's latency, then apply ``operation`` to the table and return its result."""
        table = self.tables.get(table_name)
        start = self.clock.now()
        rid = self.clock.spend(table.latency if table is not None else self._unknown)
        now = self.clock.now()
        target = params.get("Key") or (params.get("Item") and table is not None and _safe_key(table, params["Item"]))
        if table is None:
            self._record(start, now, rid, table_name, operation, target, RESOURCE_NOT_FOUND, params, None)
            raise DynamoDBError(RESOURCE_NOT_FOUND, MSG_RESOURCE_NOT_FOUND)
        table.calls[operation] += 1
        try:
            table.take_capacity(operation, now)
            result, detail = OPERATIONS[operation](table, params)
        except DynamoDBError as e:
            self._record(start, now, rid, table_name, operation, target, e.code, params, None)
            raise
        self._record(start, now, rid, table_name, operation, target, "ok", params, detail)
        return result

    def _record(self, start: float, now: float, rid: str | None, table: str, operation: str, target: Any,
                outcome: str, params: dict[str, Any], detail: Any) -> None:
        self.records.append(CallRecord(start, now, rid, "dynamodb", table, operation, target, outcome,
                                       CallDetail(params, detail), _describe, seq=self.clock.next_seq()))

    @property
    def calls(self) -> pd.DataFrame:
        """Call records of every table as a DataFrame (see ``CallRecord``)."""
        return records_frame(self.records)


def _safe_key(table: TableState, item: Item) -> Item | None:
    try:
        return table.key_of(item)
    except (KeyError, TypeError):
        return None


def _with_values(text: str, params: dict[str, Any]) -> str:
    """An expression with its placeholders replaced by names and values, for display."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok in names:
            return names[tok]
        if tok in values:
            return show(values[tok], 40)
        return tok
    return re.sub(r"[#:][A-Za-z0-9_]+", sub, text)


def _describe(rec: CallRecord) -> str:
    """One line for a call record: the request, its condition, and what happened."""
    params, detail = rec.detail.params, rec.detail.data
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
