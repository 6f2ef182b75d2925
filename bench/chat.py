"""A busy channel: what 200 consoles chatting in one lobby channel cost the server, and how long
each line takes to reach the others.

``--consoles`` (200) UYA consoles log in (encrypted, as consoles do) and join the default channel
of the real ``clank-lan serve --headless --no-dns`` (a data directory, frame logging ON, in its own
process); they first idle there for ``IDLE_SECONDS`` (keepalives only: the baseline of this run),
then each says a line every ``--every`` (5) s, the lines spread over the period. ``--listeners``
(20) of them read and time every line forwarded to them; the others take the bytes off their
sockets unread (the server does the same work for them; decrypting every line for 200 consoles
in Python would make the bench's clients, not the server, the bottleneck). Each line carries
when it was said (``time.monotonic``, one clock for every process of the machine), so each
delivery's delay is known. Measured over a window after a warm-up of one period:

* the server's CPU (every thread) as a share of a core, against the same consoles idle in this
  run, and per delivered line (the chatting CPU less the idle CPU, over the deliveries);
* deliveries: of the lines said in the window, how many reached each other listening console (a
  line said in the window has until the window's end plus ``DRAIN`` to arrive);
* delay from said to heard, p50 / p99 / max. Two waits are by design: a console that sent nothing
  but keepalives for a while is read at the server's next look at idle sockets (``POLL_INTERVAL``,
  250 ms, in ``clank_lan.servers.tcp``), and a channel's line may wait up to
  ``clank_lan.rt.outbox.LATER`` (100 ms) for company, so that a console gets one write with the
  lines of that time instead of one write per line.

The same is measured with frame logging OFF beside it. Targets (this design's, issue 11 sets
none): every line delivered, delay p99 <= POLL_INTERVAL + LATER + 100 ms. Exits 1 when one is
missed.
Run: ``python bench/chat.py`` (about 45 s on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    Phase,
    PhaseResult,
    Server,
    Workers,
    chat_deliveries,
    cpu_count,
    percentile,
    raise_fd_limit,
    start_time,
)
from clank_lan.rt.outbox import LATER
from clank_lan.servers.tcp import POLL_INTERVAL

CONSOLES = 200
EVERY = 5.0  # seconds between a console's lines
IDLE_SECONDS = 3.0
WINDOW = 5.0  # seconds measured while they chat, after a warm-up of one period
DRAIN = 1.0  # a line said in the window has until this long after it to arrive
TARGET_DELAY = POLL_INTERVAL + LATER + 0.1  # the two waits by design, and the work
CONSOLE_OFFSET = 3000  # loopback addresses of their own
LISTENERS = 20
WORKERS = 1


def run(args, workers: Workers, frames: bool, tmp: Path) -> dict:
    """One server: the consoles idle, then chat; the figures."""
    server = Server(tmp / ("on" if frames else "off"), frames=frames)
    server.workdir.mkdir()
    server.start()
    names = tuple(f"talk{i:04d}" for i in range(args.consoles))
    try:
        idle_phase = Phase(
            kind="login", names=names, ports=server.ports, start_at=start_time(), hold=True,
            address_offset=CONSOLE_OFFSET,
        )  # fmt: skip
        held = workers.hold(idle_phase)
        time.sleep(1.0)  # the last logins' work done
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        left = workers.release()
        chat_phase = Phase(
            kind="login", names=names, ports=server.ports, start_at=start_time(), hold=True,
            chat_every=args.every, listeners=args.listeners, address_offset=CONSOLE_OFFSET,
        )  # fmt: skip
        chatting = workers.hold(chat_phase)
        time.sleep(args.every)  # every console has said a line: the steady state
        cpu0, w0 = server.cpu_seconds(), time.monotonic()
        time.sleep(args.window)
        cpu1, w1 = server.cpu_seconds(), time.monotonic()
        time.sleep(DRAIN)
        after = workers.release()
    finally:
        code = server.stop()
    problems, dropped = server.problems(), server.log_drops()
    talk = PhaseResult()
    for part in (chatting, after):
        talk.merge(part)
    said, expected, delays = chat_deliveries(talk, args.listeners, w0, w1)
    cpu = (cpu1 - cpu0) / (w1 - w0)
    failed = len(names) - len(held.latencies) + len(left.errors) + len(names) - len(chatting.latencies)
    return {
        "frames": frames, "idle": idle, "cpu": cpu, "said": said, "expected": expected,
        "delivered": len(delays), "delays": delays, "failed": failed,
        "per_line_us": (cpu - idle) * (w1 - w0) * 1e6 / max(said * (len(names) - 1), 1),
        "errors": held.errors + left.errors + talk.errors, "code": code, "problems": problems,
        "dropped": dropped,
    }  # fmt: skip


def line(r: dict) -> str:
    d = r["delays"]
    ms = [percentile(d, p) * 1000 for p in (50, 99, 100)] if d else [float("nan")] * 3
    return (
        f"  frame logging {'ON ' if r['frames'] else 'OFF'}: server {r['idle']:.1%} of a core idle, "
        f"{r['cpu']:.1%} chatting = {r['cpu'] / max(r['idle'], 1e-9):.1f}x, {r['per_line_us']:.1f} us per "
        f"delivered line; {r['said']} lines said in the window, {r['delivered']:,} of {r['expected']:,} "
        f"deliveries; delay p50 {ms[0]:.0f}, p99 {ms[1]:.0f}, max {ms[2]:.0f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--consoles", type=int, default=CONSOLES, help="consoles in the channel")
    ap.add_argument("--every", type=float, default=EVERY, help="seconds between a console's lines")
    ap.add_argument("--window", type=float, default=WINDOW, help="seconds measured while they chat")
    ap.add_argument("--listeners", type=int, default=LISTENERS, help="consoles that read and time the lines")
    ap.add_argument("--workers", type=int, default=WORKERS, help="client processes")
    args = ap.parse_args(argv)
    raise_fd_limit(6 * args.consoles + 256)
    started = time.monotonic()
    print(
        f"clank-lan chat bench: python {sys.version.split()[0]}, {cpu_count()} CPUs; {args.consoles} "
        f"encrypted uya consoles in one channel, a line each every {args.every:g} s "
        f"({args.consoles / args.every:.0f} lines/s, each to {args.consoles - 1} others); lines wait up "
        f"to {LATER * 1000:.0f} ms for company"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="clank-chat-") as tmp, Workers(args.workers, 90) as workers:
        for frames in (True, False):
            results.append(run(args, workers, frames, Path(tmp)))
            print(line(results[-1]))
    on = results[0]
    for r in results:
        for err in sorted(set(r["errors"]))[:5]:
            print(f"    error x{r['errors'].count(err)}: {err}")
        print(f"  server (logging {'on' if r['frames'] else 'off'}): exit code {r['code']}, "
              f"{len(r['problems'])} warnings/errors, {r['dropped']:,} frame log records dropped by its "
              "writer (over its CPU budget)")  # fmt: skip
        for text in r["problems"][:5]:
            print(f"    {text}")
    delivered = all(r["delivered"] == r["expected"] and not r["failed"] for r in results)
    p99 = max(percentile(r["delays"], 99) if r["delays"] else float("inf") for r in results)
    print(
        f"{'PASS' if delivered else 'FAIL'}  every line delivered ({on['delivered']:,} of {on['expected']:,} "
        f"with logging on, {results[1]['delivered']:,} of {results[1]['expected']:,} off; consoles failed "
        f"{sum(r['failed'] for r in results)})"
    )
    verdict = "PASS" if p99 <= TARGET_DELAY else "FAIL"
    print(f"{verdict}  delay p99 {p99 * 1000:.0f} ms (<= {TARGET_DELAY * 1000:.0f} ms)")
    ok = delivered and p99 <= TARGET_DELAY
    logging_cost = on["per_line_us"] / max(results[1]["per_line_us"], 1e-9)
    print(
        f"SUMMARY chat: {'PASS' if ok else 'FAIL'}; {on['cpu']:.1%} of a core chatting ({on['idle']:.1%} "
        f"idle), {on['per_line_us']:.1f} us per delivered line (logging on/off {logging_cost:.2f}x), "
        f"delay p99 {p99 * 1000:.0f} ms; elapsed {time.monotonic() - started:.0f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
