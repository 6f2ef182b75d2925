"""SVG snapshots of every console screen at 120x40 and 80x24, on the fixed fake-engine state.

The SVGs in tests/snapshots/ are what the operator saw when they were last accepted. A change
fails with the difference as text; if it is intended, rerun with CLANK_UPDATE_SNAPSHOTS=1 and
look at the new SVGs (any browser shows them) before committing them.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest
from textual.pilot import Pilot

from clank_lan.events import ChatLine, DnsQuery
from clank_lan.tui.app import TABS, ClankApp
from clank_lan.tui.feed import LogRecordView
from tests.tui_fake import FakeEngine, make_app, run_app, wait_until

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZES = {"120x40": (120, 40), "80x24": (80, 24)}
SCREENS = (*TABS, "ban-dialog", "result-dialog", "help")
UPDATE = os.environ.get("CLANK_UPDATE_SNAPSHOTS") == "1"


pytestmark = pytest.mark.usefixtures("fixed_terminal")


def svg_lines(svg: str) -> list[str]:
    """The SVG's visible text, one entry per element, for a readable difference."""
    return [m.group(1) for m in re.finditer(r">([^<>]+)</text>", svg)]


async def feed_panes(app: ClankApp, engine: FakeEngine) -> None:
    t = engine.now - 30
    events = [
        DnsQuery(ts=t, client="192.168.1.21:5353", name="ratchet3-prod1.pdonline.scea.com", qtype="A",
                 answer="192.168.1.50", title="uya-ntsc"),
        DnsQuery(ts=t + 1, client="192.168.1.30:5353", name="gate1.us.dnas.playstation.org", qtype="A",
                 answer="NXDOMAIN"),
        ChatLine(ts=t + 2, group="uya", channel="Main", sender="amy", text="gg [b]all[/b]"),
    ]  # fmt: skip
    for ev in events:
        await app.harness.guest.call(engine.bus.publish, ev)
    app.harness.host.logs.put(LogRecordView(t + 3, "info", "mls", "amy joined channel Main"))
    app.harness.host.logs.put(
        LogRecordView(t + 4, "warning", "dns", "port 53 is taken; DNS is down (see Services)")
    )


async def settled_shot(app: ClankApp, pilot: Pilot, tries: int = 20) -> str:
    """The screen once it stopped changing. Some of it follows a step later than Pilot's idle
    check can tell: the footer of a dialog that just opened is recomposed after the next refresh,
    and a loaded machine (CI: three test workers on two cores) makes the process look idle while
    that is still pending. Two equal screenshots 30 ms apart (screen refreshes run every 16 ms)."""
    await pilot.pause()
    last = app.export_screenshot()
    for _ in range(tries):
        await pilot.pause(0.03)
        shot = app.export_screenshot()
        if shot == last:
            return shot
        last = shot
    raise AssertionError(f"the screen was still changing after {tries} looks")


@pytest.mark.parametrize("size", SIZES)
def test_every_screen_matches_its_snapshot(size: str):
    app, engine = make_app()
    shots: dict[str, str] = {}

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await feed_panes(app, engine)
        host = app.harness.host
        await wait_until(pilot, lambda: not len(host.events) and not len(host.logs), "the panes to fill")
        await app.poll_once(full=True)
        for i, tab in enumerate(TABS):
            await pilot.press(str(i + 1))
            shots[tab] = await settled_shot(app, pilot)
        await pilot.press("1", "f3", "3", "0", "enter", *"camping")
        shots["ban-dialog"] = await settled_shot(app, pilot)
        await pilot.press("escape", "9", "f8", "down")
        shots["result-dialog"] = await settled_shot(app, pilot)
        await pilot.press("escape", "f1")
        shots["help"] = await settled_shot(app, pilot)

    run_app(app, scenario, size=SIZES[size])
    assert set(shots) == set(SCREENS)
    changed = []
    for screen, svg in shots.items():
        path = SNAPSHOTS / f"{screen}-{size}.svg"
        if UPDATE or not path.exists():
            SNAPSHOTS.mkdir(exist_ok=True)
            path.write_text(svg, encoding="utf-8")
            continue
        old = path.read_text(encoding="utf-8")
        if old != svg:
            diff = difflib.unified_diff(svg_lines(old), svg_lines(svg), str(path), "now", lineterm="", n=1)
            changed.append("\n".join(diff) or f"{path}: same text, different styling")
    assert not changed, "screens changed (CLANK_UPDATE_SNAPSHOTS=1 accepts them):\n" + "\n".join(changed)
