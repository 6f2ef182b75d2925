"""``clank-lan hosts-ini``: a PCSX2 internal-DNS hosts file pointing every game name at this machine.

For PCSX2 users who cannot (or would rather not) run the DNS server. Two formats, both as
PCSX2 2.x reads them (pcsx2-qt DEV9SettingsWidget import/export and Pcsx2Config DEV9 load/save):

* ``import`` (default): the file the "Internal DNS" tab's Import button reads: sections
  ``[Host0]``, ``[Host1]``... with ``Url``, ``Desc``, ``Address``, ``Enabled``; reading stops at
  the first section without a Url, and there is no count.
* ``pcsx2-ini``: the same entries as PCSX2.ini itself stores them: ``[DEV9/Eth/Hosts]`` with
  ``Count``, then ``[DEV9/Eth/Hosts/Host0]``... To paste over existing ``DEV9/Eth/Hosts`` sections.

PCSX2 matches a query by exact lower-case name (no wildcards), so every name is listed, lower-case.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from clank_lan.net.lan import detect_lan_address
from clank_lan.titles import ALL_TITLES, DNAS_HOSTNAMES, SERVICE_HOSTNAMES, TITLES_BY_KEY


@dataclass(frozen=True, slots=True)
class HostEntry:
    url: str
    desc: str
    address: str
    enabled: bool = True


def host_entries(address: str, *, dnas_address: str = "", titles: tuple[str, ...] = ()) -> list[HostEntry]:
    """One entry per name: the chosen titles' names (all when empty), then DNAS and service names."""
    chosen = [TITLES_BY_KEY[k] for k in titles] if titles else list(ALL_TITLES)
    entries = [HostEntry(h, t.name, address) for t in chosen for h in t.hostnames]
    for name, what in SERVICE_HOSTNAMES.items():
        target = dnas_address if (dnas_address and name in DNAS_HOSTNAMES) else address
        entries.append(HostEntry(name, what, target))
    return entries


def _section(header: str, entry: HostEntry) -> str:
    return (
        f"[{header}]\nUrl = {entry.url}\nDesc = {entry.desc}\nAddress = {entry.address}\n"
        f"Enabled = {'true' if entry.enabled else 'false'}\n"
    )


def render_import_file(entries: list[HostEntry]) -> str:
    """The hosts.ini PCSX2's Internal DNS tab imports."""
    return "\n".join(_section(f"Host{i}", e) for i, e in enumerate(entries))


def render_pcsx2_ini(entries: list[HostEntry]) -> str:
    """The DEV9 hosts sections of PCSX2.ini."""
    parts = [f"[DEV9/Eth/Hosts]\nCount = {len(entries)}\n"]
    parts += [_section(f"DEV9/Eth/Hosts/Host{i}", e) for i, e in enumerate(entries)]
    return "\n".join(parts)


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address") from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        type=_ipv4,
        help="address the names should point at (default: this machine's LAN address)",
    )
    parser.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    parser.add_argument(
        "--format",
        choices=("import", "pcsx2-ini"),
        default="import",
        help="'import': for the Internal DNS tab's Import button (default); "
        "'pcsx2-ini': sections to paste into PCSX2.ini",
    )
    parser.add_argument(
        "--dnas-address", type=_ipv4, help="point the DNAS gateway names at this address instead"
    )
    parser.add_argument(
        "--title",
        action="append",
        choices=sorted(TITLES_BY_KEY),
        metavar="KEY",
        help="only this title's names (repeatable; default: every title). Keys: " + ", ".join(TITLES_BY_KEY),
    )


def run(args: argparse.Namespace) -> int:
    address = args.address
    if address is None:
        found = detect_lan_address()
        address = found.address
        where = f" on {found.interface}" if found.interface else ""
        print(f"clank-lan: using this machine's address {address}{where} ({found.method})", file=sys.stderr)
        if not found.usable:
            print(
                "clank-lan: warning: no LAN address found; 127.0.0.1 only works with PCSX2 on this same "
                "computer (PCSX2 maps it to the PC's own address). Use --address otherwise.",
                file=sys.stderr,
            )
    entries = host_entries(address, dnas_address=args.dnas_address or "", titles=tuple(args.title or ()))
    text = render_import_file(entries) if args.format == "import" else render_pcsx2_ini(entries)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"clank-lan: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
        return 1
    how = (
        "In PCSX2: Settings > Network & HDD > Internal DNS > Import, then set DNS1 to Internal."
        if args.format == "import"
        else "With PCSX2 closed, paste these sections into PCSX2.ini over any DEV9/Eth/Hosts sections."
    )
    print(
        f"clank-lan: wrote {len(entries)} names pointing at {address} to {args.output}. {how}",
        file=sys.stderr,
    )
    return 0
