"""Command line entry point: ``clank-lan <command> ...``.

Each command lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``;
modules are imported only when their command runs, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from clank_lan import __version__

#: command name -> (module, one-line help). The one place a command is registered.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("clank_lan.serve", "run the appliance (every server, DNS, console)"),
    "client": ("clank_lan.client.cli", "headless client: log in, chat, create/join games, bots, doctor"),
    "dissect": ("clank_lan.dissect.cli", "decode a pcap/pcapng capture of SCE-RT/Medius traffic"),
    "hosts-ini": ("clank_lan.dns.hosts_cli", "write a PCSX2 DNS hosts file pointing the game names here"),
    "selftest": ("clank_lan.selftest", "start every server on 127.0.0.1 and check that each answers"),
}


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clank-lan",
        description="clank-lan: play PlayStation 2 online games (SCE-RT / Medius) on your LAN.",
    )
    parser.add_argument("--version", action="version", version=f"clank-lan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == load:
            importlib.import_module(module).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
