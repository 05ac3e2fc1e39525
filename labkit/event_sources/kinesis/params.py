"""The integer-parameter check shared by a Kinesis stream and its event source mapping."""

from __future__ import annotations

from typing import Any

from ...errors import InvalidParameterValueException


def check_int(name: str, value: Any, lo: float, hi: float, also: int | None = None, allowed: str | None = None) -> int:
    """``value`` if it is an int (not a bool) from ``lo`` to ``hi`` or equal to ``also``, else
    ``InvalidParameterValueException`` naming ``name`` and saying what is ``allowed``."""
    ok = not isinstance(value, bool) and isinstance(value, int) and (lo <= value <= hi or value == also)
    if not ok:
        raise InvalidParameterValueException(name, value, allowed or f"an integer from {lo:,} to {hi:,}")
    return value
