"""The config file: defaults, the shipped example, and errors that name the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from clank_lan.config import Config, ConfigError, load_config, parse_config

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
        ("[lobby]\n[[lobby.channels]]\nname = 5\n", 3, "lobby.channels.name"),
        ('[timeouts]\nclient = "x"\n', 2, "timeouts.client"),
        ("[dns]\nport = 70000\n", None, "dns"),
    ],
)
def test_bad_values_name_the_key_and_line(text, line, key):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.toml")
    msg = str(info.value)
    assert msg.startswith("my.toml")
    assert f"'{key}" in msg
    if line is not None:
        assert f"line {line}" in msg


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
    from clank_lan.serve import find_config

    monkeypatch.chdir(tmp_path)
    assert find_config(None, frozen_dir=None) is None
    (tmp_path / "clank-lan.toml").write_text("[ports]\nmas = 1\n")
    assert find_config(None, frozen_dir=None) == Path("clank-lan.toml")
    assert find_config(Path("other.toml"), frozen_dir=None) == Path("other.toml")


def test_a_frozen_first_run_writes_the_commented_example_beside_the_binary(tmp_path, monkeypatch):
    from clank_lan.serve import find_config

    monkeypatch.chdir(tmp_path)
    exe_dir = tmp_path / "bin"
    exe_dir.mkdir()
    found = find_config(None, frozen_dir=exe_dir)
    assert found == exe_dir / "clank-lan.toml"
    assert found.read_text("utf-8") == EXAMPLE.read_text("utf-8")
    assert load_config(found) == Config()
