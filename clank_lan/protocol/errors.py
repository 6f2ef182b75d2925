"""The one exception type that protocol decoders may raise."""


class ProtocolError(ValueError):
    """Malformed or unexpected protocol input.

    ``offset`` is the byte offset in the buffer being decoded where the problem was found,
    ``data`` the offending bytes (or a prefix of them) for the log.
    """

    def __init__(self, reason: str, *, offset: int = 0, data: bytes = b"") -> None:
        self.reason = reason
        self.offset = offset
        self.data = bytes(data[:256])
        super().__init__(f"{reason} (at offset {offset})")

    def hexdump(self) -> str:
        return self.data.hex(" ")
