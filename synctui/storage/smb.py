"""A project root on an SMB share (``smb://host/share/path``), through smbprotocol.

* **Listing**: one compound request per folder (CREATE + QUERY_DIRECTORY + CLOSE in one
  round trip; a folder too big for one answer is read on until the server says no
  more), folders of one level listed in parallel, each lister on its own session.
* **Reads**: a small file in one compound (CREATE + READ + CLOSE); ``open_read``
  streams, the file open and read a block at a time.
* **Writes** go to a temp name in the same folder.  A file up to ``SMALL_WRITE`` is one
  compound (CREATE, WRITE, SET_INFO mtime, SET_INFO rename over the final name, CLOSE);
  a bigger one streams its WRITEs (several in flight), then one compound sets the mtime,
  renames and closes.  The final path never shows a partial file.  Samba and Windows
  keep a written mtime (100 ns FILETIME), so ``set_mtime`` holds.
* **Locks**: ``create_exclusive`` writes a temp and renames it *without* replace: the
  server refuses the rename if the name exists, so exactly one writer wins, and the
  winner's file appears whole.
* **Confinement**: paths are cleaned (no ``..``, no absolute paths) and joined under the
  root inside the share; names the server lists are checked (``..``, ``\\``, Windows
  device names are refused: HostileNameError); reparse points (symlinks, junctions)
  are skipped, never followed.
"""

from __future__ import annotations

import io
import itertools
import logging
import posixpath
import struct
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar

from synctui.errors import LocationError, MissingPathError, RootError, StoreError, SyncTuiError
from synctui.storage.base import (
    BaseStore,
    FileInfo,
    StoreFeatures,
    clean_relpath,
    iter_chunks,
    size_mismatch,
    temp_name,
)
from synctui.storage.deadline import Interrupt
from synctui.storage.options import SMBOptions
from synctui.storage.retry import RetryPolicy
from synctui.storage.smb_connect import (
    Sessions,
    SMBConnectionLost,
    check_listed_name,
    check_written_path,
    is_collision,
    is_lost,
    is_missing,
    settings_for,
    store_error,
)
from synctui.storage.url import Location

log = logging.getLogger("synctui.smb")
T = TypeVar("T")

EPOCH_FILETIME = 116444736000000000
_ATTR_DIRECTORY = 0x10
_ATTR_REPARSE = 0x400
#: FileDirectoryInformation: next, index, 4 times, eof, allocation, attributes, name length
_DIR_ENTRY = struct.Struct("<IIqqqqqqII")
_DIR_INFO_CLASS = 0x01
#: the largest directory answer asked for in one request (credits permitting)
LIST_BUFFER = 1 << 20
#: files up to this size are written in one compound request (one round trip)
SMALL_WRITE = 1 << 20


def filetime_ns(ft: int) -> int:
    return (ft - EPOCH_FILETIME) * 100


def ns_filetime(ns: int) -> int:
    return ns // 100 + EPOCH_FILETIME


class SMBStore(BaseStore):
    """Store on ``smb://[user@]host[:port]/share/path`` (or ``smb:///share/path`` + fs_args)."""

    features = StoreFeatures(set_mtime=True, mtime_resolution_ns=100, exclusive_create=True)

    def __init__(self, location: Location | str, *, prompt: Any = None,
                 list_workers: int | None = None, **_ignored: object) -> None:
        if isinstance(location, str):
            from synctui.storage.url import parse_location

            location = parse_location(location)
        if location.protocol != "smb":
            raise StoreError(f"{location.display}: not an smb:// location")
        import importlib.util

        if importlib.util.find_spec("smbprotocol") is None:
            raise LocationError(f"{location.display}: smb:// roots need smbprotocol "
                                "(pip install 'synctui[smb]')")
        self.location = location
        self.options = opts = SMBOptions.build(location.fs_args, list_workers=list_workers)
        self.settings = settings_for(location, opts)
        self._sessions = Sessions(self.settings, location.display, prompt or opts.prompt)
        self._interrupt = Interrupt()
        self.retry_policy = RetryPolicy()
        self._dirs: set[str] = set()
        self._dirs_lock = threading.Lock()
        self._tmp_tag = uuid.uuid4().hex[:8]
        self._tmp_seq = itertools.count()
        self.skipped_links: list[str] = []
        self._list_pool: ThreadPoolExecutor | None = None
        self._pools: list[ThreadPoolExecutor] = []
        # a store nobody closes (a catalog dropped on rescan) still hangs up when collected
        weakref.finalize(self, _release, self._sessions, self._pools)

    def __repr__(self) -> str:
        return f"SMBStore({self.location.display!r})"

    @property
    def display(self) -> str:
        return self.location.display

    @property
    def connections_opened(self) -> int:
        return self._sessions.opened

    # -- plumbing --------------------------------------------------------------------
    def _unc(self, rel: str) -> str:
        return self.settings.unc(rel)

    def _share_path(self, rel: str) -> str:
        """The path inside the share, as a rename's target names it."""
        parts = [p for p in (self.settings.root + "/" + rel).split("/") if p]
        return "\\".join(parts)

    def _kw(self, action: str, what: str) -> dict[str, Any]:
        if self._interrupt.is_set:
            raise StoreError(f"cannot {action} {what or self.display}: cancelled")
        return self._sessions.kwargs()

    def _call(self, action: str, what: str, fn: Callable[[dict[str, Any]], T], *,
              retry: bool = True) -> T:
        """``fn(smbclient kwargs)``, its errors made StoreErrors; an idempotent call
        goes through the retry policy (a dropped connection: again on a fresh session)."""
        def once() -> T:
            kw = self._kw(action, what)
            try:
                return fn(kw)
            except SyncTuiError:
                raise
            except Exception as exc:  # noqa: BLE001 - smbprotocol's errors, made one line
                if not _from_smb(exc):
                    raise
                if self._interrupt.is_set:
                    raise StoreError(f"cannot {action} {what or self.display}: cancelled") from exc
                if is_lost(exc):
                    self._sessions.drop_current()
                raise store_error(exc, action, what, self.display) from exc

        if not retry:
            return once()
        return self.retry_policy.call(once, interrupt=self._interrupt, should_retry=_should_retry,
                                      on_retry=lambda n, exc: log.info("try %d failed: %s", n, exc))

    # -- the root ----------------------------------------------------------------------
    def check_root(self) -> None:
        import smbclient

        def run(kw: dict[str, Any]) -> None:
            try:
                st = smbclient.stat(self._unc(""), **kw)
            except Exception as exc:
                if is_missing(exc):
                    raise RootError(f"{self.display}: the folder {self.location.path} does not exist "
                                    "on the share", problem=RootError.MISSING) from None
                raise
            if not st.st_file_attributes & _ATTR_DIRECTORY:
                raise RootError(f"{self.display}: {self.location.path} is not a folder",
                                problem=RootError.NOT_A_FOLDER)
            self._known_dir("")

        self._call("open", "", run)

    def interrupt(self) -> None:
        """Hang up every session, those in use too: their waits end at once."""
        self._interrupt.set()
        self._sessions.close_all(polite=False)

    def resume(self) -> None:
        self._interrupt.clear()

    def close(self) -> None:
        with self._dirs_lock:
            pool, self._list_pool = self._list_pool, None
        if pool is not None:
            self._pools.remove(pool)
            pool.shutdown(wait=True)
        self._sessions.close_all()

    # -- known folders -----------------------------------------------------------------
    def _known_dir(self, rel: str) -> None:
        with self._dirs_lock:
            self._dirs.add(rel)

    def _forget_dirs(self, rel: str) -> None:
        with self._dirs_lock:
            if not rel:
                self._dirs.clear()
                return
            self._dirs = {d for d in self._dirs if d != rel and not d.startswith(rel + "/")}

    # -- listing -----------------------------------------------------------------------
    def scan(self, prefix: str = "", *, dirs: bool = False) -> Iterator[FileInfo]:
        """Every file below ``prefix``: each level's folders listed in parallel."""
        rel0 = clean_relpath(prefix, allow_root=True)
        if rel0:
            top = self.stat(rel0)
            if top is None or top.kind != "dir":
                return
        level = [rel0]
        pool = self._listers()
        while level:
            if pool is None or len(level) == 1:
                results = [self._list_dir(rel) for rel in level]
            else:
                results = list(pool.map(self._list_dir, level))
            nxt: list[str] = []
            for entries in results:
                for info in entries:
                    if info.kind == "dir":
                        nxt.append(info.path)
                        if dirs:
                            yield info
                    else:
                        yield info
            level = nxt

    def _listers(self) -> ThreadPoolExecutor | None:
        """The store's listing threads (kept, with their sessions, until close)."""
        workers = self.options.list_workers
        if workers <= 1:
            return None
        with self._dirs_lock:
            if self._list_pool is None:
                self._list_pool = ThreadPoolExecutor(workers, thread_name_prefix="smb-list")
                self._pools.append(self._list_pool)
            return self._list_pool

    def _list_dir(self, rel: str) -> list[FileInfo]:
        """One folder's entries (a folder gone meanwhile lists as empty)."""
        def run(kw: dict[str, Any]) -> list[FileInfo]:
            try:
                raw = self._query_dir(rel, kw)
            except Exception as exc:
                if is_missing(exc):
                    return []
                raise
            return self._entries(rel, raw)

        out = self._call("list", rel, run)
        self._known_dir(rel)
        return out

    def _query_dir(self, rel: str, kw: dict[str, Any]) -> list[bytes]:
        """The raw FileDirectoryInformation buffers of one folder: one round trip when
        they fit one answer, else the folder is read on until the server has no more."""
        from smbclient._io import SMBDirectoryIO, SMBFileTransaction
        from smbprotocol.exceptions import NoMoreFiles, NoSuchFile
        from smbprotocol.open import QueryDirectoryFlags

        raw = SMBDirectoryIO(self._unc(rel), mode="r", share_access="rwd", **kw)
        conn = raw.fd.connection
        credits = conn.sequence_window["high"] - conn.sequence_window["low"]
        size = max(1, min(LIST_BUFFER >> 16, credits - 3)) << 16
        size = min(size, conn.max_transact_size)
        tx = SMBFileTransaction(raw)
        tx += self._query(raw, QueryDirectoryFlags.SMB2_RESTART_SCANS, size)
        tx.commit()
        first = tx.results[0]
        if len(first) + 1100 < size:  # room for at least one more entry: that was all
            return [first]
        out = []
        with SMBDirectoryIO(self._unc(rel), mode="r", share_access="rwd", **kw) as fd:
            flags = QueryDirectoryFlags.SMB2_RESTART_SCANS
            while True:
                msg, recv = self._query(fd, flags, size)
                try:
                    out.append(recv(conn.send(msg, sid=fd.fd.tree_connect.session.session_id,
                                              tid=fd.fd.tree_connect.tree_connect_id)))
                except (NoMoreFiles, NoSuchFile):
                    break
                flags = 0
        return out

    @staticmethod
    def _query(raw: Any, flags: int, size: int) -> tuple[Any, Callable[[Any], bytes]]:
        from smbprotocol.open import SMB2QueryDirectoryRequest, SMB2QueryDirectoryResponse

        query = SMB2QueryDirectoryRequest()
        query["file_information_class"] = _DIR_INFO_CLASS
        query["flags"] = flags
        query["file_index"] = 0
        query["file_id"] = raw.fd.file_id
        query["output_buffer_length"] = size
        query["buffer"] = "*".encode("utf-16-le")

        def receive(request: Any) -> bytes:
            response = raw.fd.connection.receive(request)
            answer = SMB2QueryDirectoryResponse()
            answer.unpack(response["data"].get_value())
            return answer["buffer"].get_value()

        return query, receive

    def _entries(self, rel: str, buffers: list[bytes]) -> list[FileInfo]:
        base = rel + "/" if rel else ""
        out = []
        for buf in buffers:
            for name, attrs, size, mtime in _parse_dir(buf):
                if name in (".", ".."):
                    continue
                check_listed_name(name, rel, self.display)
                path = base + name
                if attrs & _ATTR_REPARSE:
                    self.skipped_links.append(path)
                elif attrs & _ATTR_DIRECTORY:
                    out.append(FileInfo(path, 0, filetime_ns(mtime), kind="dir"))
                else:
                    out.append(FileInfo(path, size, filetime_ns(mtime)))
        return out

    def stat(self, path: str) -> FileInfo | None:
        import smbclient

        rel = clean_relpath(path)

        def run(kw: dict[str, Any]) -> FileInfo | None:
            try:
                st = smbclient.stat(self._unc(rel), **kw)
            except Exception as exc:
                if is_missing(exc) or _status(exc) == "STATUS_NOT_A_DIRECTORY":
                    return None
                raise
            if st.st_file_attributes & _ATTR_DIRECTORY:
                return FileInfo(rel, 0, st.st_mtime_ns, kind="dir")
            return FileInfo(rel, st.st_size, st.st_mtime_ns)

        return self._call("stat", rel, run)

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    # -- reading -----------------------------------------------------------------------
    def _open_file(self, rel: str, kw: dict[str, Any]) -> Any:
        from smbclient._io import SMBFileIO

        raw = SMBFileIO(self._unc(rel), mode="rb", share_access="rwd", **kw)
        try:
            raw.open()
        except Exception as exc:
            if is_missing(exc):
                raise MissingPathError(f"cannot read {rel}: it no longer exists") from None
            raise
        return raw

    def open_read(self, path: str) -> BinaryIO:
        rel = clean_relpath(path)
        return self._call("read", rel, lambda kw: _Reader(self, self._open_file(rel, kw), rel))

    def read_bytes(self, path: str) -> bytes:
        """One round trip for a small file (CREATE + READ + CLOSE in one compound); a
        file that fills the answer is read on from a streamed open."""
        from smbclient._io import SMBFileIO, SMBFileTransaction

        rel = clean_relpath(path)

        def run(kw: dict[str, Any]) -> bytes:
            raw = SMBFileIO(self._unc(rel), mode="rb", share_access="rwd", **kw)
            conn = raw.fd.connection
            credits = conn.sequence_window["high"] - conn.sequence_window["low"]
            size = min(SMALL_WRITE, conn.max_read_size, max(1, credits - 2) << 16)
            tx = SMBFileTransaction(raw)
            raw.open(transaction=tx)
            tx += raw.fd.read(0, size, send=False)
            raw.close(transaction=tx)
            try:
                tx.commit()
            except Exception as exc:
                if _created(raw) and not raw.closed:
                    _close_quietly(raw)
                if _status(exc) == "STATUS_END_OF_FILE" and _created(raw):
                    return b""  # an empty file: the read found its end at once
                if is_missing(exc):
                    raise MissingPathError(f"cannot read {rel}: it no longer exists") from None
                raise
            data = tx.results[1]
            if len(data) < size:
                return data
            whole = self._open_file(rel, kw)
            try:
                return whole.readall()
            finally:
                _close_quietly(whole)

        return self._call("read", rel, run)

    # -- writing -----------------------------------------------------------------------
    def _tmp_for(self, rel: str) -> str:
        directory, name = posixpath.split(rel)
        tmp = temp_name(name, f"{self._tmp_tag}{next(self._tmp_seq):04x}")
        return f"{directory}/{tmp}" if directory else tmp

    def _open_new(self, rel: str, kw: dict[str, Any]) -> Any:
        """A new file at ``rel`` open for writing (and renaming): its folders made if
        missing."""
        from smbclient._io import SMBFileIO
        from smbprotocol.open import FilePipePrinterAccessMask as A

        access = A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES | A.FILE_READ_ATTRIBUTES | A.DELETE
        raw = SMBFileIO(self._unc(rel), mode="xb", share_access="rwd", desired_access=access, **kw)
        try:
            raw.open()
        except Exception as exc:
            if not is_missing(exc):
                raise
            self._forget_chain(rel)
            self._mkdirs(posixpath.dirname(rel), kw)
            raw = SMBFileIO(self._unc(rel), mode="xb", share_access="rwd", desired_access=access, **kw)
            raw.open()
        return raw

    def _publish(self, raw: Any, final: str, *, mtime_ns: int | None, replace: bool) -> tuple[int, int]:
        """Set the mtime, rename the open file to ``final`` and close it: one round trip.
        Returns the (size, mtime) the server reports for it."""
        from smbclient._io import SMBFileTransaction

        tx = SMBFileTransaction(raw)
        # set an mtime even when none is given: else the server moves it on at the close
        self._queue_publish(tx, raw, final, time.time_ns() if mtime_ns is None else mtime_ns, replace)
        try:
            tx.commit()
        finally:
            if not raw.closed:
                _close_quietly(raw)
        return _published(tx)

    def _queue_publish(self, tx: Any, raw: Any, final: str, mtime_ns: int, replace: bool) -> None:
        """Queue on ``tx``: SET_INFO (mtime), SET_INFO (rename to ``final``), two
        QUERY_INFOs (what the server now holds) and CLOSE; ``_published`` reads them."""
        from smbclient._io import query_info, set_info
        from smbprotocol.file_info import (
            FileBasicInformation,
            FileRenameInformation,
            FileStandardInformation,
        )

        basic = FileBasicInformation()
        basic["creation_time"] = 0
        basic["last_access_time"] = 0
        basic["last_write_time"] = ns_filetime(mtime_ns)
        basic["change_time"] = 0
        basic["file_attributes"] = 0
        set_info(tx, basic)
        rename = FileRenameInformation()
        rename["replace_if_exists"] = replace
        rename["file_name"] = self._share_path(final).encode("utf-16-le")
        set_info(tx, rename)
        query_info(tx, FileBasicInformation)
        query_info(tx, FileStandardInformation)
        raw.close(transaction=tx)

    def _write_small(self, rel: str, data: bytes, mtime_ns: int | None, replace: bool,
                     kw: dict[str, Any]) -> tuple[int, int]:
        """A whole small file in ONE round trip: a related compound of CREATE (the temp),
        WRITE, SET_INFO (mtime), SET_INFO (rename over ``rel``), two QUERY_INFOs and
        CLOSE.  A missing folder fails the CREATE (and so all): folders made, sent again."""
        from smbclient._io import SMBFileIO, SMBFileTransaction
        from smbprotocol.open import FilePipePrinterAccessMask as A

        access = A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES | A.FILE_READ_ATTRIBUTES | A.DELETE
        stamp = time.time_ns() if mtime_ns is None else mtime_ns  # else the close moves it on
        for attempt in (1, 2):
            tmp = self._tmp_for(rel)
            raw = SMBFileIO(self._unc(tmp), mode="xb", share_access="rwd", desired_access=access, **kw)
            tx = SMBFileTransaction(raw)
            raw.open(transaction=tx)
            if data:
                tx += raw.fd.write(bytes(data), offset=0, send=False)
            self._queue_publish(tx, raw, rel, stamp, replace)
            try:
                tx.commit()
            except Exception as exc:
                made = _created(raw)
                if made and not raw.closed:
                    _close_quietly(raw)
                if not made and attempt == 1 and is_missing(exc):
                    self._forget_chain(rel)
                    self._mkdirs(posixpath.dirname(rel), kw)
                    continue
                if made:
                    self._discard(raw, tmp, kw)
                raise
            return _published(tx)
        raise AssertionError("unreachable")

    def _forget_chain(self, rel: str) -> None:
        parent = posixpath.dirname(rel)
        with self._dirs_lock:  # what we knew of this chain of folders is out of date
            while parent:
                self._dirs.discard(parent)
                parent = posixpath.dirname(parent)

    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        rel = clean_relpath(path)
        check_written_path(rel)
        whole = isinstance(data, (bytes, bytearray, memoryview))
        if whole and len(data) <= SMALL_WRITE and (size is None or size == len(data)):
            def small(kw: dict[str, Any]) -> FileInfo:
                got, mtime = self._write_small(rel, data, mtime_ns, True, kw)
                return FileInfo(rel, got, mtime)

            return self._call("write", rel, small)
        if whole and size is not None and len(data) != size:
            raise size_mismatch(rel, len(data), size)

        def run(kw: dict[str, Any]) -> FileInfo:
            tmp = self._tmp_for(rel)
            raw = self._open_new(tmp, kw)
            published = False
            try:
                pipe = _WritePipe(raw)
                for block in iter_chunks(data):
                    pipe.write(block)
                    if size is not None and pipe.offset > size:
                        break
                pipe.drain()
                if size is not None and pipe.offset != size:
                    raise size_mismatch(rel, pipe.offset, size)
                got, mtime = self._publish(raw, rel, mtime_ns=mtime_ns, replace=True)
                published = True
                return FileInfo(rel, got, mtime)
            finally:
                if not published:
                    self._discard(raw, tmp, kw)

        # bytes can be sent again (a new temp each time); a stream only once (the engine retries)
        return self._call("write", rel, run, retry=whole)

    def _discard(self, raw: Any, tmp: str, kw: dict[str, Any]) -> None:
        """Remove a temp whose write failed (best effort: a dead connection leaves it)."""
        if not raw.closed:
            _close_quietly(raw)
        if not self._sessions.usable(kw):
            return  # the connection is gone (the retry dials afresh); the next sync sweeps it
        try:
            import smbclient

            smbclient.remove(self._unc(tmp), **kw)
        except Exception:  # noqa: BLE001 - best effort, the next sync sweeps temps
            pass

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """CREATE the file itself with FILE_CREATE (the server's O_EXCL), then WRITE and
        CLOSE, in one compound: exactly one of two racing clients wins.

        Not a temp renamed without replace: Samba checks that the name is free and then
        renames, two steps another client's rename fits between (a racing pair both
        "won" in 3 of 50 rounds, tests/sync/test_locks.py).  A reader that comes between
        the CREATE and the WRITE finds the file empty, which a lock's reader takes as
        held."""
        from smbclient._io import SMBFileIO, SMBFileTransaction
        from smbprotocol.open import FilePipePrinterAccessMask as A

        rel = clean_relpath(path)
        check_written_path(rel)

        def run(kw: dict[str, Any]) -> bool:
            for attempt in (1, 2):
                raw = SMBFileIO(self._unc(rel), mode="xb", share_access="rwd",
                                desired_access=A.FILE_WRITE_DATA | A.DELETE, **kw)
                tx = SMBFileTransaction(raw)
                raw.open(transaction=tx)
                if data:
                    tx += raw.fd.write(bytes(data), offset=0, send=False)
                raw.close(transaction=tx)
                try:
                    tx.commit()
                except Exception as exc:
                    if is_collision(exc):
                        return False
                    made = _created(raw)
                    if not made and attempt == 1 and is_missing(exc):
                        self._forget_chain(rel)
                        self._mkdirs(posixpath.dirname(rel), kw)
                        continue
                    if made:  # created, not written: never leave an empty lock behind
                        self._discard(raw, rel, kw)
                    raise
                return True
            raise AssertionError("unreachable")

        return self._call("create", rel, run, retry=False)

    def _mkdirs(self, rel: str, kw: dict[str, Any]) -> None:
        import smbclient

        with self._dirs_lock:
            root_known = "" in self._dirs
        if not root_known:  # a new target: its root inside the share is made first
            self._make_root(kw)
        if not rel:
            return
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            with self._dirs_lock:
                if sub in self._dirs:
                    continue
            try:
                smbclient.mkdir(self._unc(sub), **kw)
            except Exception as exc:
                if not is_collision(exc):
                    raise
                if not smbclient.stat(self._unc(sub), **kw).st_file_attributes & _ATTR_DIRECTORY:
                    raise StoreError(f"cannot create folder {sub}: a file is in the way") from None
            self._known_dir(sub)

    def _make_root(self, kw: dict[str, Any]) -> None:
        import smbclient

        parts = [p for p in self.settings.root.split("/") if p]
        for i in range(1, len(parts) + 1):
            unc = "\\".join(["", "", self.settings.host, self.settings.share, *parts[:i]])
            try:
                smbclient.mkdir(unc, **kw)
            except Exception as exc:
                if not is_collision(exc):
                    raise
        self._known_dir("")

    def makedirs(self, path: str) -> None:
        rel = clean_relpath(path, allow_root=True)
        check_written_path(rel) if rel else None
        self._call("create folder", rel, lambda kw: self._mkdirs(rel, kw))

    def remove(self, path: str) -> None:
        import smbclient

        rel = clean_relpath(path)

        def run(kw: dict[str, Any]) -> None:
            try:
                smbclient.remove(self._unc(rel), **kw)
            except Exception as exc:
                if not is_missing(exc):
                    raise

        self._call("remove", rel, run)

    def remove_tree(self, path: str) -> None:
        import smbclient

        rel = clean_relpath(path)
        top = self.stat(rel)
        if top is None:
            return
        self._forget_dirs(rel)
        if top.kind == "file":
            self.remove(rel)
            return
        entries = list(self.scan(rel, dirs=True))
        for info in entries:
            if info.kind == "file":
                self.remove(info.path)
        folders = [rel] + [i.path for i in entries if i.kind == "dir"]
        for folder in sorted(folders, key=lambda p: p.count("/"), reverse=True):
            def run(kw: dict[str, Any], folder: str = folder) -> None:
                try:
                    smbclient.rmdir(self._unc(folder), **kw)
                except Exception as exc:
                    if not is_missing(exc):
                        raise

            self._call("remove", folder, run)
        self._forget_dirs(rel)

    def rename(self, src: str, dst: str) -> None:
        from smbclient._io import SMBFileTransaction, SMBRawIO, set_info
        from smbprotocol.file_info import FileRenameInformation
        from smbprotocol.open import CreateOptions
        from smbprotocol.open import FilePipePrinterAccessMask as A

        rel_src, rel_dst = clean_relpath(src), clean_relpath(dst)
        check_written_path(rel_dst)

        def run(kw: dict[str, Any]) -> None:
            self._mkdirs(posixpath.dirname(rel_dst), kw)
            raw = SMBRawIO(self._unc(rel_src), mode="r", share_access="rwd",
                           desired_access=A.DELETE | A.FILE_READ_ATTRIBUTES,
                           create_options=CreateOptions.FILE_OPEN_REPARSE_POINT, **kw)
            with SMBFileTransaction(raw) as tx:
                info = FileRenameInformation()
                info["replace_if_exists"] = True
                info["file_name"] = self._share_path(rel_dst).encode("utf-16-le")
                set_info(tx, info)
            self._forget_dirs(rel_src)

        try:
            self._call("rename", f"{rel_src} to {rel_dst}", run, retry=False)
        except MissingPathError:
            raise MissingPathError(f"cannot rename {rel_src}: it does not exist") from None


class _Reader(io.RawIOBase):
    """A streamed read of one open file: errors come out as StoreErrors."""

    def __init__(self, store: SMBStore, raw: Any, rel: str) -> None:
        super().__init__()
        self._store = store
        self._raw = raw
        self._rel = rel

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            return self._raw.readinto(b)
        except Exception as exc:  # noqa: BLE001
            if is_lost(exc):
                self._store._sessions.drop_current()
            raise store_error(exc, "read", self._rel, self._store.display) from exc

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        buf = bytearray(size)
        n = self.readinto(buf)
        return bytes(buf[:n])

    def readall(self) -> bytes:
        chunks = []
        while True:
            block = self.read(1 << 20)
            if not block:
                return b"".join(chunks)
            chunks.append(block)

    def close(self) -> None:
        if not self.closed:
            _close_quietly(self._raw)
        super().close()


def _release(sessions: Sessions, pools: list[ThreadPoolExecutor]) -> None:
    for pool in pools:
        pool.shutdown(wait=False)
    sessions.close_all(polite=False)


def _created(raw: Any) -> bool:
    """Whether the CREATE of a failed compound made the file (its handle got an id)."""
    return raw.fd.file_id != raw.fd._RELATED_COMPOUND_FILE_ID


class _WritePipe:
    """Streamed WRITEs with several in flight (a round trip each would cap a big file at
    one block per round trip): sent as credits allow, answers collected oldest first."""

    DEPTH = 8

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.offset = 0
        self.pending: list[tuple[Any, Callable[[Any], int], int]] = []

    def write(self, block: bytes) -> None:
        from smbclient._io import _chunk_size

        fd = self.raw.fd
        conn = fd.connection
        view = memoryview(block)
        while view:
            while self.pending and (len(self.pending) >= self.DEPTH or _credits(conn) < 2):
                self._collect()
            piece, credit_request = _chunk_size(conn, len(view), "write")
            if piece <= 0:
                self._collect()
                continue
            msg, recv = fd.write(bytes(view[:piece]), offset=self.offset, send=False)
            request = conn.send(msg, sid=fd.tree_connect.session.session_id,
                                tid=fd.tree_connect.tree_connect_id,
                                credit_request=max(credit_request, 16))
            self.pending.append((request, recv, piece))
            self.offset += piece
            view = view[piece:]

    def _collect(self) -> None:
        request, recv, piece = self.pending.pop(0)
        if recv(request) != piece:
            raise StoreError(f"cannot write {self.raw.name}: the server took part of a block")

    def drain(self) -> None:
        while self.pending:
            self._collect()
        self.raw.fd.end_of_file = max(self.raw.fd.end_of_file, self.offset)


def _credits(conn: Any) -> int:
    return conn.sequence_window["high"] - conn.sequence_window["low"]


def _published(tx: Any) -> tuple[int, int]:
    """The (size, mtime) the server reported for a file ``_queue_publish`` renamed."""
    basic, standard = tx.results[-3], tx.results[-2]
    return standard["end_of_file"].get_value(), filetime_ns(basic["last_write_time"].get_value())


def _close_quietly(raw: Any) -> None:
    try:
        raw.close()
    except Exception:  # noqa: BLE001 - a dead connection closes its handles itself
        pass


def _parse_dir(buf: bytes) -> Iterator[tuple[str, int, int, int]]:
    """(name, attributes, size, last write FILETIME) of each FileDirectoryInformation entry."""
    off = 0
    n = len(buf)
    while off < n:
        nxt, _idx, _c, _a, mtime, _ch, eof, _alloc, attrs, name_len = _DIR_ENTRY.unpack_from(buf, off)
        start = off + _DIR_ENTRY.size
        name = buf[start:start + name_len].decode("utf-16-le", "surrogatepass")
        yield name, attrs, eof, mtime
        if not nxt:
            return
        off += nxt


def _status(exc: BaseException) -> str | None:
    from synctui.storage.smb_connect import status_of

    return status_of(exc)


def _from_smb(exc: BaseException) -> bool:
    """An error of the SMB client or the network (not a bug of ours)."""
    module = type(exc).__module__
    return isinstance(exc, OSError) or module.startswith(("smbprotocol", "smbclient", "spnego"))


def _should_retry(exc: BaseException) -> bool:
    """A dropped connection, or a server that could not be reached: a fresh session may
    do it; never the server's answer about a file, a login refused or a cancel."""
    from synctui.storage.smb_connect import NetworkDown

    return isinstance(exc, (SMBConnectionLost, NetworkDown)) and exc.transient and not exc.retried
