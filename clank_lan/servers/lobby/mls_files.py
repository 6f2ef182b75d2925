"""The Medius file service on the MLS (issue 13 item 4): create, upload, close, download, delete.

Files live in ``db.files`` (under the data directory, bounded in size and number), in the
namespace of the console's lobby group, so every region of a title sees the same files. An
upload follows the community servers' order: FileUpload opens it and the server asks for data
with FileUploadServerRequest (INITIAL); each FileUploadResponse chunk is stored and answered
with the next request (MID) until the last byte (END), when the file is stored. A missing file
is answered as Sony's MLS answered Deadlocked for one (b41 frame 94): DB_ERROR, transfer status 0.
"""

from __future__ import annotations

import logging

from clank_lan.db.files import CHUNK, FileEntry, FileError, download_chunks
from clank_lan.protocol.medius import files as mf
from clank_lan.protocol.medius.enums import CallbackStatus, FileXferStatus
from clank_lan.protocol.medius.structs import MediusFile
from clank_lan.servers.lobby.app import Link, handles
from clank_lan.servers.lobby.state import Session

log = logging.getLogger("clank_lan.mls")

S = CallbackStatus
#: What Sony's MLS answered for a file it did not have (b41 frame 94): DB_ERROR, transfer status 0.
NO_SUCH_FILE_STATUS = CallbackStatus.DB_ERROR


def _wire_file(e: FileEntry) -> MediusFile:
    return MediusFile(
        filename=e.name,
        file_id=e.file_id,
        file_size=e.size,
        creation_time_stamp=int(e.created) & 0xFFFFFFFF,
        owner_id=e.owner_id,
    )


class FileHandlers:
    def _file_refused(self, conn: Link, req, exc: FileError) -> int:
        log.info("MLS %s: %s refused: %s", conn.peer_label, type(req).__name__, exc.reason)
        return int(exc.status)

    def _upload_request(
        self, conn: Link, message_id: str, status: int, start: int, packet: int, xfer: int
    ) -> None:
        self.reply(
            conn,
            mf.FileUploadServerRequest(
                req_start_byte_index=start,
                packet_number=packet,
                xfer_status=xfer,
                status=status,
                message_id=message_id,
            ),
        )

    @handles(mf.FileCreateRequest)
    def file_create(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        try:
            entry = self.svc.files.create(
                s.group,
                req.file.filename,
                req.file.file_size,
                s.account_id,
                self.svc.deps.wall_clock(),
                attributes=req.attributes.description.rstrip(b"\0"),
            )
        except FileError as exc:
            status = self._file_refused(conn, req, exc)
            self.reply(conn, mf.FileCreateResponse(file=req.file, status=status, message_id=req.message_id))
            return
        answer = mf.FileCreateResponse(file=_wire_file(entry), status=S.SUCCESS, message_id=req.message_id)
        self.reply(conn, answer)

    @handles(mf.FileUploadRequest)
    def file_upload(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        self._drop_upload(conn)
        try:
            upload = self.svc.files.begin_upload(s.group, req.file.filename, req.data_size, s.account_id)
        except FileError as exc:
            status = self._file_refused(conn, req, exc)
            self._upload_request(conn, req.message_id, status, 0, 0, FileXferStatus.ERROR)
            return
        self.svc.uploads[conn] = upload
        self._upload_request(conn, req.message_id, S.SUCCESS, 0, 0, FileXferStatus.INITIAL)

    @handles(mf.FileUploadResponse)
    def file_upload_chunk(self, conn: Link, req, now: float) -> None:
        upload = self.svc.uploads.get(conn)
        if upload is None:
            log.info("MLS %s: an upload chunk without an upload; ignored", conn.peer_label)
            return
        try:
            if not 0 <= req.data_size <= CHUNK:
                raise FileError(
                    S.FILE_INTERNAL_ACCESS_ERROR, f"a chunk of {req.data_size} bytes (at most {CHUNK})"
                )
            start, xfer = upload.accept(req.start_byte_index, req.data[: req.data_size])
            if xfer == FileXferStatus.END:
                del self.svc.uploads[conn]
                self.svc.files.finish_upload(upload, self.svc.deps.wall_clock())
        except FileError as exc:
            self._drop_upload(conn)
            status = self._file_refused(conn, req, exc)
            self._upload_request(conn, req.message_id, status, 0, 0, FileXferStatus.ERROR)
            return
        self._upload_request(conn, req.message_id, S.SUCCESS, start, upload.packets, xfer)

    @handles(mf.FileCloseRequest)
    def file_close(self, conn: Link, req, now: float) -> None:
        self._drop_upload(conn)  # an unfinished upload is abandoned; a finished one is stored
        entry = self.svc.files.get(conn.session.group, req.file.filename)
        status = S.SUCCESS if entry is not None else S.FILE_DOES_NOT_EXIST
        wire = _wire_file(entry) if entry is not None else req.file
        self.reply(conn, mf.FileCloseResponse(file=wire, status=status, message_id=req.message_id))

    @handles(mf.FileDownloadRequest)
    def file_download(self, conn: Link, req, now: float) -> None:
        try:
            content = self.svc.files.read(conn.session.group, req.file.filename)
        except FileError as exc:
            self._file_refused(conn, req, exc)
            answer = mf.FileDownloadResponse(
                message_id=req.message_id, status=NO_SUCH_FILE_STATUS, xfer_status=0
            )
            self.reply(conn, answer)
            return
        for n, (start, data, xfer) in enumerate(download_chunks(content)):
            self.reply(
                conn,
                mf.FileDownloadResponse(
                    data=data.ljust(CHUNK, b"\0"),
                    start_byte_index=start,
                    data_size=len(data),
                    packet_number=n,
                    xfer_status=xfer,
                    status=S.SUCCESS,
                    message_id=req.message_id,
                ),
            )

    @handles(mf.FileDeleteRequest)
    def file_delete(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        try:
            self.svc.files.delete(s.group, req.file.filename, s.account_id)
            status = int(S.SUCCESS)
        except FileError as exc:
            status = self._file_refused(conn, req, exc)
        self.reply(conn, mf.FileDeleteResponse(status=status, message_id=req.message_id))

    def _drop_upload(self, conn: Link) -> None:
        upload = self.svc.uploads.pop(conn, None)
        if upload is not None:
            self.svc.files.abandon_upload(upload)
