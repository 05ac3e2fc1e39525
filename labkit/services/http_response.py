"""HTTP answers of the simulated services, shaped as ``urllib.request.urlopen`` gives them.

The state model (``labkit.services.reference``) answers ``(status, headers,
body)``; ``respond`` turns that into what ``urlopen`` returns (a
``SimulatedResponse``) or raises (``urllib.error.HTTPError`` for 4xx/5xx). Both
the handler-side ``urllib`` (``fake_urllib``) and the notebook helper
``ReferenceService.get`` use it, so neither needs the other.
"""

from __future__ import annotations

import io
import urllib.error
from collections.abc import Mapping
from http.client import HTTPMessage
from typing import Protocol
from urllib.parse import urlsplit

REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests"}


class HttpService(Protocol):
    """What ``respond`` needs of a service: one request in, ``(status, headers, body)`` out."""

    def handle(self, method: str, path: str) -> tuple[int, Mapping[str, str], bytes]: ...


class SimulatedResponse(io.BytesIO):
    """What ``urlopen`` returns for a 2xx answer (a file-like object, like http.client.HTTPResponse)."""

    def __init__(self, url: str, status: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(body)
        self.url = url
        self.status = self.code = status
        self.reason = self.msg = REASONS.get(status, "")
        self.headers = _message(headers)

    def getcode(self) -> int:
        return self.status

    def geturl(self) -> str:
        return self.url

    def info(self) -> HTTPMessage:
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def __repr__(self) -> str:
        return f"<simulated response {self.status} from {self.url}>"


def _message(headers: Mapping[str, str]) -> HTTPMessage:
    m = HTTPMessage()
    for k, v in headers.items():
        m[k] = v
    return m


def respond(service: HttpService, url: str, method: str) -> SimulatedResponse:
    """Ask ``service``; return a SimulatedResponse or raise HTTPError like urlopen."""
    status, headers, body = service.handle(method, urlsplit(url).path)
    if status >= 400:
        raise urllib.error.HTTPError(url, status, REASONS.get(status, "Error"), _message(headers), io.BytesIO(body))
    return SimulatedResponse(url, status, headers, body)


__all__ = ["REASONS", "SimulatedResponse", "respond", "HttpService"]
