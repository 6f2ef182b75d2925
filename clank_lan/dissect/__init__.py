"""Capture dissector: pcap/pcapng -> TCP/UDP -> SCE-RT frames -> plaintext, with every hash checked.

Public API: ``iter_packets(path)`` (IPv4 TCP/UDP packets of a capture), ``dissect(path,
extra_keys)`` -> ``DissectResult`` and the ``clank-lan dissect`` command (``cli``).
"""

from clank_lan.dissect.capture import CaptureError
from clank_lan.dissect.engine import Dissector, dissect, dissect_bytes, dissect_packets
from clank_lan.dissect.model import Counts, DissectFrame, DissectResult, Note, Status
from clank_lan.dissect.packets import Packet, iter_packets

__all__ = [
    "CaptureError",
    "Counts",
    "DissectFrame",
    "DissectResult",
    "Dissector",
    "Note",
    "Packet",
    "Status",
    "dissect",
    "dissect_bytes",
    "dissect_packets",
    "iter_packets",
]
