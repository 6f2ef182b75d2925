"""Declarative byte layouts: field kinds, compiled once into one precompiled ``struct.Struct``.

A Medius body is a raw C struct of the Sony SDK, so a layout is just the ordered field list: each
field is ``Annotated[<python type>, <Kind>]`` and the compiler inserts C natural-alignment padding
(an int32 starts on a multiple of 4, a uint16 on 2, char arrays anywhere, the struct is rounded up to
its widest member). That reproduces every pad of the reference tables, including the absent pad of
all-char bodies such as ``MessageID + SessionKey`` (38 bytes, confirmed by captures). A class that
is packed on the wire sets ``PACKED = True``.

Markers next to the kind: ``Since(109)`` keeps a field only in the Medius >= 1.09 layout;
``OPTIONAL`` marks trailing fields that may be missing on the wire (value ``None`` = absent).
"""

from __future__ import annotations

import inspect
import struct
import sys
import typing
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

_StructMeta = type(msgspec.Struct)


class CodecContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a codec needs to know about the connection.

    ``medius_version`` is the CLIENT_HELLO version (108 when the title sends no HELLO, e.g. UYA;
    110 for Deadlocked); ``app_id`` from CONNECT_TCP; ``encoding`` decodes and encodes strings.
    """

    medius_version: int = 108
    app_id: int = 0
    encoding: str = "latin-1"

    @property
    def v109(self) -> bool:
        return self.medius_version >= 109


DEFAULT_CONTEXT = CodecContext()


# --- field kinds --------------------------------------------------------------------------------


class Kind:
    """How one field sits on the wire. ``fmt`` is its ``struct`` format piece (no byte order)."""

    fmt: str
    size: int
    align: int
    nvals: int  # how many values ``struct.unpack`` yields for it

    def load(self, vals: tuple, i: int, ctx: CodecContext) -> tuple[Any, int]:
        raise NotImplementedError

    def dump(self, value: Any, out: list, ctx: CodecContext) -> None:
        raise NotImplementedError

    def default(self) -> Any:
        raise NotImplementedError


class Int(Kind):
    """A little-endian integer (``b B h H i I``) or a one-byte ``bool`` (``?``)."""

    def __init__(self, code: str) -> None:
        self.fmt = code
        self.size = self.align = struct.calcsize("<" + code)
        self.nvals = 1

    def load(self, vals, i, ctx):
        return vals[i], i + 1

    def dump(self, value, out, ctx):
        out.append(value)

    def default(self):
        return False if self.fmt == "?" else 0

    def __repr__(self) -> str:
        return f"Int({self.fmt!r})"


class Str(Kind):
    """``char[n]``: NUL-terminated, zero-filled; read up to the first NUL, written truncated to n-1."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.fmt = f"{n}s"
        self.size = n
        self.align = 1
        self.nvals = 1

    def load(self, vals, i, ctx):
        raw = vals[i]
        cut = raw.find(b"\0")
        if cut >= 0:
            raw = raw[:cut]
        return raw.decode(ctx.encoding, "surrogateescape"), i + 1

    def dump(self, value, out, ctx):
        out.append(encode_text(value, self.n - 1, ctx.encoding))

    def default(self):
        return ""

    def __repr__(self) -> str:
        return f"Str({self.n})"


class Raw(Kind):
    """``byte[n]``: opaque bytes (stats blobs, keys). Decoded values are always ``n`` bytes long;
    shorter values are zero-filled on write (so give defaults as ``bytes(n)``)."""

    def __init__(self, n: int, align: int = 1) -> None:
        self.n = n
        self.fmt = f"{n}s"
        self.size = n
        self.align = align
        self.nvals = 1

    def load(self, vals, i, ctx):
        return vals[i], i + 1

    def dump(self, value, out, ctx):
        if len(value) > self.n:
            raise ValueError(f"{len(value)} bytes do not fit a {self.n}-byte field")
        out.append(value)

    def default(self):
        return bytes(self.n)

    def __repr__(self) -> str:
        return f"Raw({self.n})"


class Array(Kind):
    """``count`` consecutive items of one kind, as a tuple (shorter tuples are default-filled)."""

    def __init__(self, item: Kind, count: int) -> None:
        self.item = item
        self.count = count
        self.fmt = item.fmt * count
        self.size = item.size * count
        self.align = item.align
        self.nvals = item.nvals * count

    def load(self, vals, i, ctx):
        if isinstance(self.item, Int):
            return tuple(vals[i : i + self.count]), i + self.count
        items = []
        for _ in range(self.count):
            v, i = self.item.load(vals, i, ctx)
            items.append(v)
        return tuple(items), i

    def dump(self, value, out, ctx):
        if len(value) > self.count:
            raise ValueError(f"{len(value)} items do not fit a {self.count}-item array")
        for v in value:
            self.item.dump(v, out, ctx)
        for _ in range(self.count - len(value)):
            self.item.dump(self.item.default(), out, ctx)

    def default(self):
        return tuple(self.item.default() for _ in range(self.count))

    def __repr__(self) -> str:
        return f"Array({self.item!r}, {self.count})"


class Sub(Kind):
    """A nested sub-structure (a ``WireStruct``), laid out inline with its own alignment."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        plan = plan_for(cls, True, True)
        self.plan = plan
        self.fmt = plan.fmt
        self.size = plan.size
        self.align = plan.align
        self.nvals = plan.nvals

    def load(self, vals, i, ctx):
        fields = {}
        for f in self.plan.fields:
            fields[f.name], i = f.kind.load(vals, i, ctx)
        return self.cls(**fields), i

    def dump(self, value, out, ctx):
        for f in self.plan.fields:
            f.kind.dump(getattr(value, f.name), out, ctx)

    def default(self):
        return self.cls()

    def __repr__(self) -> str:
        return f"Sub({self.cls.__name__})"


def encode_text(value: str, limit: int, encoding: str) -> bytes:
    """``value`` in ``encoding``, cut to ``limit`` bytes without splitting a UTF-8 sequence."""
    raw = value.encode(encoding, "surrogateescape")
    if len(raw) <= limit:
        return raw
    raw = raw[:limit]
    if encoding.replace("-", "").lower() == "utf8":
        while raw and raw[-1] & 0xC0 == 0x80:
            raw = raw[:-1]
        if raw and raw[-1] & 0xC0 == 0xC0:
            raw = raw[:-1]
    return raw


@dataclass(frozen=True)
class Since:
    """The field exists only when the connection's Medius version is at least ``version``."""

    version: int


class _Optional:
    def __repr__(self) -> str:
        return "OPTIONAL"


#: Marker for trailing fields that a title may leave out (``None`` = not on the wire).
OPTIONAL = _Optional()


# --- common aliases -----------------------------------------------------------------------------

I8 = Annotated[int, Int("b")]
U8 = Annotated[int, Int("B")]
I16 = Annotated[int, Int("h")]
U16 = Annotated[int, Int("H")]
I32 = Annotated[int, Int("i")]
U32 = Annotated[int, Int("I")]
Bool = Annotated[bool, Int("?")]
OptI32 = Annotated[int | None, Int("i"), OPTIONAL]  # a trailing int32 some titles leave out

MessageId = Annotated[str, Str(21)]  # MESSAGEID_MAXLEN: the client's request cookie
SessionKey = Annotated[str, Str(17)]  # SESSIONKEY_MAXLEN / NET_ACCESS_KEY_LEN
Str8 = Annotated[str, Str(8)]
Str16 = Annotated[str, Str(16)]
Str20 = Annotated[str, Str(20)]
Str32 = Annotated[str, Str(32)]  # account / player / clan / app names, passwords
Str56 = Annotated[str, Str(56)]
Str64 = Annotated[str, Str(64)]  # game / lobby / world names, chat text, winning team
Str128 = Annotated[str, Str(128)]
Str200 = Annotated[str, Str(200)]  # clan messages, debug text
Str256 = Annotated[str, Str(256)]
Stats256 = Annotated[bytes, Raw(256)]  # account / game / clan stats blobs
Bytes16 = Annotated[bytes, Raw(16)]
RsaKey = Annotated[bytes, Raw(64, align=4)]  # RSA_KEY: 16 little-endian uint32 = a 512-bit modulus
LadderStats = Annotated[tuple[int, ...], Array(Int("i"), 15)]  # LADDERSTATS_MAXLEN
LadderStatsWide = Annotated[tuple[int, ...], Array(Int("i"), 100)]  # LADDERSTATSWIDE_MAXLEN


# --- structs with a wire layout -----------------------------------------------------------------


class _KwOnlyMeta(_StructMeta):
    """Makes every subclass keyword-only and frozen without repeating it in each class statement."""

    def __new__(mcls, name, bases, namespace, **kwargs):
        kwargs.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, namespace, **kwargs)


class WireStruct(msgspec.Struct, metaclass=_KwOnlyMeta, frozen=True, repr_omit_defaults=True):
    """Base of every struct with a byte layout (messages and sub-structures)."""

    PACKED: typing.ClassVar[bool] = False


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    since: int = 0
    optional: bool = False


@dataclass(frozen=True)
class Plan:
    """One compiled layout: the fields on the wire and the precompiled struct covering them all."""

    fields: tuple[FieldSpec, ...]
    st: struct.Struct
    fmt: str
    align: int
    nvals: int

    @property
    def size(self) -> int:
        return self.st.size

    def load(self, body: bytes, ctx: CodecContext) -> dict[str, Any]:
        """Field values from ``body``; a short body reads as if zero-filled, extra bytes are ignored."""
        if len(body) < self.st.size:
            body = body + bytes(self.st.size - len(body))
        vals = self.st.unpack_from(body)
        out: dict[str, Any] = {}
        i = 0
        for f in self.fields:
            out[f.name], i = f.kind.load(vals, i, ctx)
        return out

    def dump(self, obj: Any, ctx: CodecContext) -> bytes:
        out: list = []
        for f in self.fields:
            f.kind.dump(getattr(obj, f.name), out, ctx)
        try:
            return self.st.pack(*out)
        except struct.error as e:
            raise ValueError(f"{type(obj).__name__}: {e}") from None


def compile_plan(fields: list[FieldSpec], packed: bool = False) -> Plan:
    parts: list[str] = []
    offset = 0
    max_align = 1
    nvals = 0
    for f in fields:
        align = 1 if packed else f.kind.align
        pad = -offset % align
        if pad:
            parts.append(f"{pad}x")
            offset += pad
        parts.append(f.kind.fmt)
        offset += f.kind.size
        max_align = max(max_align, align)
        nvals += f.kind.nvals
    tail = -offset % max_align
    if tail:
        parts.append(f"{tail}x")
        offset += tail
    fmt = "".join(parts)
    st = struct.Struct("<" + fmt)
    if st.size != offset:  # pragma: no cover - guards the alignment arithmetic
        raise AssertionError(f"layout size {st.size} != computed {offset}")
    return Plan(tuple(fields), st, fmt, max_align, nvals)


#: Evaluated annotation texts by (module, text). A few aliases (``I32``, ``Str32``, ``MessageId``)
#: annotate hundreds of fields, and ``typing.get_type_hints`` evaluates every annotation of a class
#: and of all its bases again for each class: about 100 ms of every import of the message modules.
_EVALUATED: dict[tuple[str, str], Any] = {}
#: ``declared_hints`` of each class seen.
_DECLARED: dict[type, dict[str, tuple[str, Any]]] = {}


def declared_hints(cls: type) -> dict[str, tuple[str, Any]]:
    """Every annotation of ``cls`` and its bases as name -> (module, annotation), the most derived
    declaration winning (``typing.get_type_hints``'s rule); cached, a class extends its base's."""
    found = _DECLARED.get(cls)
    if found is None:
        if len(cls.__bases__) == 1:
            found = dict(declared_hints(cls.__bases__[0]))
        else:  # several bases (or none): their own annotations in reverse MRO order
            found = {}
            for base in reversed(cls.__mro__[1:]):
                found.update(_own_hints(base))
        found.update(_own_hints(cls))
        _DECLARED[cls] = found
    return found


def _own_hints(cls: type) -> dict[str, tuple[str, Any]]:
    return {name: (cls.__module__, hint) for name, hint in inspect.get_annotations(cls).items()}


def type_hints(cls: type) -> dict[str, Any]:
    """What ``typing.get_type_hints(cls, include_extras=True)`` gives for the struct fields of
    ``cls`` (each annotation evaluated in the module that declares it), each text evaluated once."""
    declared = declared_hints(cls)
    hints: dict[str, Any] = {}
    for name in cls.__struct_fields__:
        module, hint = declared[name]
        if isinstance(hint, str):
            key = (module, hint)
            if key not in _EVALUATED:
                try:
                    _EVALUATED[key] = eval(hint, vars(sys.modules[module]))
                except NameError:  # a name only a class namespace holds: typing's full rules
                    return typing.get_type_hints(cls, include_extras=True)
            hint = _EVALUATED[key]
        hints[name] = hint
    return hints


def field_specs(cls: type) -> list[FieldSpec]:
    """The wire fields of a struct class, in order, from their ``Annotated`` kinds."""
    hints = type_hints(cls)
    specs: list[FieldSpec] = []
    for name in cls.__struct_fields__:
        hint = hints[name]
        if typing.get_origin(hint) is not Annotated:
            continue
        meta = hint.__metadata__
        kind = next((m for m in meta if isinstance(m, Kind)), None)
        if kind is None:
            continue
        since = next((m.version for m in meta if isinstance(m, Since)), 0)
        specs.append(FieldSpec(name, kind, since, any(m is OPTIONAL for m in meta)))
    return specs


_PLANS: dict[tuple[type, bool, bool], Plan] = {}
_SPECS: dict[type, list[FieldSpec]] = {}


def specs_of(cls: type) -> list[FieldSpec]:
    specs = _SPECS.get(cls)
    if specs is None:
        specs = _SPECS[cls] = field_specs(cls)
    return specs


def plan_for(cls: type, v109: bool, with_optional: bool) -> Plan:
    """The compiled layout of ``cls`` for a Medius version class and optional-tail presence."""
    key = (cls, v109, with_optional)
    plan = _PLANS.get(key)
    if plan is None:
        fields = [f for f in specs_of(cls) if (v109 or f.since < 109) and (with_optional or not f.optional)]
        plan = _PLANS[key] = compile_plan(fields, cls.PACKED)
    return plan


def has_variants(cls: type) -> tuple[bool, bool]:
    """(has version-dependent fields, has optional fields)."""
    specs = specs_of(cls)
    return any(f.since for f in specs), any(f.optional for f in specs)
