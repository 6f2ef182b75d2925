"""The config file: defaults, the shipped example, and errors that name the key and the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clank_lan.config import Config, ConfigError, load_config, parse_config
from clank_lan.serve_options import find_config

EXAMPLE = Path(__file__).resolve().parents[1] / "clank_lan" / "assets" / "clank-lan.example.toml"


def test_empty_file_gives_defaults():
    assert parse_config("") == Config()
    assert Config().ports.mas == 10075 and Config().dns.port == 53


def test_shipped_example_parses_to_the_defaults():
    assert load_config(EXAMPLE) == Config()


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('[ports]\nmas = "ten"\n', 2, "ports.mas"),
        ("[ports]\n\nbogus = 1\n", 3, "ports.bogus"),
        ("[lobby]\n[[lobby.channels]]\nname = 5\n", 3, "lobby.channels[0].name"),
        ('[[lobby.channels]]\nname = "a"\n\n[[lobby.channels]]\nname = "b"\nmax_players = 0\n', 6,
         "lobby.channels[1].max_players"),
        ('[timeouts]\nclient = "x"\n', 2, "timeouts.client"),
        ("[timeouts]\nclient = -5\n", 2, "timeouts.client"),
        ("[timeouts]\nhandshake = 0\n", 2, "timeouts.handshake"),
        ("[timeouts]\ndme_echo = inf\n", 2, "timeouts.dme_echo"),
        ("[timeouts]\ndme_echo = nan\n", 2, "timeouts.dme_echo"),
        ("[ports]\nmls = 70000\n", 2, "ports.mls"),
        ("[ports]\nnat = -1\n", 2, "ports.nat"),
        ("[ports]\nmas = true\n", 2, "ports.mas"),
        ("[ports]\nmas = 1.5\n", 2, "ports.mas"),
        ('[logging]\nlevel = "loud"\n', 2, "logging.level"),
        ('[logging]\nframes = "yes"\n', 2, "logging.frames"),
        ('[network]\naddress = "my-pc"\n', 2, "network.address"),
        ('[network]\nadvertised_address = "1.2.3.999"\n', 2, "network.advertised_address"),
        ("[dns]\nport = 70000\n", 2, "dns.port"),
        ("[dns]\nttl = -1\n", 2, "dns.ttl"),
        ('[dns]\nupstream_failure = "explode"\n', 2, "dns.upstream_failure"),
        ('[dns]\nupstream = "dns.google"\n', 2, "dns.upstream"),
        ('[dns]\nupstream = "1.1.1.1:99999"\n', 2, "dns.upstream"),
        ('[dns]\nwildcards = ["example.com"]\n', 2, "dns.wildcards"),
        ('\n[dns]\nextra_names = ["a..b"]\n', 3, "dns.extra_names"),
        ('[dns]\nbind = "everywhere"\n', 2, "dns.bind"),
        ('[dns]\ndnas_address = "x"\n', 2, "dns.dnas_address"),
        ("[limits]\nchat_lines_per_second = 0\n", 2, "limits.chat_lines_per_second"),
        ("[limits]\ndns_tcp_per_address = 0\n", 2, "limits.dns_tcp_per_address"),
        ('[lobby]\ncommand_prefix = ""\n', 2, "lobby.command_prefix"),
        ("ports = { mls = 70000 }\n", 1, "ports.mls"),
        ("[ports]\n\n\n[timeouts]\nclient = -1\n", 5, "timeouts.client"),
        ('[loggin]\nlevel = "info"\n', 1, "loggin"),
        ("[ports]\nmls = [1]\n", 2, "ports.mls"),
        ("ports = 5\n", 1, "ports"),
        ("[titles.extra_app_ids]\nuya = [0]\n", 1, "titles.extra_app_ids"),  # a table of our own keys
        ("[titles]\nextra_groups = [[1], [0]]\n", 2, "titles.extra_groups[1][0]"),
    ],
)
def test_bad_values_name_the_key_and_line(text, line, key):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.toml")
    msg = str(info.value)
    assert msg.startswith("my.toml")
    assert f"key '{key}'" in msg
    if line is not None:
        assert f"line {line}:" in msg
    assert "Traceback" not in msg and "\n" not in msg


def test_an_unknown_enum_value_lists_the_allowed_ones():
    with pytest.raises(ConfigError) as info:
        parse_config('[logging]\nlevel = "loud"\n', "c.toml")
    assert str(info.value) == (
        "c.toml, line 2: key 'logging.level': Invalid enum value 'loud' "
        "(allowed: 'debug', 'info', 'warning', 'error')"
    )


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[lobby]\n# ok\neula = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value).startswith(f"{bad}, line 3: not UTF-8 text (byte 0xe9")


def test_a_huge_file_is_refused_unread(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (2 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(big)


def test_deep_nesting_is_a_config_error_not_a_recursion_error():
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_config("a = " + "[" * 5000 + "]" * 5000)


def test_integers_are_accepted_for_seconds_and_rates():
    cfg = parse_config("[timeouts]\nclient = 45\n[limits]\nrelay_frames_per_second = 300\n")
    assert cfg.timeouts.client == 45.0 and cfg.limits.relay_frames_per_second == 300.0


def test_every_setting_is_documented_in_the_example():
    import msgspec

    text = EXAMPLE.read_text("utf-8")
    for section in msgspec.structs.fields(Config):
        assert f"[{section.name}]" in text, section.name
        for field in msgspec.structs.fields(section.type):
            as_key = re.search(rf"^{field.name} = ", text, re.M)
            as_table = f"[{section.name}.{field.name}]" in text  # e.g. a commented-out [[lobby.channels]]
            assert as_key or as_table, f"{section.name}.{field.name}"


def test_limits_have_documented_lan_friendly_defaults():
    limits = Config().limits
    assert limits.connections_per_address >= 16 and limits.dns_tcp_per_address >= 4
    assert limits.log_lines_per_peer <= limits.log_lines_total
    assert limits.relay_frames_per_second >= 10 * 15  # ten times a UYA player's rate


def test_toml_syntax_error_names_the_line():
    with pytest.raises(ConfigError, match=r"line 2"):
        parse_config("[ports]\nmas = = 1\n", "c.toml")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_custom_channels_appear_in_the_lobby():
    cfg = parse_config('[[lobby.channels]]\nname = "Tournament"\ntitle = "uya"\nmax_players = 16\n')
    assert cfg.lobby.channels[0].name == "Tournament" and cfg.lobby.channels[0].max_players == 16


def test_config_discovery_prefers_the_explicit_file_then_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_config(None, frozen_dir=None) is None
    (tmp_path / "clank-lan.toml").write_text("[ports]\nmas = 1\n")
    assert find_config(None, frozen_dir=None) == Path("clank-lan.toml")
    assert find_config(Path("other.toml"), frozen_dir=None) == Path("other.toml")


def test_a_frozen_first_run_writes_the_commented_example_beside_the_binary(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exe_dir = tmp_path / "bin"
    exe_dir.mkdir()
    found = find_config(None, frozen_dir=exe_dir)
    assert found == exe_dir / "clank-lan.toml"
    assert found.read_text("utf-8") == EXAMPLE.read_text("utf-8")
    assert load_config(found) == Config()


def test_limits_build_their_limiters():
    text = "[limits]\nchat_lines_per_second = 1\nchat_burst = 2\nlog_lines_per_peer = 1\n"
    limits = parse_config(text).limits
    chat = limits.keyed(limits.chat_lines_per_second, limits.chat_burst)
    assert [chat.allow("session 7", 0.0) for _ in range(3)] == [True, True, False]
    assert chat.allow("session 7", 1.0) and chat.max_keys == limits.tracked_peers
    log = limits.log_limiter()
    assert [log.admit("1.2.3.4", 0.0).allowed for _ in range(2)] == [True, False]
