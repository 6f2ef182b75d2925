"""Hostile config files: random bytes, random text and random TOML documents give a ``Config`` or a
``ConfigError`` naming the file, never another exception; a bad file stops ``serve`` before any
service starts."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clank_lan.config import Config, ConfigError, load_config, parse_config
from tests.fuzz_budget import fuzz

ROOT = Path(__file__).resolve().parents[1]

# --- a small TOML writer for generated documents --------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else toml_string(key)


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_document(doc: dict[str, dict[str, object]]) -> str:
    out = []
    for section, body in doc.items():
        out.append(f"[{toml_key(section)}]")
        out.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items())
    return "\n".join(out) + "\n"


# --- strategies: real section and key names mostly, with values of every TOML type ------------

_SECTIONS = {s.name: [f.name for f in msgspec.structs.fields(s.type)] for s in msgspec.structs.fields(Config)}
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 53, 65535, 65536, 70000, 2**31, -(2**31) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["auto", "lan", "any", "info", "loud", "127.0.0.1", "*.example.com", "1.1.1.1:53", ""]),
)
_INNER_KEYS = st.sampled_from(["name", "x", "title"])
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_INNER_KEYS, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def documents(draw) -> dict[str, dict[str, object]]:
    names = st.one_of(st.sampled_from(sorted(_SECTIONS)), st.text(min_size=1, max_size=10))
    doc: dict[str, dict[str, object]] = {}
    for section in draw(st.lists(names, max_size=4, unique=True)):
        keys = st.one_of(st.sampled_from(_SECTIONS.get(section) or ["x"]), st.text(min_size=1, max_size=10))
        doc[section] = draw(st.dictionaries(keys, _values, max_size=5))
    return doc


def accepts_or_explains(text: str) -> None:
    try:
        assert isinstance(parse_config(text, "fuzz.toml"), Config)
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml") and "\n" not in str(exc).split(": not valid TOML")[0]


@fuzz(50)
@given(documents())
def test_fuzz_random_toml_documents(doc):
    accepts_or_explains(toml_document(doc))


@fuzz(75)
@given(st.text(max_size=300))
def test_fuzz_random_text(text):
    accepts_or_explains(text)


@fuzz(50)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_from_a_file(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz.toml"
    path.write_bytes(data)
    try:
        assert isinstance(load_config(path), Config)
    except ConfigError as exc:
        assert str(path) in str(exc)


def test_valid_generated_values_round_trip():
    # The writer above must produce TOML that parses, or the document fuzz would test nothing.
    doc = {"ports": {"mls": 10078}, "timeouts": {"client": 12.5}, "dns": {"extra_names": ["a.example"]}}
    cfg = parse_config(toml_document(doc))
    assert cfg.ports.mls == 10078 and cfg.timeouts.client == 12.5 and cfg.dns.extra_names == ("a.example",)


def test_serve_stops_on_a_bad_config_before_any_service_starts(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[ports]\nmuis = 10071\nmls = 70000\n", "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "clank_lan", "serve", "--config", str(bad), "--headless", "--ephemeral"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"clank-lan: {bad}, line 3: key 'ports.mls': Expected `int` <= 65535, got 70000"
    )
    assert done.stdout == ""  # nothing started, nothing printed


def test_serve_explains_a_file_that_is_not_utf8(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[lobby]\neula = \"\xff\xfe\"\n")
    done = subprocess.run(
        [sys.executable, "-m", "clank_lan", "serve", "--config", str(bad), "--headless", "--ephemeral"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{bad}, line 2: not UTF-8 text" in done.stderr


def test_found_by_fuzzing_odd_unknown_keys_are_quoted_on_one_line():
    for text, key in (('["\\n"]\n', '"\\n"'), ('["\\n`"]\n', '"\\n`"'), ('[dns]\n"a`b" = 1\n', 'dns."a`b"')):
        with pytest.raises(ConfigError) as info:
            parse_config(text, "f.toml")
        assert f"key '{key}': unknown key" in str(info.value) and "\n" not in str(info.value)
