"""A session of our headless client, logged by our servers in the frame log format, replays
against a fresh engine with zero mismatches: every log a user attaches to a bug report is a test."""

from __future__ import annotations

import pytest

from clank_lan.client.lobby import LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.replay import build_script, from_hexlog, replay, replay_log
from tests.conftest import ports_of, running_engine
from tests.frame_lines import frame_lines


async def _logged_session(title: str) -> str:
    """Our client through login, chat, games, stats, buddies and clans; the frame log text."""
    with frame_lines() as lines:
        async with (
            running_engine() as engine,
            LobbyClient.open("127.0.0.1", profile(title), ports_of(engine)) as c,
        ):
            info = await c.login("alice", "pw", register=True)
            await c.channels()
            await c.chat("hello")
            game = await c.create_game("friday")
            await c.games()
            await c.join_game(game)
            await c.set_stats(bytes(range(256)))
            await c.player_stats(info.account_id)
            await c.buddies()
            clan = await c.create_clan("the clan")
            await c.clan_by_id(clan)
    return "\n".join(lines)


@pytest.mark.parametrize("title", ["dl", "uya"])
async def test_our_own_log_replays_with_zero_mismatches(title, tmp_path):
    text = await _logged_session(title)
    script = build_script(from_hexlog(text, "session"))
    services = [c.service for c in script.conns]
    assert services == (["MUIS", "MAS", "MLS"] if title == "dl" else ["MAS", "MLS"])
    assert len(script.exchanges) >= 14
    async with running_engine() as engine:
        report = await replay(script, engine)
    assert report.ok, report.format()
    assert len(report.identical) == sum(1 for s in report.steps for b in s.bytes if b.compared)
    # the same log as a file, through the one-call helper, against another fresh engine
    path = tmp_path / "clank-lan.log"
    path.write_text(text)
    async with running_engine() as engine:
        again = await replay_log(path, engine)
    assert again.ok and len(again.steps) == len(report.steps), again.format()
