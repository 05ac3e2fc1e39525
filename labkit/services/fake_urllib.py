"""``urllib`` / ``urllib.request`` as simulated handler code sees them.

There is no network in the simulator: ``urlopen`` reaches only the Lab's
simulated HTTP services (``lab.reference_service(...)``), matched by host
(http or https); any other URL raises ``urllib.error.URLError`` saying so. Answers
behave as the standard library's: a response object with ``read()``,
``status``, ``headers`` (usable in ``with``), and ``urllib.error.HTTPError``
for 4xx/5xx (``e.code == 429`` when rate-limited). ``urllib.parse`` and
``urllib.error`` are the real modules.
"""

from __future__ import annotations

import types
import urllib.error as _error
import urllib.parse as _parse
import urllib.request as _real_request
import urllib.response as _response
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .. import bridge
from .http_response import REASONS, SimulatedResponse, respond

if TYPE_CHECKING:
    from .reference import ReferenceService


class HttpServices(Protocol):
    """What the fake ``urllib`` needs of a Lab's services: the HTTP services by host (netloc)."""

    @property
    def http(self) -> Mapping[str, ReferenceService]: ...


def make_modules(services: HttpServices) -> tuple[types.ModuleType, types.ModuleType]:
    """``(urllib, urllib.request)`` modules wired to ``services.http`` (one pair per Lab)."""
    req = types.ModuleType("urllib.request", "urllib.request in the simulator: only simulated services answer")
    for k in dir(_real_request):
        if not k.startswith("__"):
            setattr(req, k, getattr(_real_request, k))

    def urlopen(url: str | _real_request.Request, data: bytes | None = None, timeout: float | None = None, *,
                context: Any = None, **_: Any) -> SimulatedResponse:
        if isinstance(url, _real_request.Request):
            full, method = url.full_url, url.get_method()
        else:
            full, method = str(url), ("POST" if data is not None else "GET")
        parts = urlsplit(full)
        service = services.http.get(parts.netloc.lower()) if parts.scheme in ("http", "https") else None
        if service is None:
            known = ", ".join(s.url for s in services.http.values()) or "none in this Lab"
            raise _error.URLError(
                f"no network in the simulator: {full} is not a simulated service (simulated services: {known})")
        if timeout is not None and bridge.current() is not None and service.latency.latency_s > timeout:
            bridge.sleep(timeout)
            raise _error.URLError(TimeoutError("timed out"))
        return respond(service, full, method)

    def _no_network(*args: Any, **kwargs: Any) -> Any:
        raise _error.URLError("no network in the simulator: use urllib.request.urlopen(url) to reach a "
                              "simulated service")

    vars(req).update(urlopen=urlopen, urlretrieve=_no_network, build_opener=_no_network)
    top = types.ModuleType("urllib", "urllib in the simulator")
    vars(top).update(request=req, parse=_parse, error=_error, response=_response)
    return top, req


__all__ = ["make_modules", "respond", "SimulatedResponse", "REASONS"]
