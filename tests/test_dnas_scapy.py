"""The DNAS gateway on a real socket with scapy's independent TLS and SSL 2.0 clients
(tests/scapy_clients.py)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
import trio

from clank_lan.dnas.events import DnasRequest
from clank_lan.dnas.gateway import DnasGateway
from clank_lan.dnas.settings import DnasSettings
from tests.test_dnas_answers import crafted_i_connect
from tests.test_dnas_service import GAME, assert_personalised_answer, http_post, running


@pytest.fixture(scope="module")
def gateway() -> DnasGateway:
    return DnasGateway.load(DnasSettings(), None)


@pytest.fixture(scope="module")
def scapy() -> ModuleType:
    """The scapy clients, loaded when these tests run rather than when every test worker collects
    (scapy's TLS layer takes 1.5 s to import)."""
    pytest.importorskip("cryptography", reason="scapy's TLS layer needs the 'cryptography' package")
    return importlib.import_module("tests.scapy_clients")


@pytest.mark.parametrize("version", [0x0300, 0x0301], ids=["SSL3", "TLS1.0"])
@pytest.mark.parametrize(
    "suite", ["TLS_RSA_WITH_RC4_128_MD5", "TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]
)
async def test_scapy_tls_client_gets_the_personalised_answer(gateway, scapy, version, suite):
    body = crafted_i_connect(GAME, 12)
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, certificate = await trio.to_thread.run_sync(
                scapy.scapy_tls_exchange, port, version, suite, http_post("/us-gw/v2.5_i-connect/", body))
    assert_personalised_answer(data, body)
    assert certificate == gateway.certificate
    assert [type(e) for e in events] == [DnasRequest]


async def test_ssl2_format_hello_offering_tls_is_served_by_tls(gateway, scapy):
    body = crafted_i_connect(GAME, 15)
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, _ = await trio.to_thread.run_sync(
                scapy.scapy_tls_exchange, port, 0x0301, "TLS_RSA_WITH_RC4_128_MD5",
                http_post("/us-gw/v2.5_i-connect", body), True)
    assert_personalised_answer(data, body)
    assert events[0].protocol == "TLS 1.0 TLS_RSA_WITH_RC4_128_MD5"


@pytest.mark.parametrize(("cipher", "name"), [(0x010080, "SSL_CK_RC4_128_WITH_MD5"),
                                              (0x0700C0, "SSL_CK_DES_192_EDE3_CBC_WITH_MD5")])
async def test_scapy_sslv2_client_gets_the_personalised_answer(gateway, scapy, cipher, name):
    body = crafted_i_connect(GAME, 13)
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, certificate = await trio.to_thread.run_sync(
                scapy.scapy_sslv2_exchange, port, cipher, http_post("/us-gw/v2.5_i-connect", body))
    assert_personalised_answer(data, body)
    assert certificate == gateway.certificate
    (event,) = events
    assert event.protocol == f"SSL 2.0 {name}"
    assert event.answered
