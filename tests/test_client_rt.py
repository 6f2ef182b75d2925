"""The headless console's RT client: what it writes as a title would."""

from __future__ import annotations

from clank_lan.client.rt_client import RtClient
from clank_lan.protocol.framing import TcpDeframer
from clank_lan.protocol.rt_ids import RT


def _client(version: int) -> RtClient:
    return RtClient(service="MAS", peer=("127.0.0.1", 10075), version=version, app_id=10684)


def test_a_108_title_says_goodbye_with_an_empty_clear_client_disconnect():
    """uya-pal-login-decrypted.txt, last frame: ``01 CLIENT_DISCONNECT clear len=0``."""
    c = _client(108)
    c.rt.link.send_ctx = 3  # even on an encrypted session the goodbye goes out in clear
    c.disconnect()
    assert c.outbox.take() == b"\x01\x00\x00"


def test_a_109_title_sends_disconnect_with_reason_1():
    c = _client(110)
    c.disconnect()
    (raw,) = TcpDeframer().feed(c.outbox.take())
    assert raw.id == RT.CLIENT_DISCONNECT_WITH_REASON and raw.payload == b"\x01"
