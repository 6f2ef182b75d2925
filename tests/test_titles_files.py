"""The file service through the MLS (issue 13 item 4), on the in-memory harness: a Jak X console
creates and uploads a file in chunks, another reads it back, limits and bad input get statuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clank_lan.db.files import CHUNK
from clank_lan.protocol.medius import files as mf
from clank_lan.protocol.medius.enums import FileXferStatus as X
from clank_lan.protocol.medius.structs import MediusFile
from tests.test_lobby_harness import Console, Net, S, open_net

JAKX = 10994


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


def _console(net: Net, name: str) -> Console:
    c = Console(net, app_id=JAKX, version=109)
    c.login(name)
    return c


def _upload(c: Console, name: str, content: bytes) -> list:
    """FileUpload, then the chunks the server asks for, as the community servers run it."""
    [ask] = c.send(
        c.mls, mf.FileUploadRequest(file=MediusFile(filename=name), data_size=len(content), message_id="u")
    )
    asks = [ask]
    for _ in range(len(content) // CHUNK + 2):  # bounded: one step per chunk
        if ask.xfer_status in (X.END, X.ERROR):
            break
        start = ask.req_start_byte_index
        piece = content[start : start + CHUNK]
        [ask] = c.send(
            c.mls,
            mf.FileUploadResponse(
                data=piece.ljust(CHUNK, b"\0"),
                start_byte_index=start,
                data_size=len(piece),
                packet_number=len(asks),
                xfer_status=X.MID,
                message_id="u",
            ),
        )
        asks.append(ask)
    return asks


def test_create_upload_and_download_a_file(net: Net):
    a, b = _console(net, "racer"), _console(net, "rival")
    made = a.one(
        a.mls, mf.FileCreateRequest(file=MediusFile(filename="ghost.dat", file_size=1000), message_id="c")
    )
    assert (made.status, made.file.filename, made.file.file_size, made.file.file_id) == (
        S.SUCCESS,
        "ghost.dat",
        1000,
        1,
    )
    taken = b.one(
        b.mls, mf.FileCreateRequest(file=MediusFile(filename="ghost.dat", file_size=5), message_id="c")
    )
    assert taken.status == S.FILE_ALREADY_EXISTS
    content = bytes(range(250)) * 4
    asks = _upload(a, "ghost.dat", content)
    assert [(x.xfer_status, x.req_start_byte_index) for x in asks] == [
        (X.INITIAL, 0),
        (X.MID, CHUNK),
        (X.MID, 2 * CHUNK),
        (X.END, 0),
    ]
    closed = a.one(a.mls, mf.FileCloseRequest(file=MediusFile(filename="ghost.dat"), message_id="x"))
    assert (closed.status, closed.file.file_size) == (S.SUCCESS, 1000)
    chunks = b.send(b.mls, mf.FileDownloadRequest(file=MediusFile(filename="ghost.dat"), message_id="d"))
    assert [c.xfer_status for c in chunks] == [X.INITIAL, X.MID, X.END]
    assert b"".join(c.data[: c.data_size] for c in chunks) == content
    assert [c.packet_number for c in chunks] == [0, 1, 2]


def test_a_missing_file_is_answered_as_sony_did(net: Net):
    a = _console(net, "racer")
    answer = a.one(a.mls, mf.FileDownloadRequest(file=MediusFile(filename="nope"), message_id="d"))
    assert (answer.status, answer.xfer_status) == (S.DB_ERROR, 0)


def test_only_the_owner_replaces_or_deletes(net: Net):
    a, b = _console(net, "owner"), _console(net, "thief")
    assert _upload(a, "save", b"mine")[-1].xfer_status == X.END
    [refused] = _upload(b, "save", b"theirs")
    assert (refused.xfer_status, refused.status) == (X.ERROR, S.FILE_NO_PERMISSIONS)
    gone = b.one(b.mls, mf.FileDeleteRequest(file=MediusFile(filename="save"), message_id="x"))
    assert gone.status == S.FILE_NO_PERMISSIONS
    assert (
        a.one(a.mls, mf.FileDeleteRequest(file=MediusFile(filename="save"), message_id="x")).status
        == S.SUCCESS
    )
    closed = a.one(a.mls, mf.FileCloseRequest(file=MediusFile(filename="save"), message_id="x"))
    assert closed.status == S.FILE_DOES_NOT_EXIST


def test_bad_chunks_and_sizes_end_the_upload_with_a_status(net: Net):
    a = _console(net, "racer")
    [ask] = a.send(a.mls, mf.FileUploadRequest(file=MediusFile(filename="f"), data_size=10, message_id="u"))
    assert ask.xfer_status == X.INITIAL
    [bad] = a.send(a.mls, mf.FileUploadResponse(start_byte_index=0, data_size=CHUNK + 1, message_id="u"))
    assert (bad.xfer_status, bad.status) == (X.ERROR, S.FILE_INTERNAL_ACCESS_ERROR)
    assert (
        a.send(a.mls, mf.FileUploadResponse(start_byte_index=0, data_size=1, message_id="u")) == []
    )  # no upload
    [huge] = a.send(
        a.mls, mf.FileUploadRequest(file=MediusFile(filename="f"), data_size=1 << 30, message_id="u")
    )
    assert (huge.xfer_status, huge.status) == (X.ERROR, S.FILE_QUOTA_EXCEEDED)
    bad_name = a.one(a.mls, mf.FileCreateRequest(file=MediusFile(filename=""), message_id="c"))
    assert bad_name.status == S.FILE_INVALID_FILENAME


def test_an_upload_left_unfinished_stores_nothing(net: Net):
    a = _console(net, "racer")
    a.send(a.mls, mf.FileUploadRequest(file=MediusFile(filename="half"), data_size=900, message_id="u"))
    a.send(
        a.mls, mf.FileUploadResponse(data=bytes(CHUNK), start_byte_index=0, data_size=CHUNK, message_id="u")
    )
    net.close(a.mls, "gone")
    assert net.svc.files.get(a.session.group, "half") is None and net.svc.uploads == {}
