"""``clank-lan client ...``: the headless client from the command line.

clank-lan client login  --title uya --user alice --password pw [--server HOST]
clank-lan client chat   ... TEXT            # log in, say something, print what others say
clank-lan client games  ...                 # list games
clank-lan client create ... NAME            # create a game (and stay until Ctrl+C)
clank-lan client admin  ... "kick bob"      # run an operator command through lobby chat
clank-lan client bot    --title uya --create NAME | --join NAME [--clear]
clank-lan client doctor HOST                # check a server from this machine's point of view

Without ``--user`` every run logs in with a fresh account name, so a ``games`` next to a running
``bot`` does not find its account already logged in.
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
from functools import partial

import trio

from clank_lan import ports
from clank_lan.client.bot import BotReport, run_bot
from clank_lan.client.doctor import run_doctor
from clank_lan.client.lobby import ClientError, LobbyClient, LobbyClosed, Ports, SystemMessage
from clank_lan.client.profiles import PROFILES, ClientProfile, profile

#: Exit code when the server ended our session (a kick, a ban, a shutdown).
EXIT_KICKED = 3
#: When the DME drops the bot, how long to wait for the lobby to say why.
KICK_REASON_WAIT = 1.0


def default_user(prof: ClientProfile, action: str) -> str:
    """A new account name per run: TITLE-ACTION-xxxx (at most 24 characters)."""
    return f"{prof.key}-{action}-{secrets.token_hex(2)}"[:24]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default="127.0.0.1", help="appliance address (default 127.0.0.1)")
    p.add_argument("--title", default="uya", help=f"which console to behave as: {', '.join(PROFILES)}")
    p.add_argument(
        "--user",
        default="",
        help="account name (default: a new name each run, TITLE-ACTION-xxxx, e.g. uya-bot-1f3a, so two "
        "commands never share an account; the server creates it on first login)",
    )
    p.add_argument("--password", default="clank", help="password")
    p.add_argument(
        "--clear", action="store_true", help="speak in clear (no key exchange), not encrypted like a PS2"
    )
    p.add_argument("--muis-port", type=int, default=ports.MUIS)
    p.add_argument("--mas-port", type=int, default=ports.MAS)
    p.add_argument("--mls-port", type=int, default=ports.MLS)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("login", help="log in, list channels and games, log out")
    _common(p)
    p = sub.add_parser("chat", help="log in, send a chat line, print replies for a while")
    _common(p)
    p.add_argument("text", nargs="+")
    p.add_argument("--listen", type=float, default=5.0, help="seconds to print other players' chat")
    p = sub.add_parser("games", help="list the games")
    _common(p)
    p = sub.add_parser("create", help="create a game and keep it open until Ctrl+C")
    _common(p)
    p.add_argument("name")
    p = sub.add_parser("admin", help="run an operator command (the account must be in lobby.operators)")
    _common(p)
    # not "command": the top-level parser keeps the clank-lan command under that name
    p.add_argument("words", nargs="+", metavar="COMMAND", help="the operator command, e.g. kick bob")
    p = sub.add_parser("bot", help="create or join a game and play synthetic traffic on its DME")
    _common(p)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--create", metavar="NAME")
    group.add_argument("--join", metavar="NAME")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to play (0 = until Ctrl+C)")
    p = sub.add_parser("doctor", help="check a clank-lan server: DNS, ports, NAT, a full login")
    p.add_argument("host", help="the appliance's address")
    p.add_argument("--title", default="uya")
    p.add_argument("--dns-port", type=int, default=ports.DNS)
    p.add_argument("--muis-port", type=int, default=ports.MUIS)
    p.add_argument("--mas-port", type=int, default=ports.MAS)
    p.add_argument("--mls-port", type=int, default=ports.MLS)
    p.add_argument("--dme-port", type=int, default=ports.DME_TCP)
    p.add_argument("--nat-port", type=int, default=ports.NAT)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--user", default="clank-doctor", help="account for the login check")
    p.add_argument("--password", default="clank-doctor", help="password for the login check")


def run(args: argparse.Namespace) -> int:
    if args.action == "doctor":
        return trio.run(partial(run_doctor, args))
    try:
        return trio.run(partial(client_main, args))
    except LobbyClosed as exc:
        print(f"clank-lan client: kicked: {exc}", file=sys.stderr)
        return EXIT_KICKED
    except ClientError as exc:
        print(f"clank-lan client: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"clank-lan client: cannot reach {args.server}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def client_main(args: argparse.Namespace) -> int:
    """Every action but ``doctor``; raises ``ClientError`` (``LobbyClosed`` when kicked)."""
    prof = profile(args.title)
    ports_ = Ports(args.muis_port, args.mas_port, args.mls_port)
    user = args.user or default_user(prof, args.action)
    async with LobbyClient.open(args.server, prof, ports_, encrypt=not args.clear) as c:
        info = await c.login(user, args.password)
        print(f"logged in as {user} (account {info.account_id}) on the MLS at {info.mls_ip}:{info.mls_port}")
        if args.action == "login":
            for ch in await c.channels():
                print(f"  channel {ch.world_id:>3} {ch.lobby_name:<24} {ch.player_count}/{ch.max_players}")
            await _print_games(c)
        elif args.action == "games":
            await _print_games(c)
        elif args.action == "chat":
            await c.chat(" ".join(args.text))
            with trio.move_on_after(args.listen):
                while True:
                    ev = await c.next_event(timeout=args.listen + 1)
                    if isinstance(ev, SystemMessage):
                        print(f"[server] {ev.text}", flush=True)
                    else:
                        print(f"<{ev.originator_account_name}> {ev.text}", flush=True)
        elif args.action == "create":
            game_id = await c.create_game(args.name)
            print(f"created game {game_id} {args.name!r}; Ctrl+C to leave")
            raise LobbyClosed(await c.wait_closed())
        elif args.action == "admin":
            for line in await c.admin(" ".join(args.words)):
                print(line)
        elif args.action == "bot":
            return await _bot(c, args)
    return 0


async def _print_games(c: LobbyClient) -> None:
    games = await c.games()
    if not games:
        print("  no games")
    for g in games:
        size = f"{g.player_count}/{g.max_players}"
        print(f"  game {g.world_id:>3} {g.game_name:<24} {size} status {g.world_status}")


async def _bot(c: LobbyClient, args: argparse.Namespace) -> int:
    if args.create:
        game_id = await c.create_game(args.create)
        print(f"created game {game_id} {args.create!r}", flush=True)
    else:
        game_id = await c.find_game(args.join)
    join = await c.join_game(game_id)
    print(f"game {game_id}: DME {join.dme_ip}:{join.dme_port} world {join.world_id}", flush=True)
    if args.create:  # the host tells the lobby the game is on, as a console's host does
        await c.world_report(game_id, args.create, status=2)
    lobby_gone = trio.Event()
    kicked = ""

    async def watch_lobby() -> None:
        nonlocal kicked
        kicked = await c.wait_closed()
        lobby_gone.set()

    report: BotReport
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_lobby)
        report = await run_bot(
            c.dme_params(join),
            args.duration or math.inf,
            timebase_every=c.profile.timebase_query_every,
            stop=lobby_gone,
            key_exchange=not args.clear,  # --clear: no CRYPTKEY exchange with the DME either
        )
        if report.kicked:  # a kick ends the lobby session too, and its reason is told there
            with trio.move_on_after(KICK_REASON_WAIT):
                await lobby_gone.wait()
        nursery.cancel_scope.cancel()
    for line in report.lines():
        print(line, flush=True)
    if kicked or report.kicked:
        raise LobbyClosed("; ".join(x for x in (kicked, report.kicked) if x))
    return 0
