"""What every store offers the layers above: list, read, write atomically, lock.

Paths are always relative, ``/``-separated and confined to the store's root.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from synctui.errors import PathEscapeError, StoreError, SyncTuiError

if TYPE_CHECKING:
    from synctui.storage.bundle import FileBundle
    from synctui.storage.url import Location

CHUNK = 1 << 20
TEMP_PREFIX = ".synctui-tmp-"
#: on servers that hide dotfiles from listings (nginx dav_ext) temps must be visible, or
#: a sync killed mid-upload leaves one nobody can find: then this prefix, and a strict shape
VISIBLE_TEMP_PREFIX = "synctui-tmp-"
_VISIBLE_TEMP = re.compile(r"(?:^|/)synctui-tmp-[^/]+\.[0-9a-f]{12}$")


#: bytes in one file name: the limit of ext4, xfs, btrfs, ZFS and so of the servers on them
NAME_MAX = 255


def temp_name(name: str, unique: str, prefix: str = TEMP_PREFIX) -> str:
    """The name a write of ``name`` goes to before its rename: ``<prefix><name>.<unique>``.

    A long ``name`` is cut (at a character boundary, counting UTF-8 bytes) so the temp
    name fits wherever ``name`` itself fits; ``unique`` alone keeps it apart from others.
    It keeps the shape ``is_temp_path`` recognises, so a leftover is still swept."""
    room = NAME_MAX - len(prefix) - 1 - len(unique.encode())
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > room:
        cut = room
        while cut > 0 and encoded[cut] & 0xC0 == 0x80:  # not inside a multi-byte character
            cut -= 1
        name = encoded[:cut].decode("utf-8", "surrogateescape")
    return f"{prefix}{name}.{unique}"


def is_temp_path(path: str) -> bool:
    """A temp file some write of ours made (and, if it is still there, abandoned)."""
    return TEMP_PREFIX in path or (VISIBLE_TEMP_PREFIX in path and _VISIBLE_TEMP.search(path) is not None)


@dataclass(slots=True, unsafe_hash=True)
class FileInfo:
    """One file as a listing saw it.  ``etag`` is set by stores that have one.

    Not frozen, though nothing changes one: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``, four times the cost, and a listing makes one per
    file (100,000 for a big project).  Treat it as a value.
    """

    path: str
    size: int
    mtime_ns: int
    etag: str | None = None
    kind: str = "file"  # "file" or "dir"


@dataclass(frozen=True, slots=True)
class StoreFeatures:
    """What a store can do, declared in one record (rclone's ``fs.Features``): the sync
    layer reads it and never probes a store for methods or attributes.  Every default is
    the modest answer, so a store claims only what it declares."""

    #: ``write_atomic(mtime_ns=)`` is kept: a written mtime reads back (WebDAV usually not)
    set_mtime: bool = False
    #: the mtimes this store reports are exact to this many ns (SFTP v3, HTTP: whole seconds)
    mtime_resolution_ns: int = 1
    #: ``stat``/``scan`` give etags that change when the content changes
    etag: bool = False
    #: ``read_many`` beats ``read_bytes`` file by file (SFTP: one tar stream)
    batch_read: bool = False
    #: ``write_many`` beats ``write_atomic`` file by file (SFTP: tar; local: one syncfs)
    batch_write: bool = False
    #: ``copy_from`` copies from another store of this kind without the bytes passing
    #: through us (local: the kernel copies); otherwise it always returns None
    server_copy: bool = False
    #: ``create_exclusive`` is atomic (O_EXCL, SFTP's exclusive open, MOVE Overwrite: F)
    exclusive_create: bool = False
    #: listings leave out names starting with "." (nginx dav_ext)
    hides_dotfiles: bool = False
    #: folders are only the prefixes of keys (S3): an empty folder does not exist, and
    #: ``makedirs`` makes nothing
    folders_are_prefixes: bool = False
    #: ``scan_bundled`` gives FileBundles (local: find's records, compared unparsed);
    #: otherwise it gives what ``scan(dirs=True)`` gives
    bundled_scan: bool = False


@runtime_checkable
class Store(Protocol):
    """A project root somewhere.  Implementations: local, sftp, webdav, each a
    :class:`BaseStore` whose ``features`` says what it can do."""

    location: Location
    features: StoreFeatures

    def scan(self, prefix: str = "", *, dirs: bool = False) -> Iterator[FileInfo]: ...
    def scan_bundled(self, suffix: str) -> Iterator[FileInfo | FileBundle]: ...
    def stat(self, path: str) -> FileInfo | None: ...
    def exists(self, path: str) -> bool: ...
    def open_read(self, path: str) -> BinaryIO: ...
    def read_bytes(self, path: str) -> bytes: ...
    def read_many(self, paths: Iterable[str]) -> Iterator[tuple[str, bytes | StoreError]]: ...
    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        """Write ``data`` to ``path`` so the final path never shows a partial file.

        ``size``, when known, is the number of bytes ``data`` holds.  WebDAV sends it
        as the Content-Length (no chunked encoding); every store refuses a body of
        another length with a StoreError, leaving the final path untouched.
        """
        ...
    def write_many(self, items: Iterable[tuple[str, bytes, int | None]]) -> list[FileInfo | StoreError]: ...
    def copy_from(self, source: Store, src_path: str, path: str, *,
                  mtime_ns: int | None = None) -> FileInfo | None: ...
    def makedirs(self, path: str) -> None: ...
    def remove(self, path: str) -> None: ...
    def remove_tree(self, path: str) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def create_exclusive(self, path: str, data: bytes) -> bool: ...
    def check_root(self) -> None: ...
    def interrupt(self) -> None:
        """Break off what is in flight and refuse new operations until ``resume()``: a
        cancelled sync ends at once, then resumes its stores to release its locks."""
        ...
    def resume(self) -> None: ...
    def close(self) -> None: ...


def as_store_error(exc: SyncTuiError) -> StoreError:
    """A per-file result is always a StoreError (its ``transient`` flag says: retry it)."""
    return exc if isinstance(exc, StoreError) else StoreError(str(exc))


class BaseStore:
    """What every store shares: its ``features`` and correct default bulk methods built
    on the single-file ones (fsspec's AbstractFileSystem), so every store has them and
    a store overrides one only where it can do better (and says so in ``features``)."""

    features: StoreFeatures = StoreFeatures()

    # the single-file operations the defaults are built on (each store defines them)
    def read_bytes(self, path: str) -> bytes:
        raise NotImplementedError

    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        raise NotImplementedError

    def scan_bundled(self, suffix: str) -> Iterator[FileInfo | FileBundle]:
        """The whole root as ``scan(dirs=True)`` lists it, except that the plain files
        below each folder whose name ends with ``suffix`` may come as one FileBundle
        (storage/bundle.py), with no FileInfos for the folders inside it.  This default
        bundles nothing; ``features.bundled_scan`` says a store does."""
        return self.scan(dirs=True)

    def read_many(self, paths: Iterable[str]) -> Iterator[tuple[str, bytes | StoreError]]:
        """Read many small files: yields ``(path, data)`` or ``(path, StoreError)`` in the
        order given; one failure never stops the others."""
        for path in paths:
            try:
                yield path, self.read_bytes(path)
            except SyncTuiError as exc:
                yield path, as_store_error(exc)

    def write_many(self, items: Iterable[tuple[str, bytes, int | None]]) -> list[FileInfo | StoreError]:
        """Write many small files ``(path, data, mtime_ns)``, each atomically: returns, in
        order, the FileInfo or the StoreError of each; one failure never stops the others."""
        out: list[FileInfo | StoreError] = []
        for path, data, mtime_ns in items:
            try:
                out.append(self.write_atomic(path, data, mtime_ns=mtime_ns))
            except SyncTuiError as exc:
                out.append(as_store_error(exc))
        return out

    def copy_from(self, source: Store, src_path: str, path: str, *,
                  mtime_ns: int | None = None) -> FileInfo | None:
        """A copy from ``source`` that skips us (``features.server_copy``), or None when
        this store cannot do it for that source: the caller streams instead."""
        return None


def clean_relpath(path: str, *, allow_root: bool = False) -> str:
    """Normalise a store-relative path and refuse anything that leaves the root."""
    if not isinstance(path, str):
        raise PathEscapeError(f"path must be a string, got {type(path).__name__}")
    if "\x00" in path:
        raise PathEscapeError(f"path {path!r} contains a NUL byte")
    if path.startswith("/") or path.startswith("\\") or (len(path) > 1 and path[1] == ":"):
        raise PathEscapeError(f"path {path!r} is absolute; store paths are relative to the root")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathEscapeError(f"path {path!r} climbs out of the project root with '..'")
    norm = posixpath.join(*parts) if parts else ""
    if not norm and not allow_root:
        raise PathEscapeError("empty path: a file path inside the root is needed")
    return norm


def iter_chunks(data: bytes | Iterable[bytes]) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
    else:
        yield from data


def size_mismatch(path: str, got: int, size: int) -> StoreError:
    """The error for a body that is not the ``size`` bytes its writer promised."""
    what = f"{got} bytes, not the {size}" if got < size else f"more than the {size} bytes"
    return StoreError(f"cannot write {path}: the data had {what} expected (did the source change "
                      "while it was read? sync again)")


def read_stream(fh: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    """Stream a file object in chunks, closing it at the end."""
    with fh:
        while True:
            block = fh.read(size)
            if not block:
                return
            yield block
