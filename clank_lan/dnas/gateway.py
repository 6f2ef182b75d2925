"""The DNAS gateway's state and its one decision: which bytes answer a request (no I/O but loading)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from clank_lan.dnas.answers import Answer, AnswerBook
from clank_lan.dnas.certs import GatewayIdentity, load_or_create
from clank_lan.dnas.http import HttpError, Request, response
from clank_lan.dnas.settings import DnasSettings
from clank_lan.dnas.tls import TlsCredentials

log = logging.getLogger("clank_lan.dnas")

#: Sub-directory of the data directory that keeps the gateway key and certificates.
CERT_SUBDIR = "dnas"


class DnasGateway:
    def __init__(self, settings: DnasSettings, book: AnswerBook, identity: GatewayIdentity) -> None:
        self.settings = settings
        self.book = book
        self.identity = identity
        self.tls = TlsCredentials(identity, settings.certificate_region)

    @classmethod
    def load(
        cls, settings: DnasSettings, data_dir: Path | None, rng: Callable[[int], bytes] = os.urandom
    ) -> DnasGateway:
        """Read the recorded answers and the certificates, making the key on first run.

        Making a 1024-bit key takes a fraction of a second; call it before serving (or in a
        thread). ``data_dir`` None keeps the key in memory (an ephemeral run).
        """
        identity = load_or_create(None if data_dir is None else data_dir / CERT_SUBDIR, settings.regions, rng)
        book = AnswerBook.load(settings.regions)
        for region in settings.regions:
            log.info("DNAS: %d recorded answers for %s", book.count(region), region)
        return cls(settings, book, identity)

    @property
    def certificate(self) -> bytes:
        """The DER certificate every console is shown."""
        return self.identity.certificates[self.settings.certificate_region]

    def respond(self, request: Request) -> tuple[bytes, Answer]:
        """The full HTTP answer; raises HttpError (region off) or BadRequest (too short)."""
        if request.region not in self.book.regions:
            raise HttpError(f"region {request.region} is not enabled in [dnas] regions")
        answer = self.book.answer(request.region, request.query, request.body)
        return response(answer.body), answer
