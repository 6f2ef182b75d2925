"""The HTTP/1.0 the DNAS client speaks: one POST in, one answer out, then close (pure).

The consoles fail on HTTP/1.1 answers, and every request they send is HTTP/1.0 with a length,
so anything else is refused rather than half understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clank_lan.dnas.answers import Query
from clank_lan.dnas.settings import REGION_GATEWAYS

MAX_HEAD = 4096
MAX_BODY = 16384

_PATH = re.compile(r"^/(?P<gw>[a-z]+-gw)/(?P<query>v2\.5_i-connect|v2\.5_others)/?$")
_GATEWAY_REGIONS = {gw: region for region, gw in REGION_GATEWAYS.items()}


class HttpError(ValueError):
    """The request is not one we answer; the text is the log line's reason."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    region: str
    query: Query
    body: bytes


def parse_request(buffer: bytes) -> Request | None:
    """A complete request from ``buffer``, None while more bytes are needed.

    Raises HttpError for anything that is not an HTTP/1.0 POST to a DNAS gateway path.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise HttpError(f"request head is longer than {MAX_HEAD} bytes")
        return None
    try:
        head = buffer[:end].decode("ascii")
    except UnicodeDecodeError:
        raise HttpError("request head is not ASCII (not HTTP)") from None
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HttpError(f"not an HTTP request line: {lines[0][:80]!r}")
    method, target, version = parts
    if version != "HTTP/1.0":
        raise HttpError(f"{version} request refused (DNAS clients speak HTTP/1.0)")
    if method != "POST":
        raise HttpError(f"method {method[:16]} refused (DNAS requests are POSTs)")
    path = target.split("?", 1)[0]
    match = _PATH.match(path)
    if match is None or match["gw"] not in _GATEWAY_REGIONS:
        raise HttpError(f"unknown path {path[:80]!r}")
    length = _content_length(lines[1:])
    if length > MAX_BODY:
        raise HttpError(f"body of {length} bytes is larger than {MAX_BODY}")
    body = buffer[end + 4 :]
    if len(body) < length:
        return None
    if len(body) > length:
        raise HttpError("more bytes than the Content-Length announced")
    return Request(method, path, _GATEWAY_REGIONS[match["gw"]], Query(match["query"]), bytes(body))


def _content_length(header_lines: list[str]) -> int:
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(f"malformed header line {line[:80]!r}")
        if name.strip().lower() == "content-length":
            value = value.strip()
            if not value.isdigit() or len(value) > 9:
                raise HttpError(f"bad Content-Length {value[:20]!r}")
            return int(value)
    raise HttpError("POST without a Content-Length")


def response(body: bytes) -> bytes:
    """``HTTP/1.0 200 OK`` with ``image/gif``, as Sony's gateways answered."""
    head = f"HTTP/1.0 200 OK\r\nContent-Type: image/gif\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body
