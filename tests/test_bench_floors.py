"""The floor ``bench/login.py`` prints rests on what a login encrypts: checked against a real login."""

from __future__ import annotations

from collections import Counter

from bench.login import LOGIN_RC4_IN, LOGIN_RC4_OUT, LOGIN_RSA_EXCHANGES
from clank_lan.client.lobby import LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import FrameCipher
from clank_lan.protocol.rt_ids import RT
from tests.conftest import ports_of, running_engine

KEEPALIVES = {RT.CLIENT_ECHO, RT.SERVER_ECHO}  # a login that takes over a second sends some


async def test_a_uya_login_encrypts_what_the_login_floor_counts(monkeypatch):
    rsa: Counter[str] = Counter()
    rc4: dict[str, list[int]] = {"CLIENT": [], "SERVER": []}  # payload sizes, in order
    encrypt = FrameCipher.encrypt

    def counting(self: FrameCipher, rt_id: int, payload: bytes, ctx: int | None) -> bytes:
        if ctx is not None and payload and rt_id not in KEEPALIVES:
            side = RT(rt_id).name.split("_")[0]  # CLIENT or SERVER
            if ctx == Ctx.RSA_AUTH:
                rsa[side] += 1
            else:
                rc4[side].append(len(payload))
        return encrypt(self, rt_id, payload, ctx)

    async with running_engine() as engine:
        ports = ports_of(engine)
        async with LobbyClient.open("127.0.0.1", profile("uya"), ports) as first:
            await first.login("floor", "pw", register=True)
        monkeypatch.setattr(FrameCipher, "encrypt", counting)
        async with LobbyClient.open("127.0.0.1", profile("uya"), ports) as console:
            info = await console.login("floor", "pw")  # a returning login, as the bench's
            await console.join_channel(info.world_id)
    assert rc4 == {"CLIENT": list(LOGIN_RC4_IN), "SERVER": list(LOGIN_RC4_OUT)}
    assert rsa == {"CLIENT": LOGIN_RSA_EXCHANGES, "SERVER": LOGIN_RSA_EXCHANGES}
