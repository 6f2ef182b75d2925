"""The command line: --version, --help and every registered command's help, from a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from clank_lan import __version__
from clank_lan.cli import COMMANDS, main


def _run(*args: str, python: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *python, "-m", "clank_lan", *args], capture_output=True, text=True, timeout=60
    )


#: ``-X importtime`` lists imported modules on stderr: a check that the appliance was not loaded.
IMPORTTIME = ("-X", "importtime")


def imported(stderr: str) -> set[str]:
    """The modules ``-X importtime`` reported: those of ``import`` statements (the modules
    ``cli.main`` loads with ``importlib.import_module`` are not listed, what they import is)."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


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
    r = _run("serve", "--headless", "--ephemeral", "--config", str(cfg), python=IMPORTTIME)
    assert r.returncode == 2
    assert "line 2" in r.stderr and "ports.mas" in r.stderr
    assert "clank_lan.engine" not in imported(r.stderr)  # stopped before the appliance was loaded


@pytest.mark.parametrize("action", ["login", "chat", "games", "create", "admin", "bot"])
def test_client_help_says_each_run_gets_its_own_account(action, capsys):
    with pytest.raises(SystemExit) as info:
        main(["client", action, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a new name each run" in out and "never share an account" in out
    assert "--clear" in out and "no key exchange" in out


FREE_PORTS = """
[ports]
muis = 0
mas = 0
mls = 0
mps = 0
dme_tcp = 0
dme_udp = 0
nat = 0
[dnas]
port = 0
[web]
port = 0
"""


def test_ephemeral_keeps_the_database_in_memory_and_the_log_under_data(tmp_path):
    """Issue 9 item 10: --ephemeral means "the database in memory"; --data still says where logs go."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(FREE_PORTS)
    data = tmp_path / "data"
    argv = [sys.executable, "-m", "clank_lan", "serve", "--headless", "--no-dns", "--ephemeral"]
    argv += ["--address", "127.0.0.1", "--config", str(cfg), "--data", str(data)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:  # bounded: serve prints the setup text once everything is bound
            lines.append(line)
            if "Primary DNS" in line or len(lines) > 200:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert any("Primary DNS" in line for line in lines), "".join(lines)
    assert proc.returncode == 0
    log_file = data / "logs" / "clank-lan.log"
    assert log_file.is_file() and "starting" in log_file.read_text()
    assert "CLIENT" not in rest  # no traceback on the way out
    assert not list(data.glob("*.sqlite3*"))  # nothing of the database touched the disk


@pytest.mark.parametrize(
    ("args", "words"), [(["--dns-port", "70000"], "not a port"), (["--log-level", "loud"], "invalid choice")]
)
def test_serve_refuses_bad_options_without_a_traceback(args, words):
    r = _run("serve", "--headless", *args, python=IMPORTTIME)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr
    modules = imported(r.stderr)
    assert "clank_lan.config" in modules and "clank_lan.engine" not in modules

