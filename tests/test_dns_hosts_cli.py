"""``clank-lan hosts-ini``: PCSX2's two hosts formats, checked the way PCSX2 reads them."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from clank_lan.cli import main
from clank_lan.dns.hosts_cli import host_entries, render_import_file, render_pcsx2_ini
from clank_lan.titles import DNAS_HOSTNAMES, all_hostnames


def read_import_file(text: str) -> list[dict[str, str]]:
    """PCSX2's Import: sections Host0, Host1... until one has no Url; no count."""
    ini = configparser.ConfigParser()
    ini.read_string(text)
    hosts, i = [], 0
    while ini.has_section(f"Host{i}") and ini.get(f"Host{i}", "Url", fallback=""):
        hosts.append(dict(ini[f"Host{i}"]))
        i += 1
    assert len(hosts) == len(ini.sections()), "a gap in the numbering would hide the rest"
    return hosts


def test_import_file_lists_every_name_with_the_address() -> None:
    text = render_import_file(host_entries("192.168.1.50"))
    hosts = read_import_file(text)
    assert [h["url"] for h in hosts] == all_hostnames()
    assert {h["address"] for h in hosts} == {"192.168.1.50"}
    assert {h["enabled"] for h in hosts} == {"true"}
    assert hosts[0]["desc"] == "Ratchet & Clank: Up Your Arsenal (NTSC-U)"
    assert text.startswith("[Host0]\nUrl = ratchet3-prod1.pdonline.scea.com\nDesc = ")
    assert all(h["url"] == h["url"].lower() for h in hosts)  # PCSX2 compares lower-case names


def test_pcsx2_ini_sections_carry_a_count() -> None:
    entries = host_entries("10.0.0.2", titles=("uya-pal",))
    ini = configparser.ConfigParser()
    ini.read_string(render_pcsx2_ini(entries))
    count = ini.getint("DEV9/Eth/Hosts", "Count")
    assert count == len(entries) == 3 + len(DNAS_HOSTNAMES) + 1
    urls = [ini.get(f"DEV9/Eth/Hosts/Host{i}", "Url") for i in range(count)]
    assert urls[:3] == [
        "randc3-master.online.scee.com",
        "randc3-preprod.online.scee.com",
        "randc3-prod.rt.au.playstation.com",
    ]
    assert ini.getboolean("DEV9/Eth/Hosts/Host0", "Enabled")


def test_dnas_names_can_point_elsewhere() -> None:
    entries = host_entries("10.0.0.2", dnas_address="203.0.113.5", titles=("dl-ntsc",))
    by_url = {e.url: e.address for e in entries}
    assert all(by_url[n] == "203.0.113.5" for n in DNAS_HOSTNAMES)
    assert by_url["ratchetdl-prod.pdonline.scea.com"] == "10.0.0.2"
    assert by_url["nightcrawler.insomniacgames.com"] == "10.0.0.2"


def test_cli_writes_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hosts.ini"
    assert main(["hosts-ini", "--address", "192.168.1.50", "--output", str(out)]) == 0
    hosts = read_import_file(out.read_text(encoding="utf-8"))
    assert len(hosts) == len(all_hostnames())
    assert "Import" in capsys.readouterr().err


def test_cli_prints_to_stdout_and_detects_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hosts-ini", "--format", "pcsx2-ini", "--title", "uya-ntsc"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("[DEV9/Eth/Hosts]\nCount = ")
    assert "using this machine's address" in captured.err


def test_cli_refuses_a_bad_address(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["hosts-ini", "--address", "ps2.local"])
    assert caught.value.code == 2 and "not an IPv4 address" in capsys.readouterr().err


def test_cli_reports_an_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hosts-ini", "--address", "10.0.0.2", "-o", str(tmp_path / "missing" / "h.ini")]) == 1
    assert "cannot write" in capsys.readouterr().err
