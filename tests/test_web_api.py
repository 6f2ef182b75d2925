"""The web board over real sockets on 127.0.0.1: pages, the JSON API, exports, hosts.ini, and clean
bounded answers to bad input (unknown paths, writes, bodies, huge headers, slow clients, a taken port)."""

from __future__ import annotations

import csv
import io
import os
import sys

import pytest
import trio
import trio.testing
from starlette.responses import PlainTextResponse

from clank_lan.db.store import Store
from clank_lan.db.tournament import TournamentDb
from clank_lan.net.ports import PortUnavailable
from clank_lan.tournament.formats import Format
from clank_lan.tournament.roster import parse_csv
from clank_lan.tournament.service import TournamentService
from clank_lan.web.app import RequestLimits
from clank_lan.web.server import KEEP_ALIVE, MAX_HEADER_BYTES, READ_TIMEOUT, serve_web
from clank_lan.web.source import GameView, OnlinePlayer
from tests.webclient import get, raw, read_all, running_board


class FakeSource:
    """A board source with fixed lobby state and a real (in-memory) tournament service."""

    def __init__(self, with_tournament: bool = True) -> None:
        self.svc: TournamentService | None = None
        if with_tournament:
            self.svc = TournamentService(TournamentDb.open(Store.ephemeral()), clock=lambda: 1000.0)
            self.svc.create("Friday Cup", parse_csv("name\namy\nben\ncat\ndan\n"), Format.SINGLE)
        self.players = [
            OnlinePlayer("amy", "Ratchet & Clank: Up Your Arsenal"),
            OnlinePlayer("<b>ben</b>", "Ratchet & Clank: Up Your Arsenal"),
            OnlinePlayer("zoe", "Ratchet: Deadlocked"),
        ]
        self.game_list = [GameView(3, "amy's game", "Up Your Arsenal", "staging", "amy", ("amy", "dan"), 1)]

    def address(self) -> str:
        return "192.168.1.50"

    def online(self):
        return list(self.players)

    def games(self):
        return list(self.game_list)

    def tournament(self):
        return self.svc


async def test_page_api_and_downloads():
    source = FakeSource()
    async with running_board(source) as port:
        page = await get(port, "/")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        assert "Primary DNS: 192.168.1.50" in page.text and "Friday Cup" in page.text
        assert "&lt;b&gt;ben&lt;/b&gt;" in page.text and "<b>ben</b>" not in page.text  # escaped
        assert "src=" not in page.text and "<link" not in page.text  # self-contained: no CDN

        board = (await get(port, "/api/board")).json()
        assert board["setup"] == {"address": "192.168.1.50", "line": "Primary DNS: 192.168.1.50"}
        assert board["online_count"] == 3
        assert [o["title"] for o in board["online"]] == [
            "Ratchet & Clank: Up Your Arsenal",
            "Ratchet: Deadlocked",
        ]
        assert board["games"][0]["players"] == ["amy", "dan"] and board["games"][0]["match"] == 1
        t = board["tournament"]
        assert t["name"] == "Friday Cup" and [m["id"] for m in t["matches"]] == [1, 2, 3]
        assert (await get(port, "/api/games")).json() == board["games"]
        assert (await get(port, "/api/setup")).json() == board["setup"]

        source.svc.record(1, "amy")
        source.svc.record(2, "ben")
        source.svc.record(3, "ben")
        t = (await get(port, "/api/tournament")).json()
        assert t["champion"] == "ben" and t["standings"][0]["competitor"] == "ben"
        fragment = await get(port, "/board.fragment")
        assert 'id="champion">Champion: ben<' in fragment.text

        exported = await get(port, "/api/tournament.csv")
        assert exported.headers["content-disposition"].startswith("attachment")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert rows[2]["winner"] == "ben"
        assert (await get(port, "/api/tournament.json")).json()["champion"] == "ben"

        hosts = await get(port, "/hosts.ini")
        assert hosts.status == 200 and 'filename="hosts.ini"' in hosts.headers["content-disposition"]
        assert "[Host0]" in hosts.text and "Address = 192.168.1.50" in hosts.text
        assert "ratchet3-prod1.pdonline.scea.com" in hosts.text


async def test_without_a_tournament():
    async with running_board(FakeSource(with_tournament=False)) as port:
        assert (await get(port, "/api/tournament")).json() is None
        reply = await get(port, "/api/tournament.csv")
        assert reply.status == 404 and reply.json() == {"error": "no tournament is running"}
        assert "Games in progress" in (await get(port, "/")).text


async def test_bad_requests_get_clean_errors():
    async with running_board(FakeSource()) as port:
        missing = await get(port, "/nope")
        assert missing.status == 404 and missing.text == "not found\n"
        api_missing = await get(port, "/api/nope")
        assert api_missing.status == 404 and api_missing.json() == {"error": "not found"}
        write = await get(port, "/api/board", method="DELETE")
        assert write.status == 405 and write.json() == {"error": "the board is read-only"}
        body = await raw(
            port,
            b"POST /api/board HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n",
        )
        assert body.status == 413
        huge = await raw(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
            + b"a" * (MAX_HEADER_BYTES * 2)
            + b"\r\n\r\n",
        )
        assert huge.status == 431
        assert await unfinished_head_is_cut_off(port)
        garbage = await raw(port, b"\x16\x03\x01\x02\x00 this is not http\r\n\r\n")
        assert garbage.status == 400
        # The server is still fine afterwards.
        assert (await get(port, "/api/setup")).status == 200


async def unfinished_head_is_cut_off(port: int) -> bool:
    """Stream a head that never ends: the server must answer 431 or hang up, not keep buffering."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            try:
                await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ")
                for _ in range(1000):  # up to 64 MB, far past any sane buffer
                    await stream.send_all(b"a" * 65536)
            except trio.BrokenResourceError:
                pass  # it hung up on us
            else:
                return False
            try:
                data = await read_all(stream)
            except trio.BrokenResourceError:
                return True  # reset
            return data == b"" or data.startswith(b"HTTP/1.1 431")


async def test_a_slow_client_is_dropped_after_the_read_timeout(autojump_clock):
    async with running_board(FakeSource()) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            start = trio.current_time()
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the end of it
            with trio.fail_after(READ_TIMEOUT * 6):
                await read_all(stream)
            waited = trio.current_time() - start
        # An unfinished head counts as idle: the keep-alive timeout ends it, before the read timeout.
        assert KEEP_ALIVE <= waited <= READ_TIMEOUT
        assert (await get(port, "/api/setup")).status == 200


async def test_a_taken_port_is_a_clear_error():
    holder = trio.socket.socket()
    await holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        async with trio.open_nursery() as nursery:
            with pytest.raises(PortUnavailable) as info, trio.fail_after(5):
                await nursery.start(serve_web, FakeSource(), "127.0.0.1", port)
        message = str(info.value)
        assert message.startswith(f"WEB cannot listen on TCP port {port}")
        if sys.platform.startswith("linux"):
            assert f"(pid {os.getpid()})" in message  # names who holds it: this very test
    finally:
        holder.close()


class BrokenSource(FakeSource):
    def games(self):
        raise RuntimeError("the lobby fell over")


async def test_a_failing_source_is_a_logged_500_not_a_traceback(caplog):
    async with running_board(BrokenSource()) as port:
        api = await get(port, "/api/board")
        assert api.status == 500 and api.json() == {"error": "internal error (logged)"}
        page = await get(port, "/")
        assert page.status == 500 and "Traceback" not in page.text and "lobby fell over" not in page.text
        head = await get(port, "/api/setup", method="HEAD")
        assert head.status == 200 and head.body == b""
    assert any("the lobby fell over" in (r.exc_text or "") for r in caplog.records)


async def test_requests_past_the_in_flight_cap_get_a_quick_503():
    """Bounded resources: the board serves at most ``max_in_flight`` requests at once."""
    gate = trio.Event()

    async def slow(scope, receive, send) -> None:
        await gate.wait()
        await PlainTextResponse("ok")(scope, receive, send)

    limits = RequestLimits(slow, max_in_flight=2)
    statuses: list[int] = []

    async def send(message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "headers": [],
        "query_string": b"",
    }
    async with trio.open_nursery() as nursery:
        nursery.start_soon(limits, scope, receive, send)
        nursery.start_soon(limits, scope, receive, send)
        await trio.testing.wait_all_tasks_blocked()
        await limits(scope, receive, send)
        assert statuses == [503] and limits.in_flight == 2
        gate.set()
    assert sorted(statuses) == [200, 200, 503] and limits.in_flight == 0
