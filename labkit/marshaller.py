"""A handler's return value, serialised the way AWS's Python runtime serialises it.

Lambda's Python runtime (``awslambdaric/lambda_runtime_marshaller.py`` in
github.com/aws/aws-lambda-python-runtime-interface-client, checked 2026-12-05 at its
newest commit, 46e4c6a, June 2026) encodes the response with ``simplejson`` and:

* ``bytes`` returned as the response are sent as they are (content type
  ``application/unknown``), not as JSON;
* a ``decimal.Decimal`` is written as its ``str()`` (raw JSON: ``Decimal("1.50")`` is
  ``1.50``), a NaN Decimal as ``NaN``; so a DynamoDB item, whose numbers are Decimals,
  can be returned as it is;
* float NaN and infinities are written as ``NaN``/``Infinity`` (``allow_nan=True``);
* simplejson's defaults apply: any object with an ``_asdict()`` method (a namedtuple)
  becomes a JSON object, tuples become arrays, ``bytes`` inside the value are decoded as
  UTF-8 strings (as values and as keys), keys may be str, int, float, bool or None;
* anything else fails with ``Runtime.MarshalError`` and the message
  ``Unable to marshal response: <simplejson's error>``, e.g. ``Object of type set is not
  JSON serializable``.

labkit records what the caller receives, i.e. the JSON parsed back: ``marshal_response``
returns that value directly (``json.loads(<what the runtime sends>)``), or the bytes.
``tests/test_marshaller.py`` compares it with the real runtime's marshaller.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_FLOAT_KEY = {math.inf: "Infinity", -math.inf: "-Infinity"}


class MarshalError(ValueError):
    """The response cannot be serialised; ``str(e)`` is simplejson's message."""


def marshal_response(value: Any) -> Any:
    """What the caller of an invocation gets for the handler's return ``value`` (see the module
    docstring): the parsed JSON, or ``bytes`` as they are. Raises ``MarshalError``."""
    if isinstance(value, bytes):
        return value
    try:
        return _plain(value, set())
    except MarshalError:
        raise
    except Exception as e:      # as the runtime: any error while encoding is a marshal error
        raise MarshalError(str(e)) from None


def _plain(o: Any, markers: set) -> Any:
    t = type(o)
    if t is str or t is int or o is None or t is bool:
        return o
    if t is float:
        return o
    if t is dict:
        return _dict(o, markers)
    if t is list:
        return _list(o, markers)
    if isinstance(o, str):
        return str.__str__(o)
    if isinstance(o, bytes):
        return o.decode("utf-8")
    if isinstance(o, bool):
        return bool(o)
    if isinstance(o, int):
        return int(o)
    if isinstance(o, float):
        return float(o)
    asdict = getattr(o, "_asdict", None)
    if asdict is not None and callable(asdict):
        d = asdict()
        if not isinstance(d, dict):
            raise MarshalError(f"_asdict() must return a dict, not {type(d).__name__}")
        return _dict(d, markers)
    if isinstance(o, (list, tuple)):
        return _list(o, markers)
    if isinstance(o, dict):
        return _dict(o, markers)
    if isinstance(o, Decimal):
        # the runtime writes str(o) as raw JSON (NaN for NaN): parsing it back gives this
        return math.nan if o.is_nan() else json.loads(str(o))
    raise MarshalError(f"Object of type {type(o).__name__} is not JSON serializable")


def _enter(o: Any, markers: set) -> int:
    key = id(o)
    if key in markers:
        raise MarshalError("Circular reference detected")
    markers.add(key)
    return key


def _list(o: Any, markers: set) -> list:
    if not o:
        return []
    key = _enter(o, markers)
    out = [_plain(v, markers) for v in o]
    markers.discard(key)
    return out


def _dict(o: dict, markers: set) -> dict:
    if not o:
        return {}
    key = _enter(o, markers)
    out = {}
    for k, v in o.items():
        out[_key(k)] = _plain(v, markers)
    markers.discard(key)
    return out


def _key(k: Any) -> str:
    if isinstance(k, str):
        return str.__str__(k)
    if isinstance(k, bytes):
        return k.decode("utf-8")
    if isinstance(k, float):
        if math.isnan(k):
            return "NaN"
        return _FLOAT_KEY.get(k) or float.__repr__(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return str(int(k))
    raise MarshalError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")
