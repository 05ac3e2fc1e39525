"""The integer-parameter check shared by an SQS queue and its event source mapping."""

from __future__ import annotations

from typing import Any

from ...errors import InvalidParameterValueException


def int_param(parameter: str, value: Any, lo: int, hi: int, unit: str = "") -> int:
    """``value`` as an int from ``lo`` to ``hi`` (a float with an integer value counts; a bool does
    not), or ``InvalidParameterValueException`` naming ``parameter``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterValueException(parameter, value, f"an integer from {lo:,} to {hi:,}{unit}")
    return value
