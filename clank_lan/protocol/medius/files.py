"""Medius file service (MFS, §3.15): the MessageID comes after the data in these structs.

Deadlocked downloads a file at login (b41: FileDownload "Post_Score_....post"), so the download
pair is confirmed by capture; the others follow the same pattern (HZ / MS3).

An upload, as both community servers run it: FileCreate (the file's name and size) -> FileCreate
response with the file id; FileUpload (file, total size) -> the server asks for the data with
FileUploadServer (``xfer_status`` INITIAL, start 0); the console sends FileUploadResponse chunks
of up to 464 bytes and the server answers each with FileUploadServer (MID and the next start
index, or END); FileClose -> FileCloseResponse.
"""

from __future__ import annotations

from typing import Annotated

from clank_lan.protocol.medius.codec import LOBBY, MediusMessage, message
from clank_lan.protocol.medius.layout import I32, U32, MessageId, Raw, Sub, WireStruct
from clank_lan.protocol.medius.structs import FileInfo, MediusFile

FileData = Annotated[bytes, Raw(464)]  # MEDIUS_FILE_MAX_DOWNLOAD_DATA_SIZE


class _FileRequestBody(MediusMessage):
    file: FileInfo = MediusFile()
    message_id: MessageId = ""


class _FileXferBody(MediusMessage):
    data: FileData = bytes(464)
    start_byte_index: I32 = 0
    data_size: I32 = 0
    packet_number: I32 = 0
    xfer_status: I32 = 0  # FileXferStatus
    status: I32 = 0
    message_id: MessageId = ""


class _FileStatusBody(MediusMessage):
    file: FileInfo = MediusFile()
    status: I32 = 0
    message_id: MessageId = ""


class MediusFileAttributes(WireStruct):
    """276 bytes: MEDIUS_FILE_MAX_DESCRIPTION_LENGTH (256) description bytes and five uint32s."""

    description: Annotated[bytes, Raw(256)] = bytes(256)
    last_changed_time_stamp: U32 = 0
    last_changed_by_user_id: U32 = 0
    number_accesses: U32 = 0
    streamable_flag: U32 = 0
    streaming_data_rate: U32 = 0


@message(LOBBY, 0xA5)
class FileCreateRequest(MediusMessage):
    """``file.filename`` and ``file.file_size`` say what to create; the attributes are kept as sent."""

    file: FileInfo = MediusFile()
    attributes: Annotated[MediusFileAttributes, Sub(MediusFileAttributes)] = MediusFileAttributes()
    message_id: MessageId = ""


@message(LOBBY, 0xA6)
class FileCreateResponse(_FileStatusBody):
    """The created file (with its ``file_id``) and the status."""


@message(LOBBY, 0xAC)
class FileDownloadRequest(_FileRequestBody):
    pass


@message(LOBBY, 0xAD)
class FileDownloadResponse(_FileXferBody):
    pass


@message(LOBBY, 0xA7)
class FileUploadRequest(MediusMessage):
    file: FileInfo = MediusFile()
    data_start: U32 = 0
    data_size: U32 = 0
    message_id: MessageId = ""


@message(LOBBY, 0xA8)
class FileUploadResponse(_FileXferBody):
    pass


@message(LOBBY, 0xA9)
class FileUploadServerRequest(MediusMessage):
    req_start_byte_index: I32 = 0
    packet_number: I32 = 0
    xfer_status: I32 = 0
    status: I32 = 0
    message_id: MessageId = ""


@message(LOBBY, 0xAA)
class FileCloseRequest(_FileRequestBody):
    pass


@message(LOBBY, 0xAB)
class FileCloseResponse(_FileStatusBody):
    pass


@message(LOBBY, 0xB0)
class FileDeleteRequest(_FileRequestBody):
    pass


@message(LOBBY, 0xB1)
class FileDeleteResponse(MediusMessage):
    status: I32 = 0
    message_id: MessageId = ""


@message(LOBBY, 0xBE)
class FileCancelOperationRequest(_FileRequestBody):
    pass


@message(LOBBY, 0xBF)
class FileCancelOperationResponse(MediusMessage):
    status: I32 = 0
    message_id: MessageId = ""
