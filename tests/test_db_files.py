"""The file service store: create, upload in chunks, download, delete, limits, persistence."""

from __future__ import annotations

import pytest

from clank_lan.db.files import CHUNK, FileError, FileStore, Limits, download_chunks
from clank_lan.protocol.medius.enums import CallbackStatus as S
from clank_lan.protocol.medius.enums import FileXferStatus as X

NOW = 1_700_000_000.0


def _upload(store: FileStore, name: str, content: bytes, owner: int = 7, ns: str = "jakx"):
    up = store.begin_upload(ns, name, len(content), owner)
    start, status = 0, X.INITIAL
    for _ in range(len(content) // CHUNK + 2):  # bounded: one step per chunk
        start, status = up.accept(start, content[start : start + CHUNK])
        if status == X.END:
            break
    return store.finish_upload(up, NOW)


@pytest.fixture(params=["memory", "disk"])
def store(request, tmp_path):
    if request.param == "memory":
        return FileStore.ephemeral()
    return FileStore.open(tmp_path)


def test_create_makes_a_zero_filled_file_and_refuses_a_taken_name(store):
    e = store.create("jakx", "profile.dat", 10, owner_id=7, now=NOW, attributes=b"desc")
    assert (e.file_id, e.size, e.owner_id, e.created, e.attributes) == (1, 10, 7, NOW, b"desc")
    assert store.read("jakx", "profile.dat") == bytes(10)
    with pytest.raises(FileError) as err:
        store.create("jakx", "profile.dat", 10, owner_id=8, now=NOW)
    assert err.value.status == S.FILE_ALREADY_EXISTS
    # the same name in another title's namespace is another file
    assert store.create("dl", "profile.dat", 1, owner_id=8, now=NOW).file_id == 2


def test_an_upload_in_chunks_stores_the_exact_bytes(store):
    content = bytes(range(256)) * 5  # 1280 bytes: three chunks
    up = store.begin_upload("jakx", "ghost.bin", len(content), owner_id=7)
    assert up.accept(0, content[:CHUNK]) == (CHUNK, X.MID)
    assert up.accept(0, content[:CHUNK]) == (CHUNK, X.MID)  # a resend is harmless
    assert up.accept(CHUNK, content[CHUNK : 2 * CHUNK]) == (2 * CHUNK, X.MID)
    assert up.accept(2 * CHUNK, content[2 * CHUNK :]) == (0, X.END)
    assert store.get("jakx", "ghost.bin") is None  # nothing until finished
    entry = store.finish_upload(up, NOW)
    assert entry.size == len(content)
    assert store.read("jakx", "ghost.bin") == content
    assert [e.name for e in store.listing("jakx", "gh")] == ["ghost.bin"]


def test_a_chunk_may_not_skip_ahead_overflow_or_be_too_big(store):
    up = store.begin_upload("jakx", "f", 1000, owner_id=7)
    with pytest.raises(FileError, match="expected one at or before 0"):
        up.accept(10, b"x")
    with pytest.raises(FileError, match="at most 464"):
        up.accept(0, bytes(CHUNK + 1))
    up.accept(0, bytes(CHUNK))
    up.accept(CHUNK, bytes(CHUNK))
    with pytest.raises(FileError) as err:
        up.accept(2 * CHUNK, bytes(CHUNK))  # 1392 > 1000
    assert err.value.status == S.FILE_QUOTA_EXCEEDED
    with pytest.raises(FileError, match="of 1000"):
        store.finish_upload(up, NOW)  # incomplete: nothing stored
    assert store.get("jakx", "f") is None
    with pytest.raises(FileError, match="closed"):
        up.accept(928, bytes(72))


def test_only_the_owner_replaces_or_deletes_a_file(store):
    _upload(store, "save", b"v1", owner=7)
    with pytest.raises(FileError) as err:
        store.begin_upload("jakx", "save", 2, owner_id=8)
    assert err.value.status == S.FILE_NO_PERMISSIONS
    first = store.get("jakx", "save")
    replaced = _upload(store, "save", b"v2!", owner=7)
    assert (replaced.file_id, replaced.size) == (first.file_id, 3)
    assert store.read("jakx", "save") == b"v2!"
    with pytest.raises(FileError) as err:
        store.delete("jakx", "save", requester_id=8)
    assert err.value.status == S.FILE_NO_PERMISSIONS
    store.delete("jakx", "save", requester_id=7)
    with pytest.raises(FileError) as err:
        store.read("jakx", "save")
    assert err.value.status == S.FILE_DOES_NOT_EXIST


@pytest.mark.parametrize(
    ("ns", "name", "size", "status"),
    [
        ("jakx", "", 1, S.FILE_INVALID_FILENAME),
        ("jakx", "x" * 128, 1, S.FILE_INVALID_FILENAME),
        ("jakx", "bad\x00name", 1, S.FILE_INVALID_FILENAME),
        ("", "f", 1, S.FILE_INVALID_FILENAME),
        ("jakx", "f", -1, S.FILE_QUOTA_EXCEEDED),
        ("jakx", "f", (1 << 20) + 1, S.FILE_QUOTA_EXCEEDED),
    ],
)
def test_bad_names_and_sizes_get_a_failure_status(store, ns, name, size, status):
    with pytest.raises(FileError) as err:
        store.create(ns, name, size, owner_id=1, now=NOW)
    assert err.value.status == status


def test_path_like_names_never_leave_the_store_directory(tmp_path):
    store = FileStore.open(tmp_path)
    store.create("jakx", "../../etc/passwd", 3, owner_id=1, now=NOW)
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["1.bin", "index.json"]
    assert not (tmp_path.parent / "etc").exists()


def test_count_total_and_upload_limits():
    store = FileStore.ephemeral(Limits(file_bytes=100, files=2, total_bytes=150, uploads=1))
    store.create("a", "one", 100, owner_id=1, now=NOW)
    with pytest.raises(FileError, match="would pass 150"):
        store.create("a", "two", 51, owner_id=1, now=NOW)
    store.create("a", "two", 50, owner_id=1, now=NOW)
    with pytest.raises(FileError, match="2 files stored"):
        store.create("a", "three", 0, owner_id=1, now=NOW)
    up = store.begin_upload("a", "one", 10, owner_id=1)  # replacing frees its old size
    with pytest.raises(FileError, match="1 uploads already in progress"):
        store.begin_upload("a", "two", 1, owner_id=1)
    store.abandon_upload(up)
    store.abandon_upload(up)  # twice is harmless and frees one slot only
    store.begin_upload("a", "two", 1, owner_id=1)


def test_the_disk_store_survives_a_restart_and_drops_entries_without_content(tmp_path):
    store = FileStore.open(tmp_path)
    _upload(store, "keep", b"kept bytes")
    store.create("jakx", "lost", 4, owner_id=7, now=NOW)
    (tmp_path / "files" / "2.bin").unlink()
    again = FileStore.open(tmp_path)
    assert again.read("jakx", "keep") == b"kept bytes"
    assert again.get("jakx", "lost") is None
    assert again.create("jakx", "new", 1, owner_id=7, now=NOW).file_id == 3  # ids are not reused


def test_an_unreadable_index_is_reported(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "index.json").write_text("{not json")
    with pytest.raises(FileError, match="unreadable"):
        FileStore.open(tmp_path)


def test_download_chunks_cover_the_file_in_order():
    content = bytes(range(200)) * 5  # 1000 bytes
    chunks = download_chunks(content)
    assert [(start, len(data), status) for start, data, status in chunks] == [
        (0, CHUNK, X.INITIAL),
        (CHUNK, CHUNK, X.MID),
        (2 * CHUNK, 72, X.END),
    ]
    assert b"".join(d for _, d, _ in chunks) == content
    assert download_chunks(b"") == [(0, b"", X.END)]
    assert download_chunks(b"small") == [(0, b"small", X.END)]
