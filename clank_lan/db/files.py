"""The Medius file service's store (MFS): the files titles upload and download.

Jak X keeps player files on the server, Deadlocked downloads one at login. A file lives in a
*namespace* (the lobby key of the title family, so files are per game, not global) under a name
of up to 127 characters. Content is kept under ``<data dir>/files/`` as ``<id>.bin`` — the name a
console chose never becomes a path, so no name can escape the directory — with ``index.json``
beside it holding names, owners and sizes; ``FileStore.ephemeral()`` keeps everything in memory
(the ``--ephemeral`` appliance). Writes are atomic (a temporary file renamed into place).

Every resource is bounded: the size of one file, the number of files, the bytes of all files,
the uploads in progress. A refusal raises ``FileError`` carrying the Medius status the handler
answers with, so a bad request gets a failure status and never a crash.

An upload is a small state machine (``Upload``): the console sends chunks of at most 464 bytes,
each at the start index the server asked for; the file appears (or is replaced) only when the
last byte has arrived and ``finish_upload`` is called, so an abandoned upload leaves nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from clank_lan.protocol.medius.enums import CallbackStatus as S
from clank_lan.protocol.medius.enums import FileXferStatus

#: Data bytes in one FileDownloadResponse / FileUploadResponse (MEDIUS_FILE_MAX_DOWNLOAD_DATA_SIZE).
CHUNK = 464
#: The file name field is char[128]: 127 characters and the terminator.
MAX_NAME_LEN = 127
MAX_NAMESPACE_LEN = 32


class FileError(Exception):
    """A refused file operation; ``status`` is the Medius status to answer with."""

    def __init__(self, status: S, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class FileEntry(msgspec.Struct, frozen=True):
    file_id: int
    namespace: str
    name: str
    size: int
    owner_id: int
    created: float  # the wall clock (seconds since the epoch) when it was first stored
    attributes: bytes = b""  # the FileCreate attributes, kept as the console sent them


class _Index(msgspec.Struct):
    next_id: int = 1
    files: list[FileEntry] = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Limits:
    file_bytes: int = 1 << 20  # one file (the largest Jak X / Deadlocked files are a few KiB)
    files: int = 1000  # files in all namespaces
    total_bytes: int = 64 << 20  # all files together
    uploads: int = 32  # uploads in progress at once


@dataclass(slots=True)
class Upload:
    """One upload in progress: chunks in, the next start index out."""

    namespace: str
    name: str
    owner_id: int
    total: int
    attributes: bytes
    data: bytearray = field(init=False)
    received: int = 0  # bytes [0, received) have arrived
    packets: int = 0
    closed: bool = False  # finished or abandoned: no longer counted against the limit

    def __post_init__(self) -> None:
        self.data = bytearray(self.total)

    @property
    def done(self) -> bool:
        return self.received >= self.total

    def accept(self, start: int, chunk: bytes) -> tuple[int, FileXferStatus]:
        """Store a chunk; returns the next start index to ask for and MID, or (0, END) when the
        file is complete. A chunk may repeat bytes already received (a resend) but may not skip
        ahead, run past the announced size or exceed one packet."""
        if self.closed:
            raise FileError(S.FILE_INTERNAL_ACCESS_ERROR, f"{self.name!r}: the upload is closed")
        if len(chunk) > CHUNK:
            raise FileError(S.FILE_INTERNAL_ACCESS_ERROR, f"a chunk of {len(chunk)} bytes (at most {CHUNK})")
        if not 0 <= start <= self.received:
            raise FileError(
                S.FILE_INTERNAL_ACCESS_ERROR, f"chunk at {start}, expected one at or before {self.received}"
            )
        if start + len(chunk) > self.total:
            raise FileError(S.FILE_QUOTA_EXCEEDED, f"chunk ends at {start + len(chunk)}, past {self.total}")
        self.data[start : start + len(chunk)] = chunk
        self.received = max(self.received, start + len(chunk))
        self.packets += 1
        if self.done:
            return 0, FileXferStatus.END
        return self.received, FileXferStatus.MID


class FileStore:
    """Files by (namespace, name). ``FileStore.open(data_dir)`` or ``FileStore.ephemeral()``."""

    def __init__(self, root: Path | None, limits: Limits = Limits()) -> None:
        self.root = root
        self.limits = limits
        self._next_id = 1
        self._entries: dict[tuple[str, str], FileEntry] = {}
        self._memory: dict[int, bytes] = {}  # content when ephemeral
        self._uploads = 0

    @classmethod
    def ephemeral(cls, limits: Limits = Limits()) -> FileStore:
        return cls(None, limits)

    @classmethod
    def open(cls, data_dir: Path, limits: Limits = Limits()) -> FileStore:
        """The store under ``data_dir/files`` (created if missing). Index entries whose content
        file is missing or of another size are dropped, so the index never promises a file."""
        root = Path(data_dir) / "files"
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root, limits)
        index_path = root / "index.json"
        if index_path.exists():
            try:
                index = msgspec.json.decode(index_path.read_bytes(), type=_Index)
            except (OSError, msgspec.DecodeError) as exc:
                raise FileError(S.FILE_INTERNAL_ACCESS_ERROR, f"{index_path}: unreadable ({exc})") from None
            store._next_id = max(1, index.next_id)
            for e in index.files:
                blob = root / f"{e.file_id}.bin"
                if blob.is_file() and blob.stat().st_size == e.size:
                    store._entries[(e.namespace, e.name)] = e
        return store

    # -- reads --------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> FileEntry | None:
        return self._entries.get((namespace, name))

    def listing(self, namespace: str, prefix: str = "") -> list[FileEntry]:
        """The namespace's files whose names start with ``prefix``, by name."""
        return sorted(
            (e for (ns, n), e in self._entries.items() if ns == namespace and n.startswith(prefix)),
            key=lambda e: e.name,
        )

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self._entries.values())

    def read(self, namespace: str, name: str) -> bytes:
        entry = self._need(namespace, name)
        if self.root is None:
            return self._memory[entry.file_id]
        try:
            return (self.root / f"{entry.file_id}.bin").read_bytes()
        except OSError as exc:
            raise FileError(S.FILE_INTERNAL_ACCESS_ERROR, f"{name!r}: {exc.strerror or exc}") from None

    # -- writes -------------------------------------------------------------------------------

    def create(
        self, namespace: str, name: str, size: int, owner_id: int, now: float, attributes: bytes = b""
    ) -> FileEntry:
        """FileCreate: an empty (zero-filled) file of ``size`` bytes, refused if the name is taken."""
        self._check(namespace, name, size)
        if (namespace, name) in self._entries:
            raise FileError(S.FILE_ALREADY_EXISTS, f"{name!r} already exists")
        self._check_room(size, replacing=None)
        return self._put(namespace, name, bytes(size), owner_id, now, attributes, replacing=None)

    def begin_upload(
        self, namespace: str, name: str, total: int, owner_id: int, attributes: bytes = b""
    ) -> Upload:
        """FileUpload: start receiving ``total`` bytes for ``name`` (new, or replacing the
        uploader's own file). Nothing is stored until ``finish_upload``."""
        self._check(namespace, name, total)
        existing = self._entries.get((namespace, name))
        if existing is not None and existing.owner_id != owner_id:
            raise FileError(S.FILE_NO_PERMISSIONS, f"{name!r} belongs to account {existing.owner_id}")
        self._check_room(total, replacing=existing)
        if self._uploads >= self.limits.uploads:
            raise FileError(S.FILE_QUOTA_EXCEEDED, f"{self._uploads} uploads already in progress")
        self._uploads += 1
        return Upload(namespace, name, owner_id, total, attributes)

    def finish_upload(self, upload: Upload, now: float) -> FileEntry:
        """Store a complete upload (replacing the uploader's earlier version)."""
        self.abandon_upload(upload)
        if not upload.done:
            raise FileError(
                S.FILE_INTERNAL_ACCESS_ERROR, f"{upload.name!r}: {upload.received} of {upload.total}"
            )
        existing = self._entries.get((upload.namespace, upload.name))
        if existing is not None and existing.owner_id != upload.owner_id:
            raise FileError(S.FILE_NO_PERMISSIONS, f"{upload.name!r} belongs to account {existing.owner_id}")
        self._check_room(upload.total, replacing=existing)
        return self._put(
            upload.namespace,
            upload.name,
            bytes(upload.data),
            upload.owner_id,
            now,
            upload.attributes,
            replacing=existing,
        )

    def abandon_upload(self, upload: Upload) -> None:
        """Forget an upload (its console left or closed it early). Safe to call twice."""
        if not upload.closed:
            upload.closed = True
            self._uploads -= 1

    def delete(self, namespace: str, name: str, requester_id: int) -> None:
        entry = self._need(namespace, name)
        if entry.owner_id != requester_id:
            raise FileError(S.FILE_NO_PERMISSIONS, f"{name!r} belongs to account {entry.owner_id}")
        del self._entries[(namespace, name)]
        self._memory.pop(entry.file_id, None)
        if self.root is not None:
            self._save_index()
            (self.root / f"{entry.file_id}.bin").unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------------------------

    def _need(self, namespace: str, name: str) -> FileEntry:
        entry = self._entries.get((namespace, name))
        if entry is None:
            raise FileError(S.FILE_DOES_NOT_EXIST, f"no file {name!r}")
        return entry

    def _check(self, namespace: str, name: str, size: int) -> None:
        if not namespace or len(namespace) > MAX_NAMESPACE_LEN or not namespace.isprintable():
            raise FileError(S.FILE_INVALID_FILENAME, f"bad namespace {namespace!r}")
        if not name or len(name) > MAX_NAME_LEN or not name.isprintable():
            raise FileError(S.FILE_INVALID_FILENAME, f"bad file name {name[:40]!r}")
        if not 0 <= size <= self.limits.file_bytes:
            raise FileError(
                S.FILE_QUOTA_EXCEEDED, f"{size} bytes (a file holds at most {self.limits.file_bytes})"
            )

    def _check_room(self, size: int, replacing: FileEntry | None) -> None:
        if replacing is None and len(self._entries) >= self.limits.files:
            raise FileError(S.FILE_QUOTA_EXCEEDED, f"{len(self._entries)} files stored, the most allowed")
        total = self.total_bytes - (replacing.size if replacing else 0) + size
        if total > self.limits.total_bytes:
            raise FileError(
                S.FILE_QUOTA_EXCEEDED, f"{total} bytes in all would pass {self.limits.total_bytes}"
            )

    def _put(
        self,
        namespace: str,
        name: str,
        content: bytes,
        owner_id: int,
        now: float,
        attributes: bytes,
        replacing: FileEntry | None,
    ) -> FileEntry:
        file_id = replacing.file_id if replacing else self._next_id
        entry = FileEntry(
            file_id=file_id,
            namespace=namespace,
            name=name,
            size=len(content),
            owner_id=owner_id,
            created=replacing.created if replacing else now,
            attributes=attributes,
        )
        if self.root is None:
            self._memory[file_id] = content
        else:
            _atomic_write(self.root / f"{file_id}.bin", content)
        if replacing is None:
            self._next_id += 1
        self._entries[(namespace, name)] = entry
        if self.root is not None:
            self._save_index()
        return entry

    def _save_index(self) -> None:
        assert self.root is not None
        index = _Index(next_id=self._next_id, files=sorted(self._entries.values(), key=lambda e: e.file_id))
        _atomic_write(self.root / "index.json", msgspec.json.encode(index))


def download_chunks(content: bytes) -> list[tuple[int, bytes, FileXferStatus]]:
    """(start index, data, transfer status) of each FileDownloadResponse for ``content``: INITIAL
    first, MID in between, END on the last (a file of one chunk or none is sent as one END)."""
    pieces = [content[i : i + CHUNK] for i in range(0, len(content), CHUNK)] or [b""]
    out = []
    for n, piece in enumerate(pieces):
        if n == len(pieces) - 1:
            status = FileXferStatus.END
        elif n == 0:
            status = FileXferStatus.INITIAL
        else:
            status = FileXferStatus.MID
        out.append((n * CHUNK, piece, status))
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FileError(S.FILE_INTERNAL_ACCESS_ERROR, f"{path.name}: {exc.strerror or exc}") from None
