"""What the lobby does with every client-to-server Medius message it does not handle.

Each service (MUIS, MAS, MLS) dispatches a decoded message to its ``@handles`` handler after its
login gate. Every other client-to-server id in the registry has a written decision here:

* ``fail``: answered with a generic failure of the right response type, as Sony's and the other
  community servers answer what they do not support, so that a console waiting on its menu gets
  an answer. A typed response is built with its defaults, the request's message id, the status
  and ``end_of_list`` set; a response we do not model gets the layout every Medius response
  starts with (the 28-byte generic status body: MessageID, 3 pad bytes, int32 status;
  medius-messages.md section 3.0).
* ``ignore``: no answer, with the reason (messages that have no reply by definition, or whose
  answer no source documents).

A message handled by one service but sent to another gets no answer: Sony's MAS sent nothing
to Deadlocked's GetBuddyList_ExtraInfo (Lobby 0xD6, an MLS message) before SessionBegin
(capture b41, frame 33), so a wrong-service message is dropped with a log line.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from clank_lan.protocol.medius import MediusMessage, UnknownMessage, message_type
from clank_lan.protocol.medius.enums import CallbackStatus
from clank_lan.protocol.medius.ids import REGISTRY, Direction, MessageClass, message_name

#: The message id every request starts with: char[21] (medius-messages.md section 1.4).
MESSAGE_ID_LEN = 21


class Fail(NamedTuple):
    response: tuple[int, int]
    status: int
    reason: str


class Ignore(NamedTuple):
    reason: str


Decision = Fail | Ignore

# One line per id: "<L|E|M> <type hex> fail <response type hex> <STATUS> <reason>" (the response in
# the same class unless written C:TT) or "<L|E|M> <type hex> ignore <reason>". L = Lobby (class 1),
# E = LobbyExt (class 4), M = MGCL (class 3).
_TABLE = """
L 0B fail 0C FEATURE_NOT_ENABLED account profiles are not kept
L 0D fail 0E FEATURE_NOT_ENABLED account profiles are not kept
L 1F fail 20 FEATURE_NOT_ENABLED the Lobby-class host registration; hosts use MGCL on the MPS port
L 21 fail 22 FEATURE_NOT_ENABLED the oldest channel-creation form; no title is known to send it
L 43 fail 44 FEATURE_NOT_ENABLED the Lobby-class buddy confirmation; titles use Ext 0x05
L 46 ignore the answer to a forward we only send in its Ext form (Ext 0x06); it has no reply
L 8A fail 8B PLAYER_NOT_PRIVILEGED bans are the operator's (console command ban)
L 92 fail 93 NO_RESULT the old ladder form; titles use LadderPosition_ExtraInfo
L 94 fail 95 NO_RESULT the old ladder form; titles use LadderList_ExtraInfo
L 9A ignore a game-host utility with no response type; world ids are the lobby's
L AE fail AF FILE_DOES_NOT_EXIST not served (files are created, uploaded, read and deleted)
L B2 fail B3 NO_RESULT not served (files are created, uploaded, read and deleted)
L B4 fail B5 FILE_DOES_NOT_EXIST not served (files are created, uploaded, read and deleted)
L B6 fail B7 FILE_DOES_NOT_EXIST not served (files are created, uploaded, read and deleted)
L B8 fail B9 FILE_DOES_NOT_EXIST not served (files are created, uploaded, read and deleted)
L BA fail BB FILE_DOES_NOT_EXIST not served (files are created, uploaded, read and deleted)
L BC fail BD NO_RESULT not served (files are created, uploaded, read and deleted)
L BE fail BF FEATURE_NOT_ENABLED uploads are closed with FileClose; there is no operation to cancel
L C6 fail C7 FEATURE_NOT_ENABLED there is no message box
L CC fail CD NO_RESULT the fast ladder form is not served; titles use LadderPosition_ExtraInfo
L DE fail DF FEATURE_NOT_ENABLED there is no billing on a LAN
L E0 fail E1 FEATURE_NOT_ENABLED there is no billing on a LAN
L E2 fail E3 FEATURE_NOT_ENABLED there is no billing on a LAN
L E4 fail E5 FEATURE_NOT_ENABLED there is no billing on a LAN
L E6 fail E7 FEATURE_NOT_ENABLED there is no billing on a LAN
L E8 fail E9 FEATURE_NOT_ENABLED there is no billing on a LAN
L F5 fail F6 PLAYER_NOT_PRIVILEGED a server-side utility; consoles may not add worlds
L F7 fail F8 PLAYER_NOT_PRIVILEGED a server-side utility; consoles may not add worlds
L F9 fail FA PLAYER_NOT_PRIVILEGED a server-side utility; consoles may not change worlds
L FB fail FC PLAYER_NOT_PRIVILEGED a server-side utility; consoles may not change worlds
E 01 fail 02 FEATURE_NOT_ENABLED a server-side utility; consoles ask VersionServer
E 10 ignore a server-side utility event with no response type
E 1A fail 1B FEATURE_NOT_ENABLED clan ladder deltas are not kept
E 1C fail 1D NO_RESULT wide stats are served one account at a time (GetLadderStatsWide)
E 20 ignore a subscription has no reply (medius-messages.md section 2.3)
E 21 fail 22 NO_RESULT distributed lists are a Sony back-end service
E 2C ignore a vote has no reply (medius-messages.md section 2.3); bans are the operator's
E 3B fail 3C FEATURE_NOT_ENABLED clans have no officers here
E 3D ignore a chat message has no reply; chat is not relayed across titles
E 41 fail 42 FEATURE_NOT_ENABLED access levels are not kept
E 44 fail 45 NO_RESULT not served (files are created, uploaded, read and deleted)
E 46 ignore no source documents its response; not served (files are created, uploaded, read and deleted)
E 48 fail 49 FEATURE_NOT_ENABLED filtered game counts are not served; GetTotalGames is
E 4A fail 4B FEATURE_NOT_ENABLED a later login form (PS3); PS2 titles use AccountLogin
E 4C fail 4D FEATURE_NOT_ENABLED a later login form (PS3); PS2 titles use AccountLogin
E 4E fail 4F FEATURE_NOT_ENABLED aliases are not kept
E 50 fail 51 FEATURE_NOT_ENABLED aliases are not kept
E 52 fail 53 NO_RESULT aliases are not kept
E 54 fail 55 FEATURE_NOT_ENABLED buddies are added one at a time
E 56 fail 57 FEATURE_NOT_ENABLED ignores are added one at a time
E 58 fail 59 FEATURE_NOT_ENABLED ticket login is a PS3 feature
E 5B ignore a binary message has no reply, and this form's layout is not documented
E 5D fail 5E NO_RESULT matchmaking is not served
E 5F fail 60 FEATURE_NOT_ENABLED matchmaking is not served
E 63 fail 64 FEATURE_NOT_ENABLED this buddy confirmation form is not served; titles use Ext 0x05
E 65 fail 66 FEATURE_NOT_ENABLED parties are not served
E 67 fail 68 FEATURE_NOT_ENABLED parties are not served
E 69 fail 6A NO_RESULT parties are not served
E 6B fail 6C FEATURE_NOT_ENABLED not served; a console cannot see who ignores it
E 6D fail 6E FEATURE_NOT_ENABLED NP ids are a PS3 feature
E 6F fail 70 NO_RESULT NP ids are a PS3 feature
E 71 fail 72 FEATURE_NOT_ENABLED consoles choose their channel from the list
E 73 ignore a chat message has no reply, and this form's layout is not documented
E 78 fail 60 FEATURE_NOT_ENABLED matchmaking is not served
E 79 fail 7A FEATURE_NOT_ENABLED matchmaking is not served
E 7C fail 7D FEATURE_NOT_ENABLED clans cannot be renamed
E 7E fail 7F FEATURE_NOT_ENABLED game lists are not sorted
E 80 fail 81 NO_RESULT game lists are not sorted
E 82 fail 83 FEATURE_NOT_ENABLED game lists are not sorted
E 84 fail 85 FEATURE_NOT_ENABLED game lists are not sorted
E 87 fail 8E FEATURE_NOT_ENABLED parties are not served
E 88 fail 89 FEATURE_NOT_ENABLED matchmaking is not served
E 8C fail 8D FEATURE_NOT_ENABLED channels are the operator's
E 8F ignore a report has no reply (medius-messages.md section 2.3); parties are not served
E 90 ignore its answer is an unsolicited AssignedLobbyToJoinMessage no source lays out; no parties
E 92 fail 93 FEATURE_NOT_ENABLED matchmaking is not served
E 94 fail 95 FEATURE_NOT_ENABLED matchmaking is not served
E 96 fail 97 NO_RESULT parties are not served
E A1 fail A2 FEATURE_NOT_ENABLED an unnamed request no source describes
M 24 ignore ServerSessionBegin2: no source lays it out; hosts use ServerSessionBegin (0x03, 0x21)
"""

_CLASSES = {"L": MessageClass.LOBBY, "E": MessageClass.LOBBY_EXT, "M": MessageClass.MGCL}


def _parse(table: str) -> dict[tuple[int, int], Decision]:
    out: dict[tuple[int, int], Decision] = {}
    for line in table.strip().split("\n"):
        cls_letter, hex_id, kind, rest = line.split(" ", 3)
        key = (int(_CLASSES[cls_letter]), int(hex_id, 16))
        if key in out:
            raise AssertionError(f"two decisions for {message_name(*key)}")
        if kind == "ignore":
            out[key] = Ignore(rest)
            continue
        resp, status, reason = rest.split(" ", 2)
        rclass, _, rtype = resp.rpartition(":")
        rkey = (int(rclass) if rclass else key[0], int(rtype, 16))
        info = REGISTRY.get(rkey)
        if info is None or info.direction is Direction.TO_SERVER:
            raise AssertionError(f"{message_name(*key)}: {rkey} is not a server-to-client message")
        out[key] = Fail(rkey, int(CallbackStatus[status]), reason)
    return out


#: Every client-to-server id no service handles, with what is done about it.
DECISIONS: dict[tuple[int, int], Decision] = _parse(_TABLE)


def client_to_server_ids() -> list[tuple[int, int]]:
    """Every registry id a console (or game host) sends to the lobby services."""
    return sorted(
        k
        for k, info in REGISTRY.items()
        if info.direction is Direction.TO_SERVER and info.msg_class != MessageClass.DME
    )


def silence_reason(key: tuple[int, int]) -> str:
    """Why a message with no handler here and no written decision gets no answer."""
    info = REGISTRY.get(key)
    if info is None:
        return "not in the registry; not modelled"
    if info.direction is not Direction.TO_SERVER:
        return "a server-to-client message"
    return "another service handles it"


def request_message_id(msg: MediusMessage | UnknownMessage) -> bytes:
    """The message id a response must echo, as the 21 raw bytes of the field."""
    if isinstance(msg, UnknownMessage):
        raw = msg.body[:MESSAGE_ID_LEN]
    else:
        mid = getattr(msg, "message_id", "")
        raw = mid.encode("latin-1", "replace") if isinstance(mid, str) else bytes(mid)
    raw = raw.split(b"\0", 1)[0][: MESSAGE_ID_LEN - 1]
    return raw.ljust(MESSAGE_ID_LEN, b"\0")


def failure_response(decision: Fail, msg: MediusMessage | UnknownMessage) -> MediusMessage | UnknownMessage:
    """The generic failure answering ``msg``: typed when we model the response, else the generic
    28-byte status body under the response's (class, type)."""
    mid = request_message_id(msg)
    cls = message_type(*decision.response)
    if cls is not None:
        fields = set(cls.__struct_fields__)
        kw: dict = {}
        if "message_id" in fields:
            kw["message_id"] = mid.rstrip(b"\0").decode("latin-1")
        if "status" in fields:
            kw["status"] = decision.status
        if "end_of_list" in fields:
            kw["end_of_list"] = True
        return cls(**kw)
    body = mid + bytes(3) + struct.pack("<i", decision.status)
    return UnknownMessage(decision.response[0], decision.response[1], body)


def decision_counts(handled: set[tuple[int, int]]) -> dict[str, int]:
    """How many client-to-server ids are handled, answered with a failure, or ignored."""
    counts = {"handled": 0, "fail": 0, "ignore": 0, "undecided": 0}
    for key in client_to_server_ids():
        d = DECISIONS.get(key)
        if key in handled:
            counts["handled"] += 1
        elif isinstance(d, Fail):
            counts["fail"] += 1
        elif isinstance(d, Ignore):
            counts["ignore"] += 1
        else:
            counts["undecided"] += 1
    return counts
