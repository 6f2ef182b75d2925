"""``clank-lan selftest``: the real command passes on this machine, and its harness reports
failures, timeouts and skipped steps as FAIL with exit status 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio

from clank_lan import selftest
from clank_lan.selftest import SelfTest, StepFailed, StepResult

ROOT = Path(__file__).resolve().parents[1]
STEPS = selftest.planned_steps()


def test_the_plan_is_the_doctors_stages_for_both_titles():
    common = ["login", "game-created", "game-joined", "dme-tcp", "dme-udp"]
    uya = ["dns", "tcp-mas", "tcp-mls", "tcp-dme", "nat", *common]
    dl = ["dns", "tcp-muis", "tcp-mas", "tcp-mls", "tcp-dme", "nat", "muis", *common]
    assert [
        "start",
        *(f"uya {s}" for s in uya),
        *(f"dl {s}" for s in dl),
        "dns offline",
        "nat keep-alive",
        "textual",
    ] == STEPS


def test_selftest_command_passes_every_step():
    done = subprocess.run(
        [sys.executable, "-m", "clank_lan", "selftest"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    lines = done.stdout.splitlines()
    steps = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line[6:24].strip() for line in steps] == STEPS
    assert all(line.startswith("PASS") for line in steps), done.stdout
    assert lines[0].startswith(f"clank-lan {selftest.__version__} selftest")
    assert lines[-1].startswith(f"selftest PASSED: {len(STEPS)} steps in ")
    muis = next(line for line in steps if line[6:24].strip() == "dl muis")
    assert "MAS at 127.0.0.1:" in muis  # Deadlocked went through the MUIS
    dme_udp = next(line for line in steps if line[6:24].strip() == "uya dme-udp")
    assert "in the world as player" in dme_udp


async def test_a_failing_check_is_a_fail_line():
    seen: list[StepResult] = []
    test = SelfTest(report=seen.append)

    async def wrong() -> str:
        raise StepFailed("NAT answered 00, wanted 7f 00 00 01")

    async def right() -> str:
        return "fine"

    assert await test.step("nat", wrong) is False
    assert await test.step("dns", right) is True
    assert [(r.name, r.ok) for r in seen] == [("nat", False), ("dns", True)]
    assert seen[0].detail == "StepFailed: NAT answered 00, wanted 7f 00 00 01"
    assert seen[0].line().startswith("FAIL  nat ") and seen[1].line().startswith("PASS  dns ")
    assert not test.passed


async def test_a_hanging_step_fails_at_its_deadline(autojump_clock):
    test = SelfTest(report=lambda r: None, step_timeout=5.0)

    async def hang() -> str:
        await trio.sleep_forever()
        return "never"

    start = trio.current_time()
    assert await test.step("login uya", hang) is False
    assert test.results[0].detail == "no result within 5 s"
    assert trio.current_time() - start == 5.0


async def test_when_the_appliance_does_not_start_the_rest_is_not_run(monkeypatch):
    async def no_start(self, nursery) -> str:
        raise StepFailed("not running: MAS (port 10075 is in use)")

    async def no_textual() -> str:
        return "skipped in this test"

    monkeypatch.setattr(SelfTest, "_start", no_start)
    monkeypatch.setattr(selftest, "_textual_screen", no_textual)
    seen: list[StepResult] = []
    with trio.fail_after(5):
        status = await selftest.main(report=seen.append)
    assert status == 1
    assert [r.name for r in seen] == STEPS
    assert [r.ok for r in seen] == [False] * (len(STEPS) - 1) + [True]
    assert all(r.detail == "not run: the appliance did not start" for r in seen[1:-1])


async def test_the_whole_run_has_a_deadline(monkeypatch, capsys, autojump_clock):
    async def forever(self) -> bool:
        await trio.sleep_forever()
        return True

    monkeypatch.setattr(SelfTest, "run", forever)
    start = trio.current_time()
    assert await selftest.main(timeout=15) == 1
    assert trio.current_time() - start == 15
    assert "selftest FAILED: gave up after 15 s" in capsys.readouterr().out
