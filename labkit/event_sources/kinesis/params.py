"""The integer-parameter check shared by a Kinesis stream and its event source mapping."""

from __future__ import annotations

from typing import Any

from ... import validation


def check_int(name: str, value: Any, lo: int, hi: int, also: int | None = None, allowed: str | None = None) -> int:
    """``value`` if it is an int (not a bool) from ``lo`` to ``hi`` or equal to ``also``, else
    ``InvalidParameterValueException`` naming ``name`` and saying what is ``allowed``."""
    if also is not None and validation.is_int(value) and value == also:
        return value
    return validation.integer(name, value, lo, hi, allowed=allowed)
