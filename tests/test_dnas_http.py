"""The DNAS HTTP/1.0 parser and answer, the settings, and fuzzed input to the pure parts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clank_lan.dnas import certs
from clank_lan.dnas.answers import Query
from clank_lan.dnas.http import MAX_BODY, HttpError, parse_request, response
from clank_lan.dnas.settings import DnasSettings
from clank_lan.dnas.sslv2 import Sslv2Error, Sslv2Server


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.0\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize(
    ("path", "region", "query"),
    [
        ("/us-gw/v2.5_i-connect", "us", Query.I_CONNECT),
        ("/eu-gw/v2.5_i-connect/", "eu", Query.I_CONNECT),
        ("/gai-gw/v2.5_others", "jp", Query.OTHERS),
        ("/us-gw/v2.5_others/?x=1", "us", Query.OTHERS),
    ],
)
def test_gateway_paths_map_to_region_and_query(path, region, query):
    request = parse_request(post(path, b"abc", "Content-Type: image/gif\r\n"))
    assert request is not None
    assert (request.region, request.query, request.body) == (region, query, b"abc")


def test_incomplete_request_waits_for_more():
    whole = post("/us-gw/v2.5_others", bytes(100))
    for cut in (0, 10, whole.index(b"\r\n\r\n") + 2, len(whole) - 1):
        assert parse_request(whole[:cut]) is None
    assert parse_request(whole) is not None


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"POST /us-gw/v2.5_others HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1"),
        (b"GET /us-gw/v2.5_others HTTP/1.0\r\n\r\n", "method GET"),
        (b"POST /jp-gw/v2.5_others HTTP/1.0\r\nContent-Length: 0\r\n\r\n", "unknown path"),
        (b"POST /us-gw/../etc/passwd HTTP/1.0\r\nContent-Length: 0\r\n\r\n", "unknown path"),
        (b"POST /us-gw/v2.5_others HTTP/1.0\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"POST /us-gw/v2.5_others HTTP/1.0\r\nContent-Length: 1\r\n\r\nxy", "more bytes"),
        (b"POST /us-gw/v2.5_others HTTP/1.0\r\nno colon\r\n\r\n", "malformed header"),
        (b"hello\r\n\r\n", "not an HTTP request line"),
        (post("/us-gw/v2.5_others", bytes(MAX_BODY + 1)), "larger than"),
        (b"POST " + b"a" * 5000, "longer than"),
    ],
)
def test_bad_requests_raise_with_a_reason(data, match):
    with pytest.raises(HttpError, match=match):
        parse_request(data)


def test_answer_is_http_1_0_with_image_gif():
    expected = b"HTTP/1.0 200 OK\r\nContent-Type: image/gif\r\nContent-Length: 2\r\n\r\n\x01\x02"
    assert response(b"\x01\x02") == expected


@pytest.mark.parametrize(
    "changes",
    [{"port": 70000}, {"regions": ("us", "kr")}, {"regions": ()}, {"regions": ("eu",)},
     {"timeout": 0.0}, {"max_connections": 0}],
)
def test_settings_refuse_impossible_values(changes):
    with pytest.raises(ValueError):
        DnasSettings(**changes)


def test_settings_defaults():
    s = DnasSettings()
    assert (s.enabled, s.port, s.regions, s.certificate_region) == (True, 443, ("us", "eu", "jp"), "us")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_parser_never_fails_otherwise_than_with_http_error(data):
    try:
        parse_request(data)
    except HttpError:
        pass


@pytest.fixture(scope="module")
def identity():
    return certs.load_or_create(None, ("us",))


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=300), max_size=5),
    prefix=st.sampled_from([b"", b"\x80\x2e\x01\x00\x02", b"\x80\x2e\x01\x00\x02\x00\x03\x00\x00\x00\x10"]),
)
def test_sslv2_server_never_fails_otherwise_than_with_sslv2_error(identity, chunks, prefix):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    try:
        for i, chunk in enumerate(chunks):
            server.receive((prefix if i == 0 else b"") + chunk)
    except Sslv2Error:
        pass
