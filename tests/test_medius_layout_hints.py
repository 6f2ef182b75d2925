"""The message modules' own annotation evaluator (``layout.type_hints``, a start-up cost cut) must
give exactly what ``typing.get_type_hints`` gives for every wire struct the package defines."""

from __future__ import annotations

import typing

import clank_lan.protocol.medius
import clank_lan.protocol.rt_messages  # noqa: F401
from clank_lan.protocol.medius.layout import WireStruct, type_hints


def all_structs() -> list[type]:
    seen: list[type] = []
    todo = [WireStruct]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return seen


def test_type_hints_match_typing_for_every_wire_struct():
    structs = all_structs()
    assert len(structs) > 300
    for cls in structs:
        expected = typing.get_type_hints(cls, include_extras=True)
        # (kinds such as ``Array(Sub(X), 2)`` are new objects per evaluation: compare their text)
        ours = {name: repr(hint) for name, hint in type_hints(cls).items()}
        assert ours == {name: repr(expected[name]) for name in cls.__struct_fields__}, cls.__qualname__
