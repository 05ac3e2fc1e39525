"""The integer-parameter check shared by an SQS queue and its event source mapping."""

from __future__ import annotations

from typing import Any

from ... import validation


def int_param(parameter: str, value: Any, lo: int, hi: int, unit: str = "") -> int:
    """``value`` as an int from ``lo`` to ``hi`` (a float with an integer value counts; a bool does
    not), or ``InvalidParameterValueException`` naming ``parameter``."""
    return validation.integer(parameter, value, lo, hi, unit=unit, whole_floats=True)
