"""The integer-parameter check shared by a Kinesis stream and its event source mapping."""

from ...errors import InvalidParameterValueException


def check_int(name, value, lo, hi, also=None, allowed=None):
    ok = not isinstance(value, bool) and isinstance(value, int) and (lo <= value <= hi or value == also)
    if not ok:
        raise InvalidParameterValueException(name, value, allowed or f"an integer from {lo:,} to {hi:,}")
    return value
