"""A project root on this machine's filesystem.

Writes go to a hidden temp file in the same folder, are fsynced, get the source's
mtime and are renamed into place, so a final path never shows a partial file.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import stat as stat_mod
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from synctui.errors import MissingPathError, PathEscapeError, RootError, StoreError
from synctui.storage.base import (
    BaseStore,
    FileInfo,
    Store,
    StoreFeatures,
    clean_relpath,
    iter_chunks,
    size_mismatch,
    temp_name,
)
from synctui.storage.bundle import FileBundle
from synctui.storage.local_scan import scan_with_find
from synctui.storage.options import LocalOptions
from synctui.storage.url import Location

_TRANSIENT = {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT}


def os_error(exc: OSError, action: str, path: str) -> StoreError:
    """Turn an OSError into a one-line StoreError a user can act on."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif exc.errno == errno.EROFS:
        reason = "read-only file system"
    return StoreError(f"cannot {action} {path}: {reason}", transient=exc.errno in _TRANSIENT)


class LocalStore(BaseStore):
    """Store on a local path.  ``fsync`` makes each write durable before rename."""

    #: reads gain nothing from a batch (the default loop); writes share one syncfs
    features = StoreFeatures(set_mtime=True, batch_write=True, server_copy=True, exclusive_create=True,
                             bundled_scan=True)

    def __init__(self, location: Location | str, *, fsync: bool | None = None,
                 listing: str | None = None) -> None:
        if isinstance(location, str):
            location = Location("local", os.path.abspath(location), original=location)
        self.location = location
        self.options = LocalOptions.build(location.fs_args, fsync=fsync, listing=listing)
        self.root = location.path
        self.real_root = os.path.realpath(self.root)
        self.fsync = self.options.fsync
        self._safe_dirs: set[str] = set()
        self._made_dirs: set[str] = set()  # folders known to exist: no mkdir per file
        self.skipped_links: list[str] = []
        self.last_listing: str | None = None  # "find" or "scandir": how the last scan listed

    def __repr__(self) -> str:
        return f"LocalStore({self.root!r})"

    # -- paths ---------------------------------------------------------------
    def _abs(self, path: str, *, allow_root: bool = False, replace: bool = False) -> str:
        """The full path, refused if it leads outside the root through a symlink.

        ``replace``: the path is only ever replaced by a rename, which swaps a symlink
        itself and never follows it, so the final component needs no check.
        """
        rel = clean_relpath(path, allow_root=allow_root)
        full = os.path.join(self.root, rel) if rel else self.root
        self._confine(os.path.dirname(full) if rel else full, rel)
        if rel and not replace and os.path.islink(full):
            self._check_real(os.path.realpath(full), rel)
        return full

    def _confine(self, directory: str, rel: str) -> None:
        """Refuse a path whose existing folders resolve (via symlinks) outside the root."""
        if directory in self._safe_dirs:
            return
        probe = directory
        while not os.path.lexists(probe) and len(probe) > len(self.root):
            probe = os.path.dirname(probe)
        if probe not in self._safe_dirs:  # folders we made, or checked, need no realpath
            self._check_real(os.path.realpath(probe), rel)
            self._safe_dirs.add(probe)  # checked: the next new folder below it costs no realpath

    def _made(self, directory: str) -> None:
        """``directory`` exists now, made by makedirs below a checked folder: it is safe."""
        self._made_dirs.add(directory)
        self._safe_dirs.add(directory)

    def _check_real(self, real: str, rel: str) -> None:
        if real != self.real_root and not real.startswith(self.real_root + os.sep):
            raise PathEscapeError(f"path {rel!r} leads outside the project root through a symlink")

    def check_root(self) -> None:
        if not os.path.isdir(self.root):
            if os.path.lexists(self.root):
                raise RootError(f"project root {self.root} is not a folder", problem=RootError.NOT_A_FOLDER)
            raise RootError(f"project root {self.root} does not exist", problem=RootError.MISSING)
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise RootError(f"project root {self.root} cannot be read: permission denied",
                            problem=RootError.UNREADABLE)

    # -- listing -------------------------------------------------------------
    def scan(self, prefix: str = "", *, dirs: bool = False) -> Iterator[FileInfo]:
        """Every file below ``prefix`` (relative paths): one GNU find process where it
        lists the tree whole (storage/local_scan.py), else an os.scandir walk.

        Symlinks are followed only when they stay inside the root; others are
        skipped and remembered in ``skipped_links``.
        """
        return self._scan(prefix, dirs, None)  # type: ignore[return-value]

    def scan_bundled(self, suffix: str) -> Iterator[FileInfo | FileBundle]:
        """``scan(dirs=True)``, with find's records below each ``suffix`` folder as a
        FileBundle (the scandir walk bundles nothing)."""
        return self._scan("", True, suffix)

    def _scan(self, prefix: str, dirs: bool, bundle: str | None) -> Iterator[FileInfo | FileBundle]:
        rel0 = clean_relpath(prefix, allow_root=True)
        start = os.path.join(self.root, rel0) if rel0 else self.root
        if not os.path.isdir(start):
            return
        if self.options.listing == "find" or (self.options.listing == "auto" and _worth_find(start)):
            links: list[str] = []
            found = scan_with_find(start, rel0, self.real_root, dirs=dirs, skipped_links=links,
                                   walk=lambda full, rel: self._walk(full, rel, dirs), bundle=bundle)
            if found is not None:
                self.last_listing = "find"
                self.skipped_links.extend(links)
                yield from found
                return
            if self.options.listing == "find":
                raise StoreError(f"cannot list {self.root} with GNU find (listing=find)")
        self.last_listing = "scandir"
        yield from self._walk(start, rel0, dirs)

    def _walk(self, start: str, rel0: str, dirs: bool) -> Iterator[FileInfo]:
        """The os.scandir walk, depth first."""
        stack = [(start, rel0)]
        while stack:
            full, rel = stack.pop()
            try:
                it = os.scandir(full)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise os_error(exc, "list", rel or self.root) from exc
            subdirs = []
            with it:
                for entry in it:
                    erel = f"{rel}/{entry.name}" if rel else entry.name
                    try:
                        if entry.is_symlink():
                            real = os.path.realpath(entry.path)
                            if real != self.real_root and not real.startswith(self.real_root + os.sep):
                                self.skipped_links.append(erel)
                                continue
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    except OSError as exc:  # a symlink loop, EIO ...: the listing is not whole
                        raise os_error(exc, "list", erel) from exc
                    if stat_mod.S_ISDIR(st.st_mode):
                        subdirs.append((entry.path, erel))
                        if dirs:
                            yield FileInfo(erel, 0, st.st_mtime_ns, kind="dir")
                    elif stat_mod.S_ISREG(st.st_mode):
                        yield FileInfo(erel, st.st_size, st.st_mtime_ns)
            stack.extend(reversed(subdirs))

    def stat(self, path: str) -> FileInfo | None:
        full = self._abs(path)
        try:
            st = os.stat(full)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise os_error(exc, "stat", path) from exc
        kind = "dir" if stat_mod.S_ISDIR(st.st_mode) else "file"
        return FileInfo(clean_relpath(path), st.st_size if kind == "file" else 0, st.st_mtime_ns, kind=kind)

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._abs(path))

    # -- reading -------------------------------------------------------------
    def open_read(self, path: str) -> BinaryIO:
        try:
            return open(self._abs(path), "rb")
        except FileNotFoundError:
            raise MissingPathError(f"cannot read {path}: it no longer exists") from None
        except OSError as exc:
            raise os_error(exc, "read", path) from exc

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as fh:
            return fh.read()

    # -- writing -------------------------------------------------------------
    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        """Temp file in the same folder, renamed into place.  With ``size``, a body
        of another length is refused (StoreError) and the final path left alone."""
        full = self._abs(path, replace=True)
        directory, name = os.path.split(full)
        tmp = _temp_path(directory, name)
        try:
            if directory not in self._made_dirs:
                os.makedirs(directory, exist_ok=True)
                self._made(directory)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb", buffering=0) as fh:
                    written = 0
                    for block in iter_chunks(data):
                        fh.write(block)
                        written += len(block)
                    if size is not None and written != size:
                        raise size_mismatch(clean_relpath(path), written, size)
                    if self.fsync:
                        os.fsync(fh.fileno())
                if mtime_ns is not None:
                    os.utime(tmp, ns=(mtime_ns, mtime_ns))
                os.replace(tmp, full)
            except BaseException:
                _silent_unlink(tmp)
                raise
            st = os.stat(full)
        except OSError as exc:
            self._made_dirs.discard(directory)
            raise os_error(exc, "write", path) from exc
        return FileInfo(clean_relpath(path), st.st_size, st.st_mtime_ns)

    def copy_from(self, source: Store, src_path: str, path: str, *,
                  mtime_ns: int | None = None) -> FileInfo | None:
        """Local to local: let the kernel copy (copy_file_range), then rename into place.

        Returns None when ``source`` is not local, so the caller streams instead.
        """
        if not isinstance(source, LocalStore):
            return None
        src_full = source._abs(src_path)
        full = self._abs(path, replace=True)
        directory, name = os.path.split(full)
        tmp = _temp_path(directory, name)
        try:
            src_fd = os.open(src_full, os.O_RDONLY)
        except FileNotFoundError:
            raise MissingPathError(f"cannot read {src_path}: it no longer exists") from None
        except OSError as exc:
            raise os_error(exc, "read", src_path) from exc
        try:
            size = os.fstat(src_fd).st_size
            if directory not in self._made_dirs:
                os.makedirs(directory, exist_ok=True)
                self._made(directory)
            dst_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                try:
                    _kernel_copy(src_fd, dst_fd, size)
                    if self.fsync:
                        os.fsync(dst_fd)
                    if mtime_ns is not None:
                        os.utime(dst_fd, ns=(mtime_ns, mtime_ns))
                    st = os.fstat(dst_fd)
                finally:
                    os.close(dst_fd)
                os.replace(tmp, full)
            except BaseException:
                _silent_unlink(tmp)
                raise
        except OSError as exc:
            self._made_dirs.discard(directory)
            raise os_error(exc, "copy", path) from exc
        finally:
            os.close(src_fd)
        return FileInfo(clean_relpath(path), st.st_size, st.st_mtime_ns)

    def write_many(self, items: Iterable[tuple[str, bytes, int | None]]) -> list[FileInfo | StoreError]:
        """Write many small files, each atomically, with one filesystem flush for all.

        Every file goes to a temp name first; then, with fsync on, one ``syncfs`` makes
        them all durable (instead of an fsync per file, which costs a journal commit
        each); then each is renamed into place.  Returns, in order, the FileInfo or the
        StoreError of each file: one failure never stops the others.
        """
        out: list[FileInfo | StoreError | None] = []
        staged: list[tuple[int, str, str, str]] = []
        for path, data, mtime_ns in items:
            out.append(None)
            tmp = directory = ""
            try:
                full = self._abs(path, replace=True)
                directory, name = os.path.split(full)
                if directory not in self._made_dirs:
                    os.makedirs(directory, exist_ok=True)
                    self._made(directory)
                tmp = _temp_path(directory, name)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    if mtime_ns is not None:
                        os.utime(fd, ns=(mtime_ns, mtime_ns))
                finally:
                    os.close(fd)
                staged.append((len(out) - 1, tmp, full, path))
            except OSError as exc:
                if tmp:
                    _silent_unlink(tmp)
                self._made_dirs.discard(directory)
                out[-1] = os_error(exc, "write", path)
            except StoreError as exc:
                out[-1] = exc
            except PathEscapeError as exc:
                out[-1] = StoreError(str(exc))
        if staged and self.fsync:
            _flush_all([tmp for _, tmp, _, _ in staged])
        for i, tmp, full, path in staged:
            try:
                os.replace(tmp, full)
                st = os.stat(full)
                out[i] = FileInfo(clean_relpath(path), st.st_size, st.st_mtime_ns)
            except OSError as exc:
                _silent_unlink(tmp)
                out[i] = os_error(exc, "write", path)
        return [r if r is not None else StoreError("not written") for r in out]

    def makedirs(self, path: str) -> None:
        try:
            os.makedirs(self._abs(path), exist_ok=True)
        except OSError as exc:
            raise os_error(exc, "create folder", path) from exc

    def remove(self, path: str) -> None:
        try:
            os.unlink(self._abs(path))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise os_error(exc, "remove", path) from exc

    def _forget_dirs(self, full: str) -> None:
        """Folders at or under ``full`` are gone or moved: the next write makes them again."""
        pre = full + os.sep
        # copies first (one C call each): writers on other threads may be adding to them
        self._made_dirs = {d for d in set(self._made_dirs) if d != full and not d.startswith(pre)}
        self._safe_dirs = {d for d in set(self._safe_dirs) if d != full and not d.startswith(pre)}

    def remove_tree(self, path: str) -> None:
        full = self._abs(path)
        self._forget_dirs(full)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            elif os.path.lexists(full):
                os.unlink(full)
        except OSError as exc:
            raise os_error(exc, "remove", path) from exc

    def rename(self, src: str, dst: str) -> None:
        full_dst = self._abs(dst)
        try:
            os.makedirs(os.path.dirname(full_dst), exist_ok=True)
            full_src = self._abs(src)
            self._forget_dirs(full_src)
            os.replace(full_src, full_dst)
        except OSError as exc:
            raise os_error(exc, "rename", f"{src} to {dst}") from exc

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create ``path`` with ``data`` only if it does not exist; False if it does.

        The content is written to a temp file first and hard-linked into place, so
        whoever wins the race publishes a complete file in one atomic step.
        """
        full = self._abs(path)
        directory, name = os.path.split(full)
        tmp = _temp_path(directory, name)
        try:
            os.makedirs(directory, exist_ok=True)
            with open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, full)
            except FileExistsError:
                return False
            except OSError as exc:  # filesystems without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                try:
                    fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            return True
        except OSError as exc:
            raise os_error(exc, "create", path) from exc
        finally:
            _silent_unlink(tmp)

    def interrupt(self) -> None:
        """Local file operations end on their own: nothing to break off."""

    def resume(self) -> None:
        pass

    def close(self) -> None:
        pass


#: below this many runs a tree lists faster in-process than a find process starts
FIND_MIN_RUNS = 4


def _worth_find(start: str) -> bool:
    """A project big enough that find's own core beats its start-up (a few ms)?"""
    try:
        with os.scandir(os.path.join(start, "ExperimentRuns")) as it:
            for n, _ in enumerate(it, 1):
                if n >= FIND_MIN_RUNS:
                    return True
    except OSError:
        pass
    return False


def _kernel_copy(src_fd: int, dst_fd: int, size: int) -> None:
    """copy_file_range (no bytes through Python); plain reads where the kernel refuses."""
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src_fd, dst_fd, size - done)
            if n == 0:
                break
            done += n
        if done >= size:
            return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    os.lseek(src_fd, done, os.SEEK_SET)
    while block := os.read(src_fd, 1 << 20):
        view = memoryview(block)
        while view:
            n = os.write(dst_fd, view)  # may write less than asked (a full disk): go on until it raises
            view = view[n:]
            done += n
    if done != size:
        raise OSError(errno.EIO, f"copied {done} of {size} bytes (the source changed while copying?)")


def _flush_all(paths: list[str]) -> None:
    """Make the data of ``paths`` durable: one syncfs (Linux) or an fsync each."""
    syncfs = _syncfs()
    if syncfs is not None:
        try:
            fd = os.open(paths[0], os.O_RDONLY)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                if syncfs(fd) == 0:
                    return
            finally:
                os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _syncfs():
    """libc's syncfs, or None where there is none."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    fn = getattr(libc, "syncfs", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int]
        fn.restype = ctypes.c_int
    return fn


def _temp_path(directory: str, name: str) -> str:
    """Where a write of ``name`` goes before its rename: same folder, unique, ours."""
    return os.path.join(directory, temp_name(name, uuid.uuid4().hex[:12]))


def _silent_unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
