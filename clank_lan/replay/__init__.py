"""Replay of recorded client sessions against our lobby servers (newserv's replay tests, for Medius).

A recorded session (a capture decrypted by ``clank_lan.dissect``, a frame log our servers wrote,
or a decrypted text dump) is turned into a script per connection (``build_script``, sans-IO) and
played against running servers over TCP (``replay``): our client re-derives each RT handshake with
fresh keys, sends the recorded client messages re-encrypted, and every answer of ours is compared
with the recorded server's by message type, size and masked bytes. Usage::

    report = await replay_log("bug-report.log", engine)     # or a .pcap, or the log text
    assert report.ok, report.format()
"""

from clank_lan.replay.masks import ByteCheck, compare_bytes
from clank_lan.replay.model import ConnScript, Exchange, Recorded, ReplayScript, Wire
from clank_lan.replay.pairs import answers_to, medius_answers
from clank_lan.replay.results import ReplayReport, StepResult
from clank_lan.replay.runner import Timing, replay, replay_log
from clank_lan.replay.script import build_script
from clank_lan.replay.sources import Recording, from_capture, from_hexlog, from_text_dump, load_recording
from clank_lan.replay.substitute import ValueMap

__all__ = [
    "ByteCheck",
    "ConnScript",
    "Exchange",
    "Recorded",
    "Recording",
    "ReplayReport",
    "ReplayScript",
    "StepResult",
    "Timing",
    "ValueMap",
    "Wire",
    "answers_to",
    "build_script",
    "compare_bytes",
    "from_capture",
    "from_hexlog",
    "from_text_dump",
    "load_recording",
    "medius_answers",
    "replay",
    "replay_log",
]
