"""The replay catches what differs: a tampered recording of b41 makes exactly the tampered steps
fail, each with its source in the capture and an expected-vs-received listing; a connection our
server refuses fails without hanging the replay."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio

from clank_lan.protocol.medius import UpdateUserState, encode_app
from clank_lan.protocol.rt_ids import RT
from clank_lan.replay import Recording, ReplayReport, Timing, Wire, build_script, load_recording, replay
from clank_lan.replay.model import Send
from tests.conftest import running_engine

B41 = Path(__file__).parent / "fixtures" / "b41.pcap"
FAST = Timing(answer=0.3, grace=0.1)


def _exchange(script, source: str):
    return next(ex for ex in script.exchanges if ex.source == source)


async def _run(script) -> ReplayReport:
    async with running_engine() as engine:
        return await replay(script, engine, timing=FAST)


@pytest.fixture(scope="module")
def tampered() -> ReplayReport:
    script = build_script(load_recording(B41))
    # 1. pretend Sony's MUIS sent no SVO URL: ours does, so the answer types differ
    universe = _exchange(script, "frame 13")
    universe.expected = [w for w in universe.expected if w.name != "UniverseSvoURLResponse"]
    # 2. pretend Sony's AccountUpdateStatsResponse was 2 bytes longer: a size mismatch
    stats = _exchange(script, "frame 87")
    stats.expected = [dataclasses.replace(stats.expected[0], payload=stats.expected[0].payload + b"\0\0")]
    # 3. send something our MAS does not answer where Sony answered: nothing comes back
    loc = _exchange(script, "frame 39")
    i, ev = next(
        (i, e) for i, e in enumerate(script.events) if isinstance(e, Send) and e.exchange == loc.index
    )
    silent = encode_app(UpdateUserState())
    script.events[i] = Send(ev.conn, ev.exchange, Wire(RT.CLIENT_APP_TOSERVER, silent, "frame 39"))
    return trio.run(_run, script)


def test_only_the_tampered_steps_fail(tampered):
    assert sorted(s.source for s in tampered.mismatches) == ["frame 13", "frame 39", "frame 87"]
    assert "3 mismatches" in tampered.summary()


def test_extra_answer_type_is_reported(tampered):
    step = tampered.step("frame 13")
    assert step.problems == (
        "answer types differ: expected {UniverseVariableInformationResponse}, received "
        "{UniverseSvoURLResponse, UniverseVariableInformationResponse}",
    )


def test_size_difference_is_reported(tampered):
    assert tampered.step("frame 87").problems == (
        "AccountUpdateStatsResponse: size [32] expected, [30] received",
    )


def test_missing_answer_lists_source_names_sizes_and_hex(tampered):
    step = tampered.step("frame 39")
    assert step.problems == ("answer types differ: expected {StatusResponse0}, received {no answer}",)
    text = step.listing()
    assert text.startswith("MAS t2, frame 39: SetLocalizationParams [answers]")
    assert "  sent      UpdateUserState (CLIENT_APP_TOSERVER 1/0x49) 26 bytes [frame 39]: 0149" in text
    assert "  expected  StatusResponse0 (SERVER_APP 1/0xA4) 30 bytes [frame 40]: 01a4" in text
    assert "  received  (nothing)" in text
    assert text in tampered.format()


async def test_refused_connection_fails_every_step_without_hanging():
    full = load_recording(B41)
    only_mls = Recording("t3 only", [f for f in full.frames if f.conn == "t3"], [])
    script = build_script(only_mls)
    with trio.fail_after(10):
        report = await _run(script)  # Sony's session keys mean nothing to our MLS
    hs, *rest = report.steps
    assert hs.kind == "handshake" and hs.problems[0].startswith("handshake not completed")
    assert rest and all(not s.ok and any("not sent" in p for p in s.problems) for s in rest)
