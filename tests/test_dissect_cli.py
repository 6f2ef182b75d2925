"""``clank-lan dissect``: output, key options, exit codes and one-line errors on bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from clank_lan.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
B41 = FIXTURES / "b41.pcap"
SUMMARY_RE = re.compile(
    r"^frames: (\d+)  encrypted: (\d+)  decrypted: (\d+)  hash-failures: (\d+)  undecodable: (\d+)$"
)


def dissect_cli(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["dissect", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def summary(lines: list[str]) -> tuple[int, ...]:
    found = [m for m in map(SUMMARY_RE.match, lines) if m]
    assert len(found) == 1 and lines[-1] == found[0].group(0)
    return tuple(int(g) for g in found[0].groups())


def test_b41_full_output(capsys):
    code, out, err = dissect_cli(capsys, str(B41))
    assert code == 0 and err == []
    assert summary(out) == (1006, 475, 471, 1, 3)
    assert out[0] == "#1 1336367842.554489 t1 [MUIS] 192.168.1.107:14720 recv CLIENT_HELLO(0x24) len=10 clear"
    assert out[1].startswith("0000 | 24 0a 00 02 00 6e 00")
    assert "-- packet 411 1336367863.633695 u1 [NAT] nat: NAT request a0e6e401" in out
    i = out.index("not decrypted (4):")
    assert [line.split(":")[0] for line in out[i + 1 : i + 5]] == [
        "  #55 (packet 185) t3 MLS recv CLIENT_CRYPTKEY_PUBLIC",
        "  #267 (packet 386) t4 MLS recv CLIENT_CRYPTKEY_PUBLIC",
        "  #291 (packet 417) t5 DME recv CLIENT_CRYPTKEY_PUBLIC",
        "  #572 (packet 747) u2 DME recv CLIENT_ECHO",
    ]
    undecrypted = [line for line in out if "status=" in line]
    assert len(undecrypted) == 4
    assert undecrypted[-1].endswith("CLIENT_ECHO(0x05) len=1 enc=0 udp hash=4fb80f00 status=hash-failure")


def test_quiet(capsys):
    code, out, _ = dissect_cli(capsys, "-q", str(B41))
    assert code == 0
    assert out[0] == "not decrypted (4):"
    assert out[-2] == "notes: nat 13"
    assert summary(out) == (1006, 475, 471, 1, 3)


def test_rc4_key_options(capsys, tmp_path):
    keys = [line.strip() for line in (FIXTURES / "sym_keys.txt").read_text("utf-8-sig").splitlines()]
    path = str(FIXTURES / "uya" / "to_Aridia.pcap")
    args = [a for k in keys for a in ("--rc4-key", k)]
    assert summary(dissect_cli(capsys, "-q", *args, path)[1]) == (41, 40, 33, 0, 7)
    assert summary(dissect_cli(capsys, "-q", "--rc4-keys", str(FIXTURES / "sym_keys.txt"), path)[1]) == (
        41, 40, 33, 0, 7,
    )  # fmt: skip
    keyfile = tmp_path / "keys.txt"
    keyfile.write_text("# two keys\n\n" + keys[0] + "\n" + keys[1] + "  # comment\n")
    code, out, _ = dissect_cli(capsys, "-q", "--rc4-keys", str(keyfile), path)
    assert code == 0 and summary(out)[2] == 29


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rc4-key", "abcd"], "--rc4-key: an RC4 key is 128 hex digits, got 4"),
        (["--rc4-key", "zz" * 64], "--rc4-key: not a hex key"),
        (["--rc4-keys", "/nonexistent/keys.txt"], "cannot read key file /nonexistent/keys.txt"),
        (["--port", "MLS"], "--port: expected SERVICE=PORT"),
        (["--port", "MLS=70000"], "--port: expected SERVICE=PORT"),
    ],
)
def test_bad_arguments(capsys, args, message):
    code, out, err = dissect_cli(capsys, *args, str(B41))
    assert code == 2 and out == []
    assert len(err) == 1 and err[0].startswith("clank-lan dissect: error: ") and message in err[0]


def test_key_file_with_bad_line(capsys, tmp_path):
    keyfile = tmp_path / "k.txt"
    keyfile.write_text("00" * 64 + "\nnot-a-key\n")
    code, _, err = dissect_cli(capsys, "--rc4-keys", str(keyfile), str(B41))
    assert code == 2 and err == [
        f"clank-lan dissect: error: {keyfile}, line 2: an RC4 key is 128 hex digits, got 9"
    ]


def test_port_option(capsys):
    code, out, _ = dissect_cli(capsys, "-q", "--port", "mls=10075", str(B41))
    assert code == 0 and summary(out) == (1006, 475, 471, 1, 3)
    out = dissect_cli(capsys, "--port", "mls=10075", str(B41))[1]
    assert any("[MLS] 192.168.1.107:34466 recv" in line for line in out)  # the MAS connection
    assert not any("[MAS]" in line for line in out)


def test_missing_file_and_directory(capsys, tmp_path):
    for target in (tmp_path / "nope.pcap", tmp_path):
        code, out, err = dissect_cli(capsys, str(target))
        assert code == 2 and out == []
        assert len(err) == 1 and err[0].startswith(f"clank-lan dissect: error: cannot read {target}")


def _damaged_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    blob = B41.read_bytes()
    cases = {
        "truncated": (blob[: len(blob) // 2], "record 448 truncated (63 of 84 bytes)"),
        "garbage": (bytes(range(256)) * 8, "not a pcap or pcapng file (magic 00010203)"),
        "wrong-magic": (b"\xd4\xc3\xb2\xa2" + blob[4:], "not a pcap or pcapng file (magic d4c3b2a2)"),
        "empty": (b"", "file too short to be a capture (0 bytes)"),
        "pcapng-cut": ((FIXTURES / "uya-pal-login.pcapng").read_bytes()[:3000], "pcapng block truncated"),
    }
    out = {}
    for name, (data, msg) in cases.items():
        p = tmp_path / f"{name}.pcap"
        p.write_bytes(data)
        out[name] = (p, msg)
    return out


def test_damaged_captures(capsys, tmp_path):
    for name, (path, message) in _damaged_cases(tmp_path).items():
        code, out, err = dissect_cli(capsys, str(path))
        assert code == 1, name
        assert len(err) == 1, name
        assert err[0].startswith(f"clank-lan dissect: error: {path}: damaged capture: "), name
        assert message in err[0], name
        frames = summary(out)[0]
        if name == "truncated":
            assert frames == 326  # the frames of the 447 records read before the damage
            assert out[0].startswith("#1 ")
        if name == "pcapng-cut":
            assert frames > 0


def test_damaged_capture_in_a_subprocess_has_no_traceback(tmp_path):
    path = _damaged_cases(tmp_path)["truncated"][0]
    proc = subprocess.run(
        [sys.executable, "-m", "clank_lan", "dissect", "-q", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert SUMMARY_RE.match(proc.stdout.splitlines()[-1])
