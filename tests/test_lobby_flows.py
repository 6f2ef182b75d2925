"""Headless clients against the real servers over sockets on 127.0.0.1: the UYA (1.08) and
Deadlocked (1.10) flows from login to the DME hand-off, and what persists."""

from __future__ import annotations

import pytest
import trio

from clank_lan.client.dme_client import connect_dme
from clank_lan.client.lobby import ClientError, LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.commands import run_command
from clank_lan.protocol import medius as m
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import Frame
from clank_lan.protocol.framing import RawFrame
from clank_lan.protocol.medius.enums import GameHostType, NetConnectionType
from clank_lan.protocol.rt_ids import RT
from tests.conftest import ephemeral_config, ports_of, running_engine

TITLES = ["uya", "dl"]


@pytest.mark.parametrize("title", TITLES)
async def test_login_chat_create_see_and_join(title):
    prof = profile(title)
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", prof, ports) as alice,
            LobbyClient.open("127.0.0.1", prof, ports) as bob,
            LobbyClient.open("127.0.0.1", prof, ports) as carol,
        ):
            a = await alice.login("alice", "pw-a", register=True)
            b = await bob.login("bob", "pw-b")
            await carol.login("carol", "pw-c")
            assert a.account_id != b.account_id
            assert a.mls_port == engine.port("mls") and a.mls_ip == "127.0.0.1"

            channels = await alice.channels()
            assert channels and channels[0].world_id == a.world_id
            names = await alice.players_in_channel(a.world_id)
            assert {"alice", "bob", "carol"} <= set(names)

            await alice.chat("hello from alice")
            line = await bob.next_chat()
            assert (line.originator_account_name, line.text) == ("alice", "hello from alice")
            line = await carol.next_chat()
            assert line.text == "hello from alice"

            await bob.chat("psst", whisper_to=a.account_id)
            whisper = await alice.next_chat()
            assert whisper.text == "psst" and whisper.originator_account_name == "bob"

            game_id = await alice.create_game("Friday night")
            games = await carol.games()
            assert [g.game_name for g in games] == ["Friday night"]
            assert games[0].world_id == game_id

            with pytest.raises(ClientError, match="GAME_NAME_EXISTS"):
                await bob.create_game("friday NIGHT")

            host = await alice.join_game(game_id)
            guest = await carol.join_game(game_id)
            assert host.dme_port == engine.port("dme_tcp") and host.dme_ip == "127.0.0.1"
            assert host.nat_port == engine.port("nat")
            assert host.world_id == guest.world_id
            assert host.access_key != guest.access_key and len(host.access_key) == 16
            game = engine.lobby.lobby.games[game_id]
            assert sorted(p.index for p in game.players.values()) == [0, 1]
            assert game.players[host.session_key].index == 0  # the host joins first: slot 0


def record_frames(client: LobbyClient) -> list[tuple[RawFrame, Frame]]:
    """Every frame the client's MLS connection opens from now on, as it came and as it read."""
    link = client.mls.rt.link
    opened: list[tuple[RawFrame, Frame]] = []
    open_frame = link.open

    def recording(raw: RawFrame, extra: str = "") -> Frame:
        frame = open_frame(raw, extra)
        opened.append((raw, frame))
        return frame

    link.open = recording
    return opened


def app_frames(opened: list[tuple[RawFrame, Frame]]) -> list[tuple[RawFrame, Frame]]:
    return [(raw, f) for raw, f in opened if f.id == RT.SERVER_APP]


@pytest.mark.parametrize("title", TITLES)
async def test_a_channel_line_is_encrypted_once_for_all_and_a_whisper_for_one(title):
    """The MLS gives every connection one GAME key, so a channel's chat line is the same bytes
    (context 1) for every encrypted member; a whisper stays under the receiver's own key, and a
    member that talks clear gets the line clear."""
    prof = profile(title)
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", prof, ports) as alice,
            LobbyClient.open("127.0.0.1", prof, ports) as bob,
            LobbyClient.open("127.0.0.1", prof, ports) as carol,
            LobbyClient.open("127.0.0.1", prof, ports, encrypt=False) as dave,
        ):
            a = await alice.login("alice", "pw-a")
            await bob.login("bob", "pw-b")
            await carol.login("carol", "pw-c")
            await dave.login("dave", "pw-d")
            keys = [c.mls.rt.game_key for c in (alice, bob, carol)]
            assert keys[0] is not None and len(keys[0]) == 64 and keys.count(keys[0]) == 3
            assert alice.mls.rt.peer_keys[-1] != bob.mls.rt.peer_keys[-1]  # each its own context 3
            to_bob, to_carol, to_dave = (record_frames(c) for c in (bob, carol, dave))

            await alice.chat("hello, all of you")
            for c in (bob, carol, dave):
                assert (await c.next_chat()).text == "hello, all of you"
            ((b_raw, b_frame),), ((c_raw, c_frame),) = app_frames(to_bob), app_frames(to_carol)
            assert b_frame.ctx == c_frame.ctx == Ctx.RC_SERVER_SESSION
            assert (b_raw.hash, b_raw.payload) == (c_raw.hash, c_raw.payload)  # one encryption
            ((d_raw, d_frame),) = app_frames(to_dave)
            assert d_frame.ctx is None and d_raw.payload == b_frame.payload

            await bob.chat("just you", whisper_to=a.account_id)
            opened = record_frames(alice)
            assert (await alice.next_chat()).text == "just you"
            ((_raw, whisper),) = app_frames(opened)
            assert whisper.ctx == Ctx.RC_CLIENT_SESSION


@pytest.mark.parametrize("title", TITLES)
async def test_clear_clients_get_the_same_flow(title):
    async with (
        running_engine() as engine,
        LobbyClient.open("127.0.0.1", profile(title), ports_of(engine), encrypt=False) as c,
    ):
        info = await c.login("plain", "pw")
        assert info.account_id > 0
        assert await c.create_game("clear game") > 0


async def test_buddies_clans_and_stats_round_trip():
    prof = profile("dl")
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", prof, ports) as alice,
            LobbyClient.open("127.0.0.1", prof, ports) as bob,
        ):
            await alice.login("alice", "a")
            b = await bob.login("bob", "b")
            await alice.add_buddy(b.account_id)
            assert await alice.buddies() == ["bob"]

            clan_id = await alice.create_clan("Qwarks")
            clan = await bob.clan_by_id(clan_id)
            assert clan.clan_name == "Qwarks" and clan.leader_account_name == "alice"
            await alice.invite_to_clan(b.account_id, "join the Qwarks")
            invitations = await bob.clan_invitations()
            assert [i.text for i in invitations] == ["join the Qwarks"]
            await bob.answer_clan_invitation(invitations[0].clan_invitation_id)
            assert sorted(await alice.clan_members(clan_id)) == ["alice", "bob"]

            stats = bytes(range(256))
            await bob.set_stats(stats)
            assert await alice.player_stats(b.account_id) == stats
            wide = list(range(100))
            await bob.set_wide_stats(wide)
            assert await alice.wide_stats(b.account_id) == tuple(wide)


async def test_wrong_password_and_duplicate_login_are_refused():
    prof = profile("uya")
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with LobbyClient.open("127.0.0.1", prof, ports) as c1:
            await c1.login("dave", "right")
            async with LobbyClient.open("127.0.0.1", prof, ports) as c2:
                with pytest.raises(ClientError, match="ACCOUNT_LOGGED_IN"):
                    await c2.login("dave", "right")
        async with LobbyClient.open("127.0.0.1", prof, ports) as c3:
            with pytest.raises(ClientError, match="INVALID_PASSWORD"):
                await c3.login("dave", "wrong")


async def test_auto_create_off_refuses_unknown_accounts():
    cfg = ephemeral_config("[accounts]\nauto_create = false\n")
    async with (
        running_engine(cfg) as engine,
        LobbyClient.open("127.0.0.1", profile("uya"), ports_of(engine)) as c,
    ):
        with pytest.raises(ClientError, match="ACCOUNT_NOT_FOUND"):
            await c.login("nobody", "pw")
        info = await c.login("somebody", "pw", register=True)
        assert info.account_id > 0


async def test_restart_with_same_data_dir_keeps_accounts(tmp_path):
    prof = profile("uya")
    ids = {}
    async with running_engine(data_dir=tmp_path) as engine:
        for name in ("erin", "frank"):
            async with LobbyClient.open("127.0.0.1", prof, ports_of(engine)) as c:
                ids[name] = (await c.login(name, f"{name}-pw")).account_id
                await c.set_stats(bytes([7]) * 256)
    async with running_engine(data_dir=tmp_path) as engine:
        assert {a.name for a in engine.db.accounts.listing()} == {"erin", "frank"}
        for name in ("erin", "frank"):
            async with LobbyClient.open("127.0.0.1", prof, ports_of(engine)) as c:
                assert (await c.login(name, f"{name}-pw")).account_id == ids[name]
                assert await c.player_stats(ids[name]) == bytes([7]) * 256
        async with LobbyClient.open("127.0.0.1", prof, ports_of(engine)) as c:
            with pytest.raises(ClientError, match="INVALID_PASSWORD"):
                await c.login("erin", "not-her-password")


async def test_operator_commands_from_chat_console_share_one_registry(loopback_clock):
    cfg = ephemeral_config('[lobby]\noperators = ["boss"]\n')
    async with running_engine(cfg) as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", profile("uya"), ports) as boss,
            LobbyClient.open("127.0.0.1", profile("uya"), ports) as pest,
        ):
            await boss.login("boss", "x")
            await pest.login("pest", "y")
            out = await boss.admin("players")
            assert any("pest" in line for line in out)
            refused = await pest.admin("kick boss")
            assert refused and "operators" in refused[0]
            out = await boss.admin("broadcast server restarts soon")
            assert out == ["sent to 2 consoles"] or "sent to" in out[-1]
            with trio.fail_after(5):
                while "server restarts soon" not in pest.mls.system_messages:
                    await trio.sleep(0.02)
            lines = run_command(engine, "kick pest cheating", actor="console")
            assert lines == ["kicked pest: cheating"]
            with trio.fail_after(5):
                while engine.lobby.lobby.by_name("pest") is not None:
                    await trio.sleep(0.02)
            assert "pest" not in "\n".join(run_command(engine, "players"))


async def _wait_for(predicate, timeout: float = 5.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


@pytest.mark.parametrize("title", TITLES)
async def test_dme_joins_and_leaves_update_the_lobby_game(title, loopback_clock):
    prof = profile(title)
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", prof, ports) as host,
            LobbyClient.open("127.0.0.1", prof, ports) as guest,
        ):
            await host.login("host", "h")
            await guest.login("guest", "g")
            game_id = await host.create_game("lan party")
            game = engine.lobby.lobby.games[game_id]
            hj = await host.join_game(game_id)
            async with connect_dme(host.dme_params(hj)) as hd:
                assert hd.index == 0
                await host.world_report(game_id, "lan party", status=2)
                await _wait_for(lambda: game.status == 2)
                gj = await guest.join_game(game_id)
                async with connect_dme(guest.dme_params(gj)) as gd:
                    assert gd.index == 1
                    await _wait_for(lambda: all(p.connected for p in game.players.values()))
                    assert len(game.players) == 2
                    assert [g.player_count for g in await guest.games()] == [2]
                await _wait_for(lambda: len(game.players) == 1)
            if title == "uya":  # the host leaving ends a UYA game at once
                await _wait_for(lambda: game_id not in engine.lobby.lobby.games)
            else:
                await _wait_for(lambda: not game.players)
            assert engine.lobby.lobby.sessions[hj.session_key].game_id is None


async def test_a_game_nobody_connects_to_disappears_after_its_timeout(loopback_clock):
    cfg = ephemeral_config("[timeouts]\ndme_empty_world = 0.5\n")
    async with (
        running_engine(cfg) as engine,
        LobbyClient.open("127.0.0.1", profile("dl"), ports_of(engine)) as c,
    ):
        await c.login("lonely", "pw")
        await c.create_game("ghost town")
        assert [g.game_name for g in await c.games()] == ["ghost town"]
        await _wait_for(lambda: not engine.lobby.lobby.games, timeout=6)
        assert await c.games() == []


async def test_end_game_report_closes_the_world():
    async with (
        running_engine() as engine,
        LobbyClient.open("127.0.0.1", profile("uya"), ports_of(engine)) as c,
    ):
        await c.login("finisher", "pw")
        game_id = await c.create_game("short one")
        world = engine.lobby.lobby.games[game_id].dme_world_id
        await c.mls.send(
            m.EndGameReport(session_key=c.session_key, world_id=game_id, winning_team="blue", final_score=10)
        )
        await _wait_for(lambda: game_id not in engine.lobby.lobby.games)
        assert engine.dme.world_info(world) is None or world not in engine.dme.world_ids()


async def test_peer_to_peer_games_hand_joiners_the_host_address():
    prof = profile("uya")
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", prof, ports) as host,
            LobbyClient.open("127.0.0.1", prof, ports) as guest,
        ):
            await host.login("p2phost", "h")
            await guest.login("p2pguest", "g")
            game_id = await host.create_game("console hosted", host_type=GameHostType.PEER_TO_PEER)
            assert engine.lobby.lobby.games[game_id].dme_world_id is None  # no DME world
            joined = await guest.join_game(game_id)
            assert joined.connection_type == NetConnectionType.PEER_TO_PEER_UDP
            assert joined.dme_ip == "127.0.0.1"  # the host console's address, not a DME
            assert joined.nat_port == engine.port("nat")


@pytest.mark.parametrize("title", TITLES)
async def test_join_another_channel_reconnects_and_scopes_chat(title, loopback_clock):
    cfg = ephemeral_config('[[lobby.channels]]\nname = "Tournament"\nmax_players = 4\n')
    prof = profile(title)
    async with running_engine(cfg) as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", prof, ports) as alice,
            LobbyClient.open("127.0.0.1", prof, ports) as bob,
            LobbyClient.open("127.0.0.1", prof, ports) as carol,
        ):
            for c, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
                await c.login(name, "pw")
            channels = {ch.lobby_name: ch for ch in await alice.channels()}
            assert "Tournament" in channels and channels["Tournament"].max_players == 4
            target = channels["Tournament"].world_id
            await alice.join_channel(target)  # answers with connect info; the client reconnects
            await bob.join_channel(target)
            assert sorted(await alice.players_in_channel(target)) == ["alice", "bob"]
            await alice.chat("tournament only")
            line = await bob.next_chat()
            assert line.text == "tournament only"
            with pytest.raises(trio.TooSlowError):
                await carol.next_chat(timeout=0.3)  # carol stayed in the default channel
