"""``urllib`` / ``urllib.request`` as simulated handler code sees them.

There is no network in the simulator: ``urlopen`` reaches only the Lab's
simulated HTTP services (``lab.reference_service(...)``), matched by host
(http or https); any other URL raises ``urllib.error.URLError`` saying so. Answers
behave as the standard library's: a response object with ``read()``,
``status``, ``headers`` (usable in ``with``), and ``urllib.error.HTTPError``
for 4xx/5xx (``e.code == 429`` when rate-limited). ``urllib.parse`` and
``urllib.error`` are the real modules.
"""

import io
import types
import urllib.error as _error
import urllib.parse as _parse
import urllib.request as _real_request
import urllib.response as _response
from http.client import HTTPMessage
from urllib.parse import urlsplit

from .. import bridge


class SimulatedResponse(io.BytesIO):
    """What ``urlopen`` returns for a 2xx answer (a file-like object, like http.client.HTTPResponse)."""

    def __init__(self, url, status, headers, body):
        super().__init__(body)
        self.url = url
        self.status = self.code = status
        from .reference import REASONS
        self.reason = self.msg = REASONS.get(status, "")
        self.headers = _message(headers)

    def getcode(self):
        return self.status

    def geturl(self):
        return self.url

    def info(self):
        return self.headers

    def getheader(self, name, default=None):
        return self.headers.get(name, default)

    def getheaders(self):
        return list(self.headers.items())

    def __repr__(self):
        return f"<simulated response {self.status} from {self.url}>"


def _message(headers):
    m = HTTPMessage()
    for k, v in headers.items():
        m[k] = v
    return m


def respond(service, url, method):
    """Ask ``service``; return a SimulatedResponse or raise HTTPError like urlopen."""
    status, headers, body = service.handle(method, urlsplit(url).path)
    if status >= 400:
        from .reference import REASONS
        raise _error.HTTPError(url, status, REASONS.get(status, "Error"), _message(headers), io.BytesIO(body))
    return SimulatedResponse(url, status, headers, body)


def make_modules(services):
    """``(urllib, urllib.request)`` modules wired to ``services.http`` (one pair per Lab)."""
    req = types.ModuleType("urllib.request", "urllib.request in the simulator: only simulated services answer")
    for k in dir(_real_request):
        if not k.startswith("__"):
            setattr(req, k, getattr(_real_request, k))

    def urlopen(url, data=None, timeout=None, *, context=None, **_):
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

    def _no_network(*args, **kwargs):
        raise _error.URLError("no network in the simulator: use urllib.request.urlopen(url) to reach a "
                              "simulated service")

    req.urlopen = urlopen
    req.urlretrieve = _no_network
    req.build_opener = _no_network
    top = types.ModuleType("urllib", "urllib in the simulator")
    top.request, top.parse, top.error, top.response = req, _parse, _error, _response
    return top, req
