"""The board in a real browser: headless Chromium loads it from a running board server, the page's
own script refreshes it live, and the screenshot and the rendered DOM show the recorded champion."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest
import trio

from tests.test_web_api import FakeSource
from tests.webclient import running_board

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt install chromium)"
)


async def chromium(url: str, out: Path, *extra: str) -> str:
    """Run headless Chromium once against ``url`` (its own profile dir); returns stdout."""
    assert CHROMIUM is not None
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={out / 'profile'}",
        "--window-size=1280,800",
        # Run the page's timers in virtual time, so its live refresh happens without waiting.
        "--virtual-time-budget=5000",
        *extra,
        url,
    ]
    with trio.fail_after(90):
        done = await trio.run_process(args, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8", errors="replace")


def png_facts(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the pixel data (a blank page has few)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


class FinalDecidedWhileWatching(FakeSource):
    """The final's result is recorded after the page has loaded: only a live refresh shows it."""

    def __init__(self) -> None:
        super().__init__()
        assert self.svc is not None
        self.svc.record(1, "amy")
        self.svc.record(2, "ben")
        self.calls = 0

    def tournament(self):
        self.calls += 1
        if self.calls == 2:
            self.svc.record(3, "ben")
        return self.svc


@needs_chromium
async def test_chromium_shows_the_champion_after_a_live_refresh(tmp_path: Path):
    source = FinalDecidedWhileWatching()
    async with running_board(source) as port:
        url = f"http://127.0.0.1:{port}/"
        dom = await chromium(url, tmp_path, "--dump-dom")
        assert source.calls >= 2, "the page never refreshed itself"
        assert 'id="champion">Champion: ben<' in dom
        assert "Primary DNS: 192.168.1.50" in dom
        assert '<span id="stale"></span>' in dom  # no "connection lost" notice

        shot = tmp_path / "board.png"
        await chromium(url, tmp_path, f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 10_000
    width, height, distinct = png_facts(shot)
    assert (width, height) == (1280, 800)
    assert distinct > 20  # text and boxes were drawn, not an empty page
