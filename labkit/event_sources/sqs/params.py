"""The integer-parameter check shared by an SQS queue and its event source mapping."""

from ...errors import InvalidParameterValueException


def int_param(parameter, value, lo, hi, unit=""):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterValueException(parameter, value, f"an integer from {lo:,} to {hi:,}{unit}")
    return value
