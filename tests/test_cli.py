"""The command line: --version, --help and every registered command's help, from a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clank_lan import __version__
from clank_lan.cli import COMMANDS, main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clank_lan", *args], capture_output=True, text=True, timeout=60
    )


def test_version():
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"clank-lan {__version__}"


def test_help_lists_every_command():
    r = _run("--help")
    assert r.returncode == 0
    for name in COMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    assert "usage: clank-lan" in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_bad_config_file_names_key_and_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[ports]\nmas = 'x'\n")
    r = _run("serve", "--headless", "--ephemeral", "--config", str(cfg))
    assert r.returncode == 2
    assert "line 2" in r.stderr and "ports.mas" in r.stderr
