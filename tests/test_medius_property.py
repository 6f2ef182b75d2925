"""Property tests over every registered Medius message type (hypothesis).

For each type and both layout generations: a generated message encodes to its declared size and
decodes back to itself; arbitrary bodies decode without raising anything but ProtocolError and
re-encode to exactly the same bytes.
"""

from __future__ import annotations

import functools

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import (
    CodecContext,
    PacketFragment,
    UniverseSvoURLResponse,
    UniverseVariableInformationResponse,
    UnknownMessage,
    decode_app,
    encode_app,
    message_types,
)
from clank_lan.protocol.medius.layout import Array, Int, Kind, Raw, Str, Sub, specs_of

V108 = CodecContext(medius_version=108, app_id=10684)
V110 = CodecContext(medius_version=110, app_id=11184)
CONTEXTS = {"v108": V108, "v110": V110}

_INT_RANGES = {
    "b": (-(2**7), 2**7 - 1),
    "B": (0, 2**8 - 1),
    "h": (-(2**15), 2**15 - 1),
    "H": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1),
    "I": (0, 2**32 - 1),
}
# latin-1 text without NUL: what a 1.08/1.09 PS2 title can put in a char array
_TEXT = st.characters(min_codepoint=1, max_codepoint=255)


def kind_strategy(kind: Kind) -> st.SearchStrategy:
    if isinstance(kind, Int):
        if kind.fmt == "?":
            return st.booleans()
        lo, hi = _INT_RANGES[kind.fmt]
        return st.integers(lo, hi)
    if isinstance(kind, Str):
        return st.text(_TEXT, max_size=kind.n - 1)
    if isinstance(kind, Raw):
        return st.binary(min_size=kind.n, max_size=kind.n)
    if isinstance(kind, Array):
        item = kind_strategy(kind.item)
        return st.lists(item, min_size=kind.count, max_size=kind.count).map(tuple)
    if isinstance(kind, Sub):
        return struct_strategy(kind.cls, True)
    raise AssertionError(kind)


@functools.cache
def struct_strategy(cls: type, v109: bool) -> st.SearchStrategy:
    fixed: dict[str, st.SearchStrategy] = {}
    optional: dict[str, st.SearchStrategy] = {}
    for f in specs_of(cls):
        if f.since and not v109:
            fixed[f.name] = st.just(f.kind.default())  # not on the 1.08 wire
        elif f.optional:
            optional[f.name] = kind_strategy(f.kind)
        else:
            fixed[f.name] = kind_strategy(f.kind)
    base = st.fixed_dictionaries(fixed)
    if optional:
        tail = st.one_of(st.just(dict.fromkeys(optional)), st.fixed_dictionaries(optional))
        base = st.tuples(base, tail).map(lambda p: {**p[0], **p[1]})
    return base.map(lambda d: cls(**d))


@st.composite
def universe_info(draw, v109: bool):
    msg = draw(struct_strategy(UniverseVariableInformationResponse, v109))
    info_filter = draw(st.integers(0, 0x3FF))
    keep = {name for name in ("message_id", "status", "end_of_list")}
    bits = {
        0x004: ("universe_id",),
        0x008: ("universe_name",),
        0x010: ("dns", "port"),
        0x020: ("description",),
        0x040: ("universe_status", "user_count", "max_users"),
        0x080: ("billing", "billing_system_name"),
        0x100: ("extended_info",),
    }
    for bit, names in bits.items():
        if info_filter & bit:
            keep.update(names)
    values = {n: getattr(msg, n) for n in keep}
    svo = draw(st.text(_TEXT, max_size=127)) if info_filter & 0x200 and draw(st.booleans()) else None
    return UniverseVariableInformationResponse(info_filter=info_filter, svo_url=svo, **values)


@st.composite
def fragment(draw, v109: bool):
    data = draw(st.binary(max_size=64))
    head = draw(struct_strategy(PacketFragment, v109))
    return msgspec.structs.replace(head, sub_packet_size=len(data), data=data)


@functools.cache
def message_strategy(cls: type, v109: bool) -> st.SearchStrategy:
    if cls is UniverseVariableInformationResponse:
        return universe_info(v109)
    if cls is UniverseSvoURLResponse:
        return st.builds(cls, message_id=st.text(_TEXT, max_size=20), url=st.text(_TEXT, max_size=127))
    if cls is PacketFragment:
        return fragment(v109)
    return struct_strategy(cls, v109)


TYPES = sorted(message_types().values(), key=lambda c: (c.MSG_CLASS, c.MSG_TYPE))
# Both layout generations where they differ; one context is enough for the other types.
CASES = [
    (cls, ctx)
    for cls in TYPES
    for ctx in ((V108, V110) if cls.VARIABLE or any(f.since for f in specs_of(cls)) else (V110,))
]


def check_round_trip(cls: type, ctx: CodecContext, data: st.DataObject) -> None:
    msg = data.draw(message_strategy(cls, ctx.v109), label="message")
    payload = encode_app(msg, ctx)
    assert payload[:2] == bytes((cls.MSG_CLASS, cls.MSG_TYPE))
    if not cls.VARIABLE:
        with_optional = all(getattr(msg, f.name) is not None for f in specs_of(cls) if f.optional)
        assert len(payload) == 2 + cls.body_size(ctx, with_optional)
    back = decode_app(payload, ctx)
    assert back == msg  # also: no wire bytes kept for a canonical encoding
    assert encode_app(back, ctx) == payload

    # any body at all: decodes (or raises ProtocolError) and re-encodes to the same bytes
    size = cls.SIZE or 700
    body = data.draw(st.binary(max_size=size + 8), label="body")
    raw = bytes((cls.MSG_CLASS, cls.MSG_TYPE)) + body
    try:
        got = decode_app(raw, ctx)
    except ProtocolError:
        return
    assert type(got) is cls
    assert encode_app(got, ctx) == raw


def test_every_type_has_a_case():
    assert {cls for cls, _ in CASES} == set(TYPES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}-v{c[1].medius_version}")
@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_encode_decode_round_trip(case, data):
    check_round_trip(*case, data)


@pytest.mark.parametrize(
    "cls",
    [UniverseVariableInformationResponse, UniverseSvoURLResponse, PacketFragment],
    ids=lambda c: c.__name__,
)
@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data(), v109=st.booleans())
def test_variable_length_messages_round_trip(cls, data, v109):
    check_round_trip(cls, V110 if v109 else V108, data)


_TYPED_HEADERS = st.sampled_from(sorted(message_types())).map(bytes)


@settings(max_examples=200, deadline=None, database=None)
@given(
    payload=st.one_of(
        st.binary(max_size=1100),
        st.tuples(_TYPED_HEADERS, st.binary(max_size=900)).map(b"".join),
    ),
    v109=st.booleans(),
)
def test_random_payloads_raise_only_protocol_error(payload, v109):
    ctx = V110 if v109 else V108
    try:
        msg = decode_app(payload, ctx)
    except ProtocolError:
        assert len(payload) < 2
        return
    assert encode_app(msg, ctx) == payload
    if isinstance(msg, UnknownMessage):
        assert (msg.msg_class, msg.msg_type) not in message_types()
