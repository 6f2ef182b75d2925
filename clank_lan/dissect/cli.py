"""``clank-lan dissect CAPTURE``: print every SCE-RT frame of a capture, decrypted where the known
keys allow, then the frames that were not and one summary line.

Exit status: 0 when the capture was read completely, 1 when it is damaged (what was read before
the damage is still printed), 2 for unusable arguments or an unreadable file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from clank_lan.dissect.engine import dissect
from clank_lan.dissect.report import render
from clank_lan.dissect.services import default_ports, parse_port_spec

PROG = "clank-lan dissect"
KEY_HEX_LEN = 128


class UsageError(Exception):
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", help="pcap or pcapng file")
    parser.add_argument(
        "--rc4-key",
        action="append",
        default=[],
        metavar="HEX",
        help="a 64-byte RC4 session key (128 hex digits) to try on frames without a key; repeatable",
    )
    parser.add_argument(
        "--rc4-keys",
        action="append",
        default=[],
        metavar="FILE",
        help="file of RC4 keys, one hex key per line (blank lines and # comments ignored)",
    )
    parser.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="also treat PORT as SERVICE (e.g. MLS=10178); repeatable",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the frames not decrypted and the summary"
    )


def parse_key(text: str, where: str) -> bytes:
    text = text.strip()
    if len(text) != KEY_HEX_LEN:
        raise UsageError(f"{where}: an RC4 key is {KEY_HEX_LEN} hex digits, got {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"{where}: not a hex key") from None


def read_key_file(path: str) -> list[bytes]:
    try:
        text = Path(path).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read key file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    keys = []
    for no, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            keys.append(parse_key(line, f"{path}, line {no}"))
    return keys


def _keys(args: argparse.Namespace) -> list[bytes]:
    keys = [parse_key(k, "--rc4-key") for k in args.rc4_key]
    for path in args.rc4_keys:
        keys.extend(read_key_file(path))
    return keys


def _ports(args: argparse.Namespace) -> dict[int, str]:
    ports = default_ports()
    for spec in args.port:
        try:
            port, name = parse_port_spec(spec)
        except ValueError as exc:
            raise UsageError(f"--port: {exc}") from None
        ports[port] = name
    return ports


def _error(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    try:
        keys = _keys(args)
        ports = _ports(args)
    except UsageError as exc:
        _error(str(exc))
        return 2
    try:
        result = dissect(args.capture, keys, ports)
    except OSError as exc:
        _error(f"cannot read {args.capture}: {exc.strerror or exc}")
        return 2
    try:
        out = sys.stdout
        for line in render(result, frames=not args.quiet):
            out.write(line + "\n")
        out.flush()
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    if result.error:
        _error(f"{args.capture}: damaged capture: {result.error}")
        return 1
    return 0
