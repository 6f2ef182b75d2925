"""Medius file service (MFS, §3.15): the MessageID comes after the data in these structs.

Deadlocked downloads a file at login (b41: FileDownload "Post_Score_....post"), so the download
pair is confirmed by capture; the others follow the same pattern (HZ / MS3).
"""

from __future__ import annotations

from typing import Annotated

from clank_lan.protocol.medius.codec import LOBBY, MediusMessage, message
from clank_lan.protocol.medius.layout import I32, U32, MessageId, Raw
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
