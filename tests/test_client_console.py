"""Our headless client behaves like the console it claims to be (issue 9 items 5-8): the MAS
session of the captures, the JoinChannel hand-over, time-base queries per title, replies matched
by id and type, kicks reported, one account per run, ``client admin`` and ``client bot --clear``."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio
import trio.testing

from clank_lan import cli as top_cli
from clank_lan.client import cli
from clank_lan.client.bot import run_bot
from clank_lan.client.lobby import LobbyClient, LobbyClosed, MediusLink, SystemMessage
from clank_lan.client.profiles import PROFILES, profile
from clank_lan.client.rt_client import AppMessage
from clank_lan.dissect.engine import dissect
from clank_lan.protocol import medius as m
from clank_lan.protocol.medius import CodecContext, encode_app, message_type
from clank_lan.protocol.medius.enums import CallbackStatus
from clank_lan.protocol.rt_ids import RT
from clank_lan.stages import Stage

from .conftest import ephemeral_config, ports_of, running_engine

LOCAL = "127.0.0.1"
OPERATOR = "boss"
CAPTURES = Path(__file__).resolve().parents[1].parent / "shared" / "captures"
DECODED = CAPTURES / "decoded"


def operator_config():
    return ephemeral_config(f'[lobby]\noperators = ["{OPERATOR}"]\n')


def server_argv(engine) -> list[str]:
    ports = ports_of(engine)
    return [
        "--server",
        LOCAL,
        "--muis-port",
        str(ports.muis),
        "--mas-port",
        str(ports.mas),
        "--mls-port",
        str(ports.mls),
    ]


def client_args(engine, action: str, *extra: str) -> argparse.Namespace:
    """The parsed ``clank-lan client ACTION`` command line against ``engine``."""
    return top_cli.build_parser("client").parse_args(["client", action, *server_argv(engine), *extra])


def capture_requests(name: str, port: int) -> list[str]:
    """The Medius messages a console sent to ``port`` in a decoded capture, as our class names."""
    path = DECODED / name
    if not path.is_file():
        pytest.skip(f"the decoded captures are not at {DECODED}")
    out = []
    for line in path.read_text().splitlines():
        f = line.split()  # time, transport, src->dst, id, name, ..., payload
        if len(f) > 5 and f[1] == "TCP" and f[2].endswith(f":{port}") and f[4] == "CLIENT_APP_TOSERVER":
            body = bytes.fromhex(f[-1])
            cls = message_type(body[0], body[1])
            out.append(cls.__name__ if cls else f"{body[0]:02x}{body[1]:02x}")
    return out


def sent_on(c: LobbyClient, link: str) -> list[str]:
    return [what for name, what in c.history if name == link]


# --- item 5: the MAS session -----------------------------------------------------------------


async def test_the_uya_mas_session_is_the_pal_captures_and_the_policy_comes_from_the_mls():
    wanted = capture_requests("uya-pal-login-decrypted.txt", 10075)
    assert wanted == [
        "SessionBeginRequest",
        "SetLocalizationParamsRequest",
        "DnasSignaturePost",
        "AccountLoginRequest",
    ]
    async with running_engine() as engine, LobbyClient.open(LOCAL, profile("uya"), ports_of(engine)) as c:
        await c.login("pal-like", "pw")
        assert sent_on(c, "MAS#1") == ["connect", *wanted, "disconnect"]
        assert "GetPolicyRequest" not in [what for _, what in c.history]
        assert await c.policy()  # asked on the MLS, where the console asks
        assert sent_on(c, "MLS#2")[-1] == "GetPolicyRequest"


async def test_the_deadlocked_mas_session_is_b41s_without_the_unanswered_buddy_list():
    b41 = capture_requests("b41-decrypted.txt", 10075)
    # b41 frame 33: GetBuddyList_ExtraInfo before the session, which Sony left unanswered
    assert b41[0] == "GetBuddyListExtraInfoRequest"
    async with running_engine() as engine, LobbyClient.open(LOCAL, profile("dl"), ports_of(engine)) as c:
        await c.login("b41-like", "pw")
        assert sent_on(c, "MAS#2") == ["connect", *b41[1:], "disconnect"]
        assert sent_on(c, "MUIS#1")[0] == "connect"


# --- item 6: JoinChannel ----------------------------------------------------------------------


async def test_join_channel_disconnects_the_old_mls_before_opening_the_new_one():
    opened: list[tuple[int, tuple[str, str] | None]] = []

    async def connect(host: str, port: int) -> trio.abc.Stream:
        opened.append((port, c.history[-1] if c.history else None))
        return await trio.open_tcp_stream(host, port)

    async with running_engine() as engine, LobbyClient.open(LOCAL, profile("uya"), ports_of(engine)) as c:
        c.connect = connect
        await c.login("hopper", "pw")
        first, second = (ch.world_id for ch in (await c.channels())[:2])
        old = c.mls
        await c.join_channel(second)
        history = list(c.history)
        # the answer, then CLIENT_DISCONNECT on the old connection, then the new connection
        assert history[-3:] == [
            ("MLS#2", "JoinChannelRequest"),
            ("MLS#2", "disconnect"),
            ("MLS#3", "connect"),
        ]
        assert opened[-1] == (engine.port("mls"), ("MLS#2", "disconnect"))
        assert old is not None and old.ended.is_set() and c.mls is not old
        assert "hopper" in await c.players_in_channel(second)
        assert first != second


# --- item 7: time-base queries per title ------------------------------------------------------


def test_timebase_queries_are_a_title_fact_matching_the_captures():
    b41 = (DECODED / "b41-decrypted.txt").read_text() if (DECODED / "b41-decrypted.txt").is_file() else ""
    if not b41:
        pytest.skip(f"the decoded captures are not at {DECODED}")
    queries = [ln for ln in b41.splitlines() if " CLIENT_TIMEBASE_QUERY " in ln]
    assert queries and all("->" in q and q.split()[2].endswith(":10079") for q in queries)  # DME TCP only
    times = [float(q.split()[0]) for q in queries]
    first = [b - a for a, b in itertools.pairwise(times[:6])]  # before the level loads
    assert all(0.5 < gap < 1.5 for gap in first), first
    # UYA's in-game DME sessions (the frame ids are clear even where the payload is not)
    for name in ("JoinPjs.pcap", "Created.pcap"):
        dme = [
            f
            for f in dissect(CAPTURES / "ps2-uya" / name).frames
            if f.service == "DME" and f.direction == "recv"
        ]
        ids = {f.raw.id & 0x7F for f in dme}
        assert RT.CLIENT_CONNECT_READY_AUX_UDP in ids and RT.CLIENT_TIMEBASE_QUERY not in ids, (name, ids)
    assert profile("dl").timebase_query_every == 1.0 and profile("gladiator").timebase_query_every == 1.0
    assert profile("uya").timebase_query_every == 0 and profile("uya-pal").timebase_query_every == 0
    # every profile's facts are its title's (no second table)
    for p in PROFILES.values():
        assert (p.app_id, p.version, p.uses_muis) == (
            p.title.app_ids[0],
            p.title.medius_version,
            p.title.uses_muis,
        )


@pytest.mark.parametrize(("title", "sends"), [("uya", False), ("dl", True)])
async def test_the_bot_sends_timebase_queries_only_for_titles_that_do(title, sends, loopback_clock):
    async with running_engine() as engine, LobbyClient.open(LOCAL, profile(title), ports_of(engine)) as c:
        await c.login(f"tb-{title}", "pw")
        game = await c.create_game(f"tb {title}")
        join = await c.join_game(game)
        report = await run_bot(
            c.dme_params(join),
            0.3,
            udp_hz=0,
            tcp_hz=0,
            echo_interval=0,
            timebase_every=c.profile.timebase_query_every,
        )
    assert (report.timebase_queries > 0) is sends and not report.kicked


# --- item 8: replies matched by id and type ---------------------------------------------------


async def test_a_chat_forward_with_the_requests_id_is_not_taken_for_the_answer():
    ctx = CodecContext(medius_version=108, app_id=10684)
    rt = SimpleNamespace(send_app=lambda payload: None, outbox=SimpleNamespace(take=lambda: b""), version=108)
    ours, _theirs = trio.testing.memory_stream_pair()
    link = MediusLink(ours, rt, ctx, name="MLS#1")  # type: ignore[arg-type]
    result: list = []

    async def ask() -> None:
        result.append(
            await link.request(
                m.GameListExtraInfo0Request(page_id=1, page_size=64), m.GameListExtraInfoResponse0, many=True
            )
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        (mid,) = link._waiters
        chat = m.ChatFwdMessage(message_id=mid, originator_account_name="other", text="hi")
        link._dispatch(AppMessage(encode_app(chat, ctx)))
        answer = m.GameListExtraInfoResponse0(
            message_id=mid, status=CallbackStatus.NO_RESULT, end_of_list=True
        )
        link._dispatch(AppMessage(encode_app(answer, ctx)))
    (items,) = result
    assert [type(i) for i in items] == [m.GameListExtraInfoResponse0]
    assert link.unsolicited.receive_nowait().text == "hi"


# --- item 8: kicks are reported ---------------------------------------------------------------


async def kick(engine, name: str, reason: str) -> list[str]:
    async with LobbyClient.open(LOCAL, profile("uya"), ports_of(engine)) as op:
        await op.login(OPERATOR, "pw")
        return await op.admin(f"kick {name} {reason}")


async def test_a_kicked_chat_client_says_so_and_exits_with_the_kicked_code(capsys):
    async with running_engine(operator_config()) as engine:
        chatted = trio.Event()
        engine.bus.add_callback(lambda ev: chatted.set() if getattr(ev, "sender", "") == "victim" else None)
        args = client_args(engine, "chat", "--user", "victim", "--listen", "30", "hello")
        async with trio.open_nursery() as nursery:
            codes: list[int] = []

            async def chat() -> None:
                codes.append(await trio.to_thread.run_sync(cli.run, args))

            nursery.start_soon(chat)
            with trio.fail_after(10):
                await chatted.wait()  # its chat line reached the lobby: it is listening now
                lines = await kick(engine, "victim", "too loud")
    assert codes == [cli.EXIT_KICKED]
    err = capsys.readouterr().err
    assert "kicked" in err and "too loud" in err, err
    assert any("victim" in line for line in lines)


async def test_a_kicked_bot_stops_prints_its_report_and_says_so(capsys, loopback_clock):
    async with running_engine(operator_config()) as engine:
        created = trio.Event()  # in its game: past the DME handshake, so the kick is not a DME failure
        engine.bus.add_callback(
            lambda ev: created.set() if getattr(ev, "stage", "") == Stage.DME_TCP else None
        )
        args = client_args(engine, "bot", "--user", "botty", "--create", "kick me", "--duration", "60")
        codes: list[int] = []
        async with trio.open_nursery() as nursery:

            async def bot() -> None:
                codes.append(await trio.to_thread.run_sync(cli.run, args))

            nursery.start_soon(bot)
            with trio.fail_after(10):
                await created.wait()
                await kick(engine, "botty", "game over")
    assert codes == [cli.EXIT_KICKED]
    out, err = capsys.readouterr()
    assert "bot #" in out and "kicked" in err and "game over" in err, (out, err)


async def test_next_event_hands_out_system_messages_then_raises_lobby_closed(loopback_clock):
    async with (
        running_engine(operator_config()) as engine,
        LobbyClient.open(LOCAL, profile("dl"), ports_of(engine)) as c,
    ):
        await c.login("listener", "pw")
        await kick(engine, "listener", "bye now")
        seen = []
        with pytest.raises(LobbyClosed, match="bye now"):
            for _ in range(10):
                seen.append(await c.next_event(timeout=5))
        assert SystemMessage("bye now") in seen


# --- item 8: one account per run, client admin, bot --clear -----------------------------------


def test_default_account_names_are_new_each_run_and_fit_the_field():
    names = {
        cli.default_user(p, action) for p, action in itertools.product(PROFILES.values(), ["bot", "games"])
    }
    again = {
        cli.default_user(p, action) for p, action in itertools.product(PROFILES.values(), ["bot", "games"])
    }
    assert len(names) == 2 * len(PROFILES) and not names & again
    assert all(len(n) <= 24 for n in names)


async def test_games_runs_next_to_a_running_bot_with_default_accounts(capsys):
    async with running_engine() as engine:
        created = trio.Event()
        engine.bus.add_callback(
            lambda ev: created.set() if getattr(ev, "stage", "") == Stage.GAME_CREATED else None
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                cli.client_main, client_args(engine, "bot", "--create", "busy", "--duration", "60")
            )
            with trio.fail_after(10):
                await created.wait()
            assert await cli.client_main(client_args(engine, "games")) == 0
            nursery.cancel_scope.cancel()
    out = capsys.readouterr().out
    users = [line.split()[3] for line in out.splitlines() if line.startswith("logged in as")]
    assert len(users) == 2 and users[0] != users[1] and "busy" in out


async def test_client_admin_runs_from_the_command_line(capsys):
    async with running_engine(operator_config()) as engine:
        argv = [*server_argv(engine), "--user", OPERATOR, "players"]
        code = await trio.to_thread.run_sync(top_cli.main, ["client", "admin", *argv])
    assert code == 0
    out = capsys.readouterr().out
    assert any(line.startswith(OPERATOR) for line in out.splitlines()), out


def test_the_admin_words_do_not_clobber_the_top_level_command():
    args = top_cli.build_parser("client").parse_args(["client", "admin", "kick", "bob"])
    assert args.command == "client" and args.words == ["kick", "bob"]


@pytest.mark.parametrize("title", ["uya", "dl"])
async def test_bot_clear_plays_without_a_key_exchange(title, capsys, monkeypatch, loopback_clock):
    options: list[dict] = []

    async def recording_run_bot(params, duration, **kwargs):
        options.append({"encrypt": params.encrypt, **kwargs})
        return await run_bot(params, duration, **kwargs)

    monkeypatch.setattr(cli, "run_bot", recording_run_bot)
    async with running_engine() as engine:
        args = client_args(
            engine, "bot", "--title", title, "--clear", "--create", "clear", "--duration", "0.3"
        )
        assert await cli.client_main(args) == 0
    out = capsys.readouterr().out
    assert "created game" in out and "bot #" in out and "kicked" not in out
    assert options[0]["encrypt"] is False and options[0]["key_exchange"] is False


async def test_a_clear_lobby_client_skips_the_key_exchange_on_every_link():
    async with (
        running_engine() as engine,
        LobbyClient.open(LOCAL, profile("uya"), ports_of(engine), encrypt=False) as c,
    ):
        await c.login("clearuser", "pw")
        assert c.mls is not None and c.mls.rt.rt.key_exchange is False and c.mls.rt.connected
        await c.chat("in clear")
