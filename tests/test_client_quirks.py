"""Title quirks seen from a console: what a title that needs one gets from the running appliance."""

from __future__ import annotations

import dataclasses

import pytest

from clank_lan.client.lobby import LobbyClient
from clank_lan.client.profiles import ClientProfile
from clank_lan.protocol import medius as m
from clank_lan.titles import ALL_TITLES, Quirk

from .conftest import ports_of, running_engine

LOCAL = "127.0.0.1"


def as_console_of(title) -> ClientProfile:
    """A client for a title the headless client has no key for: borrow UYA's key pair (the server
    accepts any client key; the title is told by the app id)."""
    return ClientProfile(title.key, dataclasses.replace(title, client_key="client_uya_ps2_ntsc"))


@pytest.mark.parametrize(
    "title", [t for t in ALL_TITLES if Quirk.VERSION_BEFORE_SESSION in t.quirks], ids=lambda t: t.key
)
async def test_version_server_before_the_session_is_answered(title):
    async with (
        running_engine() as engine,
        LobbyClient.open(LOCAL, as_console_of(title), ports_of(engine)) as c,
    ):
        link = await c._link("MAS", engine.port("mas"))
        reply = await link.request(m.VersionServerRequest(), m.VersionServerResponse, timeout=5)
        # the title's own server version string where one is known, else ours
        assert reply.version_server == (title.version_server or reply.version_server)
        assert reply.version_server.startswith(("clank-lan", "Medius Authentication Server"))
        begin = await link.request(
            m.SessionBeginRequest(connection_class=1), m.SessionBeginResponse, timeout=5
        )
        assert begin.session_key  # and the session still begins after it
