"""The real ``clank-lan serve`` with its TUI in a pseudo-terminal, and real headless consoles.

Issue 12's acceptance: ban a connected console through the dialog with Enter, and the appliance
keeps serving the others (no ScreenStackError, no "server shutting down" for everyone). The
program is the venv's own ``clank-lan`` entry point on 127.0.0.1 with free ports, a temporary
data folder and no DNS; every wait is bounded.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
import trio

from clank_lan.client.lobby import ClientError, LobbyClient, Ports
from clank_lan.client.profiles import profile
from clank_lan.db.store import DB_FILENAME

CLANK_LAN = Path(sys.executable).parent / "clank-lan"
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>NOP\\]")
F3, DOWN, ENTER, CTRL_C, HOME = "\x1bOR", "\x1b[B", "\r", "\x03", "\x1b[H"

pytestmark = pytest.mark.skipif(not CLANK_LAN.exists(), reason=f"no {CLANK_LAN} (the venv is not installed)")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Terminal:
    """The child's pseudo-terminal: a thread keeps reading it (so the TUI never blocks)."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        env.pop("TEXTUAL", None)
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def text(self) -> str:
        return ANSI.sub(b"", bytes(self.output)).decode("utf-8", "replace")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)
        self._reader.join(5)


async def until(cond, what: str, timeout: float = 20.0, term: Terminal | None = None) -> None:
    with trio.move_on_after(timeout):
        while not cond():
            await trio.sleep(0.1)
        return
    seen = f"; the terminal's end:\n{term.text()[-3000:]}" if term is not None else ""
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{seen}")


async def test_ban_through_the_dialog_in_a_real_terminal_keeps_serving_the_others(tmp_path: Path):
    tcp = {name: free_port(socket.SOCK_STREAM) for name in ("muis", "mas", "mls", "mps", "dme_tcp")}
    udp = {name: free_port(socket.SOCK_DGRAM) for name in ("dme_udp", "nat")}
    config = tmp_path / "clank-lan.toml"
    config.write_text("[ports]\n" + "".join(f"{k} = {v}\n" for k, v in {**tcp, **udp}.items()))
    data = tmp_path / "data"
    term = Terminal(
        [str(CLANK_LAN), "serve", "--config", str(config), "--data", str(data), "--address", "127.0.0.1",
         "--no-dns"],
        tmp_path,
    )  # fmt: skip
    ports = Ports(muis=tcp["muis"], mas=tcp["mas"], mls=tcp["mls"])
    try:
        await until(lambda: "Primary DNS: 127.0.0.1" in term.text(), "the TUI to draw")
        async with (
            LobbyClient.open("127.0.0.1", profile("uya"), ports) as alice,
            LobbyClient.open("127.0.0.1", profile("uya"), ports) as bob,
        ):
            with trio.fail_after(20):
                await alice.login("alice", "pw")
                await bob.login("bob", "pw")
            await until(lambda: "Players (2)" in term.text(), "both players in the table")
            term.type(DOWN + F3)  # alice is the first row: bob is the second
            await until(lambda: "Ban bob?" in term.text(), "the ban dialog naming bob")
            # in one write, as a paste or a fast typist sends it: each Enter moves on a field
            # before the keys behind it are routed; the last one reaches the "Ban bob" button
            term.type("30" + ENTER + "cheating" + ENTER)
            await until(lambda: "cheating" in term.text(), "the reason in its field")
            await trio.sleep(0.5)  # time for a wrong ban to show, were Enter acting too early
            assert "banned bob" not in term.text()
            term.type(ENTER)  # the confirmation
            await until(lambda: "banned bob for 30 minutes: cheating" in term.text(), "the ban", term=term)
            term.type(ENTER + ENTER)  # stray Enters: before the fix the second answer killed the app
            await until(lambda: "Players (1)" in term.text(), "bob to leave the table")
            assert term.proc.poll() is None, term.text()[-2000:]
            with trio.fail_after(10):
                assert await alice.channels()  # alice is still served
            async with LobbyClient.open("127.0.0.1", profile("uya"), ports) as carol:
                with trio.fail_after(10):
                    await carol.login("carol", "pw")  # and a new console gets in
            async with LobbyClient.open("127.0.0.1", profile("uya"), ports) as bob_again:
                with trio.fail_after(10), pytest.raises(ClientError):
                    await bob_again.login("bob", "pw")  # bob is banned
            assert "ScreenStackError" not in term.text()
        term.type(CTRL_C)
        await until(lambda: "Stop the servers and quit?" in term.text(), "the quit dialog")
        term.type(ENTER)
        with trio.fail_after(20):
            while term.proc.poll() is None:
                await trio.sleep(0.1)
        assert term.proc.returncode == 0, term.text()[-2000:]
    finally:
        term.close()
    db = sqlite3.connect(data / DB_FILENAME)
    rows = db.execute("SELECT actor, origin, action, target FROM audit").fetchall()
    db.close()
    assert rows == [("tui", "operator console (TUI)", "ban", "bob")]
    assert "ban by tui (operator console (TUI)): bob" in (data / "logs" / "clank-lan.log").read_text()


async def test_attach_opens_the_console_of_a_headless_appliance_and_its_quit_stops_it(tmp_path: Path):
    """``serve --headless`` (a service) and, later, ``attach`` in a terminal: the console finds the
    appliance through its data folder, shows it, and the quit from the console stops the servers."""
    tcp = {name: free_port(socket.SOCK_STREAM) for name in ("muis", "mas", "mls", "mps", "dme_tcp")}
    udp = {name: free_port(socket.SOCK_DGRAM) for name in ("dme_udp", "nat")}
    config = tmp_path / "clank-lan.toml"
    config.write_text("[ports]\n" + "".join(f"{k} = {v}\n" for k, v in {**tcp, **udp}.items()))
    data = tmp_path / "data"
    server = subprocess.Popen(
        [str(CLANK_LAN), "serve", "--headless", "--config", str(config), "--data", str(data),
         "--address", "127.0.0.1", "--no-dns"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    term = None
    try:
        await until(lambda: (data / "console.link").exists(), "the appliance's console link")
        ports = Ports(muis=tcp["muis"], mas=tcp["mas"], mls=tcp["mls"])
        async with LobbyClient.open("127.0.0.1", profile("uya"), ports) as alice:
            with trio.fail_after(20):
                await alice.login("alice", "pw")
            term = Terminal([str(CLANK_LAN), "attach", "--data", str(data)], tmp_path)
            await until(lambda: "Primary DNS: 127.0.0.1" in term.text(), "the console to draw", term=term)
            await until(lambda: "Players (1)" in term.text() and "alice" in term.text(), "alice", term=term)
            term.type("8")  # the Logs pane: the appliance's log from its first line, before the attach
            await until(lambda: " INFO " in term.text(), "the Logs pane", term=term)
            term.type(HOME)  # its top
            await until(lambda: "starting; log file" in term.text(), "the start-up lines", term=term)
            term.type(CTRL_C)
            await until(lambda: "1 player online will be disconnected" in term.text(), "the quit dialog")
            term.type(ENTER)
            with trio.fail_after(20):
                while server.poll() is None or term.proc.poll() is None:
                    await trio.sleep(0.1)
        assert server.returncode == 0 and term.proc.returncode == 0, term.text()[-2000:]
        assert not (data / "console.link").exists()  # gone with the appliance
    finally:
        if term is not None:
            term.close()
        if server.poll() is None:
            server.kill()
            server.wait(10)
