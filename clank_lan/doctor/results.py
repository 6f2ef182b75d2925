"""The connection doctor's results and its advice: stage outcomes, and failures in plain words.

Pure text and data, shared by ``clank-lan client doctor`` (the network stages live in
``clank_lan.client.doctor``) and its tests: what a stage saw, how it prints, and the fix to
suggest for a refused port, a timeout, a foreign server on our port or a refused login.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from clank_lan.net.lan import list_ipv4_interfaces
from clank_lan.net.ports import find_port_owner
from clank_lan.ports import FIXED_GAME_PORTS


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class StageResult:
    stage: str
    outcome: Outcome
    what: str
    seconds: float | None = None
    detail: str = ""  # what was seen (PASS) or what went wrong (FAIL) or why not run (SKIPPED)
    fix: str = ""  # failures: what to do about it
    note: str = ""  # passes with something worth knowing

    def lines(self) -> list[str]:
        took = f"  [{self.seconds * 1000:.0f} ms]" if self.seconds is not None else ""
        head = f"{self.outcome.value:<7} {self.stage:<12} {self.what}{took}"
        if self.outcome is Outcome.PASS:
            out = [head + (f"  {self.detail}" if self.detail else "")]
            if self.note:
                out.append(f"{'':20}note: {self.note}")
            return out
        out = [head]
        if self.detail:
            out.append(f"{'':20}{self.detail}")
        if self.fix:
            out.append(f"{'':20}fix: {self.fix}")
        return out


class StageFailed(Exception):
    """Raised inside a stage: it failed, with what was seen and the fix."""

    def __init__(self, detail: str, fix: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


@dataclass(frozen=True)
class Passed:
    """A stage's success: what it saw, a value for later stages, and anything worth a note."""

    detail: str = ""
    value: Any = None
    note: str = ""


# --- errors in plain words --------------------------------------------------------------------


def root_error(exc: BaseException) -> BaseException:
    """The most telling leaf of an exception group / trio's "all attempts failed" chain."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
            return
        leaves.append(e)
        if isinstance(e, OSError) and e.errno is None and e.__cause__ is not None:
            walk(e.__cause__)

    walk(exc)
    return next((e for e in leaves if isinstance(e, OSError) and e.errno is not None), leaves[0])


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.strerror or errno.errorcode.get(exc.errno, exc.errno)} (errno {exc.errno})"
    return str(exc) or type(exc).__name__


def is_refused(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED
    )


def unreachable_fix(host: str) -> str:
    return (
        f"{host} is not reachable from this machine: check the address, and that both machines are "
        "on the same network (or that the router forwards the ports)."
    )


def tcp_refused_fix(service: str, port: int, option: str) -> str:
    fixed = " The games dial this port as a fixed number." if port in FIXED_GAME_PORTS else ""
    shown = "DME_TCP" if service == "DME" else service
    return (
        f"is clank-lan running? Its 'status' command shows whether {shown} is up. If {shown} is "
        f"DOWN, another program holds TCP {port} on the server (clank-lan names it when it starts; or "
        f"run: sudo ss -lpnt 'sport = :{port}'). If clank-lan uses another port, pass {option}.{fixed}"
    )


def tcp_timeout_fix(host: str, port: int) -> str:
    return (
        f"a firewall is probably dropping TCP {port} on {host} (Linux: sudo ufw allow {port}/tcp; "
        f"Windows: allow clank-lan through Windows Defender Firewall), or {host} is the wrong address."
    )


def is_this_machine(ip: str) -> bool:
    if ipaddress.IPv4Address(ip).is_loopback:
        return True
    try:
        return ip in {i.address for i in list_ipv4_interfaces()}
    except OSError:
        return False


def foreign_server_fix(service: str, host: str, port: int) -> str:
    held = ""
    if is_this_machine(host):
        owner = find_port_owner(port, "TCP")
        if owner is not None:
            held = f" On this machine TCP {port} is held by {owner.describe()}."
    return (
        f"something on TCP {port} accepted the connection but did not answer as clank-lan's {service}: "
        "another Medius server (Horizon, Clank, a second clank-lan) may hold the port, or clank-lan "
        f"refused us (its log says why).{held}"
    )


def login_fix(text: str, user: str) -> str:
    if "INVALID_PASSWORD" in text:
        return (
            f"an account named {user!r} exists with another password: pass another --user or its --password."
        )
    if "ACCOUNT_NOT_FOUND" in text or "REGISTRATION_FAILED" in text:
        return (
            "the server refuses new accounts ([accounts] auto_create = false): log in with an existing "
            "account."
        )
    if "BANNED" in text:
        return f"{user!r} or this machine is banned on the server: 'unban {user}' on the server."
    if "LOGGED_IN" in text:
        return f"{user!r} is still logged in from an earlier run: wait a few seconds and try again."
    return "see the server's log (the MAS line for this login says why it refused)."


def summary(results: Sequence[StageResult], host: str = "") -> str:
    failed = [r for r in results if r.outcome is Outcome.FAIL]
    skipped = [r for r in results if r.outcome is Outcome.SKIPPED]
    if not failed and not skipped:
        return f"all {len(results)} checks passed"
    first = failed[0].stage if failed else skipped[0].stage
    text = f"{len(failed)} failed, {len(skipped)} skipped of {len(results)} checks; start with: {first}"
    ports = [r for r in results if r.stage.startswith("tcp-")]
    if ports and all(r.outcome is Outcome.FAIL for r in ports):
        text += f". No clank-lan port answers at {host or 'the server'}: is clank-lan running there?"
    return text
