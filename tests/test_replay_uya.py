"""The three decrypted UYA (Medius 1.08) MAS sessions of hashsploit's captures replayed against our
MAS. The dumps are GPL-only and live in ../shared; these tests skip, with the reason, without it."""

from __future__ import annotations

import pytest

from clank_lan.replay import Timing, build_script, load_recording, replay
from tests.conftest import running_engine

DUMPS = "captures/ps2-uya/hashsploit-decrypted-mas/uya_decrypted_mas_{}.txt"


@pytest.mark.parametrize("n", [1, 2, 3])
async def test_uya_mas_session_replays_with_sonys_answers(shared_dir, n):
    script = build_script(load_recording(shared_dir / DUMPS.format(n)))
    (conn,) = script.conns
    # no CLIENT_HELLO: Medius 1.08; the title from the recorded CONNECT_TCP
    assert (conn.service, conn.version, conn.app_id, conn.encrypt) == ("MAS", 108, 10684, True)
    assert [w.name for w in conn.handshake] == [
        "SERVER_CRYPTKEY_PEER",
        "SERVER_CRYPTKEY_GAME",
        "SERVER_CONNECT_ACCEPT_TCP",
        "SERVER_CONNECT_COMPLETE",
    ]
    async with running_engine() as engine:
        report = await replay(script, engine, timing=Timing(answer=1.0))
    assert report.ok, report.format()
    answered = {s.what: {w.name for w in s.actual} for s in report.steps if s.kind == "answers"}
    assert answered["SessionBegin"] == {"SessionBeginResponse"}
    assert answered["SetLocalizationParams"] == {"StatusResponse0"}
    assert answered["DnasSignaturePost"] == set()
    login = next(s for s in report.steps if s.what.startswith("AccountLogin"))
    assert {w.name for w in login.actual} == {"AccountLoginResponse"}
    assert ("line 63" if n != 2 else "line 83") == login.expected[0].source
    hs = report.steps[0]
    assert [w.size for w in hs.actual] == [w.size for w in hs.expected] == [64, 64, 23, 2]
    assert all(b.equal for b in hs.bytes)


async def test_uya_retried_login_is_one_exchange(shared_dir):
    """Session 2: the console sent DnasSignaturePost + AccountLogin, got no answer, echoed, and sent
    both again; Sony answered once. Ours answers each login; as one exchange the types agree."""
    script = build_script(load_recording(shared_dir / DUMPS.format(2)))
    (login,) = [ex for ex in script.exchanges if ex.what.startswith("AccountLogin")]
    assert login.source == "line 58+line 78" and len(login.expected) == 1
    async with running_engine() as engine:
        report = await replay(script, engine, timing=Timing(answer=1.0))
    step = report.step("line 78")
    assert step.ok and len(step.sent) == 2, step.listing()
    assert report.step("line 63").what == "CLIENT_ECHO" and report.step("line 63").ok
