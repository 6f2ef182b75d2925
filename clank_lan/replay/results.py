"""Judging a replay: per step, what the recorded server sent against what ours sent.

A step is one connection's RT handshake (the sequence of server RT ids), one client message (the
set of answer types: RT id + Medius class/type, "no answer" included; the body size for
fixed-size messages; a masked byte-for-byte comparison that is reported, not required), or the
server frames of a connection that answered nothing. A failing step lists its source in the
recording and both sides' messages with names, sizes and hex.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clank_lan.protocol.medius import CodecContext, message_type
from clank_lan.replay.masks import ByteCheck, compare_bytes
from clank_lan.replay.model import MsgKey, Wire, key_name


@dataclass(frozen=True)
class StepResult:
    kind: str  # "handshake", "answers", "unsolicited"
    conn: str
    source: str  # where the client message (or the connect) is in the recording
    what: str
    sent: tuple[Wire, ...] = ()
    expected: tuple[Wire, ...] = ()
    actual: tuple[Wire, ...] = ()
    problems: tuple[str, ...] = ()
    bytes: tuple[ByteCheck, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def identical(self) -> tuple[str, ...]:
        """Message types that matched the recording byte for byte outside the mask."""
        return tuple(b.name for b in self.bytes if b.compared and b.equal)

    def listing(self, limit: int = 12) -> str:
        lines = [f"{self.conn}, {self.source}: {self.what} [{self.kind}]"]
        for label, wires in (("sent", self.sent), ("expected", self.expected), ("received", self.actual)):
            if not wires:
                lines.append(f"  {label:9} (nothing)")
            for i, w in enumerate(wires):
                if i == limit:
                    lines.append(f"  {'':9} ... {len(wires) - limit} more")
                    break
                lines.append(f"  {label if i == 0 else '':9} {w.describe()}")
        lines += [f"  problem:  {p}" for p in self.problems]
        lines += [f"  bytes:    {b.text()}" for b in self.bytes]
        return "\n".join(lines)


def _names(keys: set[MsgKey]) -> str:
    return "{" + ", ".join(sorted(key_name(k) for k in keys)) + "}" if keys else "{no answer}"


def _fixed_size(key: MsgKey) -> bool:
    _, cls, typ = key
    if cls < 0:
        return True  # the RT frames compared here (handshake, echoes) have fixed sizes
    t = message_type(cls, typ)
    return t is not None and not t.VARIABLE


def _first_by_key(wires: Sequence[Wire]) -> dict[MsgKey, Wire]:
    out: dict[MsgKey, Wire] = {}
    for w in wires:
        out.setdefault(w.key, w)
    return out


def check_answers(
    conn: str,
    source: str,
    what: str,
    sent: Sequence[Wire],
    expected: Sequence[Wire],
    actual: Sequence[Wire],
    ctx: CodecContext,
    extra_problems: Sequence[str] = (),
) -> StepResult:
    exp, act = _first_by_key(expected), _first_by_key(actual)
    problems = list(extra_problems)
    if set(exp) != set(act):
        problems.append(f"answer types differ: expected {_names(set(exp))}, received {_names(set(act))}")
    checks = []
    for key in exp.keys() & act.keys():
        if _fixed_size(key):
            want = sorted({w.size for w in expected if w.key == key})
            got = sorted({w.size for w in actual if w.key == key})
            if want != got:
                problems.append(f"{key_name(key)}: size {want} expected, {got} received")
        checks.append(compare_bytes(exp[key], act[key], ctx))
    return StepResult(
        "answers",
        conn,
        source,
        what,
        tuple(sent),
        tuple(expected),
        tuple(actual),
        tuple(problems),
        tuple(checks),
    )


def check_handshake(
    conn: str, source: str, expected: Sequence[Wire], actual: Sequence[Wire], ctx: CodecContext, why: str = ""
) -> StepResult:
    problems = [why] if why else []
    want, got = [w.name for w in expected], [w.name for w in actual]
    if want != got:
        problems.append(
            f"server RT ids differ: expected {', '.join(want)}; received {', '.join(got) or 'none'}"
        )
    checks = []
    for e, a in zip(expected, actual, strict=False):
        if e.rt_id != a.rt_id:
            break
        if e.size != a.size:
            problems.append(f"{e.name}: {e.size} bytes expected, {a.size} received")
        checks.append(compare_bytes(e, a, ctx))
    return StepResult(
        "handshake",
        conn,
        source,
        "RT handshake",
        (),
        tuple(expected),
        tuple(actual),
        tuple(problems),
        tuple(checks),
    )


def check_unsolicited(conn: str, expected: Sequence[Wire], actual: Sequence[Wire]) -> StepResult | None:
    """Server frames that answered no client message: ours may only be of types the recording has."""
    extra = {w.key for w in actual} - {w.key for w in expected}
    if not expected and not actual:
        return None
    problems = (f"our server sent {_names(extra)} answering no client message",) if extra else ()
    return StepResult(
        "unsolicited", conn, "-", "frames answering nothing", (), tuple(expected), tuple(actual), problems
    )


@dataclass
class ReplayReport:
    name: str
    steps: list[StepResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    @property
    def mismatches(self) -> list[StepResult]:
        return [s for s in self.steps if not s.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def step(self, source: str, conn: str | None = None) -> StepResult:
        """The step whose client message (or connect) is at ``source`` in the recording."""
        for s in self.steps:
            if (s.source == source or source in s.source.split("+")) and (conn is None or s.conn == conn):
                return s
        raise KeyError(f"no replay step at {source}")

    def for_conn(self, conn: str) -> list[StepResult]:
        return [s for s in self.steps if s.conn == conn]

    @property
    def identical(self) -> list[tuple[str, str]]:
        """(step source, message type) of every answer identical to the recording outside the mask."""
        return [(s.source, name) for s in self.steps for name in s.identical]

    def summary(self) -> str:
        compared = sum(1 for s in self.steps for b in s.bytes if b.compared)
        return (
            f"{self.name}: {len(self.steps)} steps, {len(self.mismatches)} mismatches; "
            f"{len(self.identical)} of {compared} byte-compared answers identical outside the mask"
        )

    def format(self, everything: bool = False) -> str:
        parts = [self.summary()]
        parts += [s.listing() for s in self.steps if everything or not s.ok]
        parts += [f"note: {n}" for n in self.notes]
        return "\n\n".join(parts)
