"""SSL 3.0 / TLS 1.0 for the DNAS gateway, on tlslite-ng driven without a real socket.

The consoles' DNAS client predates modern TLS: RSA key exchange, RC4-128 or 3DES, SSL 3.0 or
TLS 1.0. Python's ``ssl`` (current OpenSSL) refuses all of that, tlslite-ng (pure Python) still
speaks it. tlslite-ng wants a socket; ``MemorySocket`` is one that never blocks, so its
``...Async`` generators stop with "want read" when the input runs dry and the trio shell feeds
them what arrives. No thread, no blocking call on the event loop.
"""

from __future__ import annotations

import errno

from tlslite.handshakesettings import HandshakeSettings
from tlslite.tlsconnection import TLSConnection
from tlslite.utils.keyfactory import parsePEMKey
from tlslite.x509 import X509
from tlslite.x509certchain import X509CertChain

from clank_lan.dnas.certs import GatewayIdentity

#: What the generators yield when they need more input / want to write.
WANT_READ = 0
WANT_WRITE = 1


class MemorySocket:
    """Just enough of a non-blocking socket for tlslite-ng: bytes in, bytes out."""

    def __init__(self, initial: bytes = b"", max_input: int = 1 << 20) -> None:
        self._in = bytearray(initial)
        self._out = bytearray()
        self._eof = False
        self._max_input = max_input

    def feed(self, data: bytes) -> None:
        """Bytes from the peer; b"" marks the end of its stream."""
        if not data:
            self._eof = True
        elif len(self._in) + len(data) > self._max_input:
            raise OSError(errno.ENOBUFS, "TLS input buffer full")
        self._in += data

    def take(self) -> bytes:
        """Everything written so far, to send to the peer."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- the socket side tlslite-ng calls ---

    def recv(self, size: int) -> bytes:
        if not self._in:
            if self._eof:
                return b""
            raise BlockingIOError(errno.EWOULDBLOCK, "no data buffered")
        chunk = bytes(self._in[:size])
        del self._in[:size]
        return chunk

    def send(self, data: bytes) -> int:
        self._out += data
        return len(data)

    def sendall(self, data: bytes) -> None:
        """tlslite-ng's write buffering flushes through this."""
        self._out += data

    def close(self) -> None:
        self._eof = True


def handshake_settings() -> HandshakeSettings:
    """SSL 3.0 and TLS 1.0, RSA key exchange, RC4-128 (MD5 or SHA) and 3DES (SHA): what consoles offer."""
    settings = HandshakeSettings()
    settings.minVersion = (3, 0)
    settings.maxVersion = (3, 1)
    settings.versions = [(3, 1), (3, 0)]
    settings.cipherNames = ["rc4", "3des"]
    settings.macNames = ["sha", "md5"]
    settings.keyExchangeNames = ["rsa"]
    return settings.validate()


class TlsCredentials:
    """The gateway key and one certificate chain per region, in tlslite-ng's types."""

    def __init__(self, identity: GatewayIdentity, default_region: str) -> None:
        self.key = parsePEMKey(identity.key_pem, private=True)
        self.chains: dict[str, X509CertChain] = {}
        for region, der in identity.certificates.items():
            cert = X509()
            cert.parseBinary(der)
            self.chains[region] = X509CertChain([cert])
        self.default_region = default_region
        self.settings = handshake_settings()

    def handshake(self, conn: TLSConnection):
        """The handshake generator (yields WANT_READ / WANT_WRITE).

        Consoles send no server name, so every console gets the default region's certificate,
        as with the community replacement (which, without SNI, served its first host's).
        """
        return conn.handshakeServerAsync(
            certChain=self.chains[self.default_region], privateKey=self.key, settings=self.settings
        )
