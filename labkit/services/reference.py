"""A simulated reference-data service: an HTTP dependency with latency and a rate limit.

The state model of a small read-only JSON API (think exchange rates or a
price list owned by another team). Handlers reach it with plain
``urllib.request.urlopen(url)`` (see ``fake_urllib``); notebooks can call
``service.get(path)`` directly.

* ``GET {url}/`` answers ``{"service", "version", "as_of", "data"}`` (all the data);
  ``GET {url}/{key}`` answers ``{"key", "value", "version", "as_of"}``, or 404.
* **Versions.** The data carries a version and the instant it became valid
  (``as_of``, ISO 8601 UTC). With ``version_every_s`` a new version starts
  every that many simulated seconds (``data`` may then be a function of the
  version number); ``service.publish(data)`` starts a new version now. A
  handler that caches a response can therefore serve stale data.
* **Rate limit.** With ``rps_limit`` the service admits that many requests per
  second (a token bucket holding one second of requests); the others get HTTP
  429 Too Many Requests with ``Retry-After: 1``.
* **Timing** follows ``labkit.services.base``: a call takes ``latency_s`` and
  the service answers as of the end of that time.
* ``calls``, ``refusals`` (429s) and ``not_found`` count requests;
  ``records`` keeps one ``CallRecord`` per request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from .. import validation
from ..errors import InvalidParameterValueException, SimulationError
from ..scaling import TokenBucket
from .base import CallRecord, Clock, Latency, records_frame
from .http_response import REASONS, respond

if TYPE_CHECKING:
    import pandas as pd

    from ..runtime import Account

Data = dict[str, Any] | Callable[[int], dict[str, Any]]   # the data, or a function of the version number

# labkit defaults, not AWS figures: a small internal HTTP API in the same Region.
DEFAULT_LATENCY_S = 0.030
DEFAULT_JITTER_S = 0.0


class DataVersion(NamedTuple):
    """One version of a service's data: valid from ``as_of_s``; ``data`` is a dict, or a
    function of the version number that gives one."""

    as_of_s: float
    data: Any


class VersionedData(NamedTuple):
    """The data valid at one instant: its version number, since when (``as_of_s``) and the data."""

    version: int
    as_of_s: float
    data: Any


class ReferenceService:
    """One simulated HTTP service at ``url`` (default ``https://{name}.internal``)."""

    def __init__(self, name: str, data: Data, *, url: str | None = None, latency_s: float = DEFAULT_LATENCY_S,
                 jitter_s: float = DEFAULT_JITTER_S, rps_limit: float | None = None,
                 version_every_s: float | None = None, account: Account | None = None, seed: int = 0) -> None:
        if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
            raise InvalidParameterValueException("name", name, "letters, digits, - and _")
        if not (isinstance(data, dict) or callable(data)):
            raise InvalidParameterValueException("data", type(data).__name__,
                                                 "a dict (key -> JSON value) or a function version -> dict")
        if rps_limit is not None:
            validation.number("rps_limit", rps_limit, 0, lo_open=True, allowed="None (no limit) or a finite number > 0")
        if version_every_s is not None:
            validation.seconds("version_every_s", version_every_s, lo_open=True,
                               allowed=f"None or a number of seconds > 0 and at most {validation.MAX_SIMULATED_S:,.0f}")
        self.name = name
        self.url = (url or f"https://{name}.internal").rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidParameterValueException("url", url, "an http:// or https:// URL")
        self.netloc, self.base_path = parts.netloc.lower(), parts.path.rstrip("/")
        self.clock = Clock(account)
        self._epoch = account.epoch if account is not None else datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
        self.latency = Latency(latency_s, jitter_s, f"{seed}:reference:{name}")
        self.rps_limit = rps_limit
        self._bucket = TokenBucket(max(1.0, rps_limit), rps_limit, self.clock.now()) if rps_limit else None
        self.version_every_s = version_every_s
        self._versions = [DataVersion(self.clock.now(), data)]
        self.calls = 0
        self.refusals = 0
        self.not_found = 0
        self.records: list[CallRecord] = []

    def __repr__(self) -> str:
        limit = f", {self.rps_limit:g} requests/s" if self.rps_limit else ""
        return f"<simulated service {self.name} at {self.url}{limit}>"

    # -- data versions ---------------------------------------------------------------------------
    def version_at(self, t: float) -> VersionedData:
        """The ``VersionedData`` (version number, as_of seconds, data) valid at simulated time ``t``."""
        if self.version_every_s:
            first = self._versions[0]
            n = int(math.floor(max(0.0, t - first.as_of_s) / self.version_every_s + 1e-9))
            version, as_of, data = n + 1, first.as_of_s + n * self.version_every_s, first.data
        else:
            version = max(i for i, v in enumerate(self._versions) if v.as_of_s <= t or i == 0) + 1
            current = self._versions[version - 1]
            as_of, data = current.as_of_s, current.data
        return VersionedData(version, as_of, data(version) if callable(data) else data)

    def publish(self, data: Data) -> int:
        """Start a new version of the data now (from a notebook, between runs)."""
        if self.version_every_s:
            raise SimulationError("this service changes version on its own (version_every_s); publish() "
                                  "is for services created without it")
        if not (isinstance(data, dict) or callable(data)):
            raise InvalidParameterValueException("data", type(data).__name__, "a dict or a function version -> dict")
        self._versions.append(DataVersion(self.clock.now(), data))
        return len(self._versions)

    @property
    def version(self) -> int:
        return self.version_at(self.clock.now()).version

    def _iso(self, t: float) -> str:
        return datetime.fromtimestamp(self._epoch + t, timezone.utc).isoformat(timespec="milliseconds") \
            .replace("+00:00", "Z")

    # -- requests ----------------------------------------------------------------------------------
    def handle(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """Serve one request: spend the latency (in simulated code), then answer at one instant.
        Returns ``(status, headers, body_bytes)``."""
        start = self.clock.now()
        rid = self.clock.spend(self.latency)
        now = self.clock.now()
        self.calls += 1
        version = None
        body: dict[str, Any]
        if self._bucket is not None and not self._bucket.take(now):
            self.refusals += 1
            status, body, extra = 429, {"message": "Too Many Requests"}, {"Retry-After": "1"}
        elif method != "GET":
            status, body, extra = 405, {"message": "Method Not Allowed"}, {"Allow": "GET"}
        else:
            version, as_of, data = self.version_at(now)
            key = path[len(self.base_path):].strip("/") if path.startswith(self.base_path) else None
            extra = {"X-Data-Version": str(version)}
            if key == "":
                status, body = 200, {"service": self.name, "version": version, "as_of": self._iso(as_of),
                                     "data": data}
            elif key is not None and key in data:
                status, body = 200, {"key": key, "value": data[key], "version": version, "as_of": self._iso(as_of)}
            else:
                self.not_found += 1
                status, body = 404, {"message": "Not Found"}
        self.records.append(CallRecord(start, now, rid, "http", self.name, method, path or "/", str(status),
                                       version, _describe, seq=self.clock.next_seq()))
        headers = {"Content-Type": "application/json", **extra}
        return status, headers, json.dumps(body).encode()

    def get(self, path: str = "/") -> Any:
        """GET ``path`` and return the decoded JSON (notebook helper). Non-200 answers raise
        ``urllib.error.HTTPError`` as ``urlopen`` would."""
        with respond(self, f"{self.url}/{path.lstrip('/')}", "GET") as r:
            return json.loads(r.read())

    # -- inspection --------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return {"calls": self.calls, "refusals": self.refusals, "not_found": self.not_found}

    @property
    def calls_frame(self) -> pd.DataFrame:
        return records_frame(self.records)


def _describe(rec: CallRecord) -> str:
    status = int(rec.outcome)
    text = f"{rec.operation} {rec.resource} {rec.target} -> {status} {REASONS.get(status, '')}".rstrip()
    if rec.detail is not None:
        text += f" (data version {rec.detail})"
    return text


__all__ = ["ReferenceService", "DataVersion", "VersionedData", "DEFAULT_LATENCY_S", "REASONS"]
