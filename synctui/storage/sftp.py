"""A project root on an SSH server, over SFTP (paramiko), at close to rsync speed.

What makes it fast (DESIGN.md §6: round trips dominate):

* **Listing** a whole root is one remote ``find -printf`` over an exec channel,
  parsed as it streams (NUL-separated, so any file name is safe).  Servers without
  a POSIX shell or GNU find get a pipelined SFTP walk (every folder of a level read
  at once); ``listing="sftp"`` forces it.  Small prefix scans (a lock folder, one
  entity) use the SFTP walk too: cheaper than starting a login shell.
* **Writes** go to ``.synctui-tmp-<name>.<tag><n>`` in the target folder with
  pipelined SFTP requests (open | writes + mtime + close in one send | posix-rename:
  three round trips whatever the size), so a final path never shows a partial
  file.  Parent folders are created with pipelined ``mkdir``s and remembered.
* **Reads** pipeline a stat and the first read behind the open (two round trips
  for a small file); big files stream with a bounded read-ahead window.
* **Batches**: :meth:`SFTPStore.write_many` streams many small files through one
  ``tar -x`` exec channel into temp names, then renames them with pipelined SFTP
  requests (or pipelines SFTP opens/writes/renames without a shell);
  :meth:`SFTPStore.read_many` reads them with one ``tar -c`` stream.
* **Connections**: every concurrent caller (engine worker) gets its own transport
  from a pool; a dropped connection raises a transient StoreError: an idempotent
  call is retried on a fresh connection by the store's policy (``storage/retry.py``),
  any other by the engine, never both.  Temp files a dropped connection left are removed on the next call.

SFTP v3 carries whole-second mtimes: ``mtime_resolution_ns`` says so, so the
planner's quick check tolerates it.  Symbolic links inside the root are skipped
by listings (``skipped_links``), as the SFTP walk and ``find -P`` see them.
"""

from __future__ import annotations

import io
import itertools
import logging
import posixpath
import shlex
import stat as stat_mod
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, TypeVar

from synctui.errors import MissingPathError, RootError, StoreError
from synctui.storage import ssh_tar
from synctui.storage.base import (
    BaseStore,
    FileInfo,
    StoreFeatures,
    clean_relpath,
    iter_chunks,
    size_mismatch,
    temp_name,
)
from synctui.storage.options import SSH_LISTING_MODES, SFTPOptions
from synctui.storage.retry import RetryPolicy
from synctui.storage.ssh_connect import Connector, Prompter, settings_for_location
from synctui.storage.ssh_pool import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_LSTAT,
    CMD_MKDIR,
    CMD_NAME,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_REMOVE,
    CMD_RENAME,
    CMD_RMDIR,
    CMD_STAT,
    CMD_STATUS,
    CMD_WRITE,
    FLAG_CREATE,
    FLAG_EXCL,
    FLAG_READ,
    FLAG_WRITE,
    FX_EOF,
    FX_NO_SUCH_FILE,
    FX_OP_UNSUPPORTED,
    Conn,
    ConnectionLost,
    ConnectionStalled,
    ConnPool,
    Pipe,
    Quiet,
    SFTPStatus,
    attrs_with_mtime,
    drain_stderr,
    empty_attrs,
    exit_status,
    int64,
    open_exec,
    run_exec,
)
from synctui.storage.ssh_tar import NoShell, tar_create, tar_extract
from synctui.storage.url import Location

log = logging.getLogger("synctui.sftp")

T = TypeVar("T")

FIND_MARK = b"SYNCTUI-FIND\0"
SH_MARK = b"SYNCTUI-SH\n"
NO_FIND = 97  # exit status of the listing script when find has no -printf
#: prints FIND_MARK when the shell has a find with -printf (tests replace it to force the fallback)
FIND_PROBE = "find / -maxdepth 0 -printf 'SYNCTUI-FIND\\0'"
RUNS_DIR = "ExperimentRuns"  # its run folders are the subtrees a full listing may skip
WRITE_WINDOW = 64  # outstanding write requests per file (x 255 KiB on OpenSSH)
READ_WINDOW = 32  # outstanding read requests of a streaming reader
BATCH = 64  # files per pipelined batch (OpenSSH allows 512 open handles)
TAR_MIN_FILES = 16  # "auto" batches of fewer files go over SFTP
TAR_MAX_FILES = 4000  # files per tar stream
TAR_MAX_BYTES = 256 << 20  # bytes per tar stream
LISTING_MODES = SSH_LISTING_MODES


class _NoFind(Exception):
    """The server has no POSIX shell with a find that knows -printf."""


class SFTPStore(BaseStore):
    """Store on ``ssh://[user@]host[:port]/abs/path`` (or ``ssh:///path`` + fs_args).

    Options (keyword or in fs_args): ``prompt`` (callback, see
    :class:`~synctui.storage.ssh_connect.PromptRequest`), ``listing`` ("auto", "find"
    or "sftp"), ``max_idle`` connections kept open, ``fsync`` (ask the server to
    fsync each file before the rename; off by default, like rsync).
    """

    #: batches pay whether tar is there (one stream) or not (pipelined SFTP requests)
    features = StoreFeatures(set_mtime=True, mtime_resolution_ns=1_000_000_000,
                             batch_read=True, batch_write=True, exclusive_create=True)

    def __init__(self, location: Location | str, *, prompt: Prompter | None = None,
                 listing: str | None = None, max_idle: int | None = None,
                 fsync: bool | None = None, remote_fsync: bool | None = None,
                 listing_cache: bool | None = None, **_ignored: object) -> None:
        if isinstance(location, str):
            from synctui.storage.url import parse_location

            location = parse_location(location)
        if location.protocol != "ssh":
            raise StoreError(f"{location.display}: not an ssh:// location")
        self.location = location
        # every setting, parsed once: fs_args, with the keyword arguments given over them
        # (``fsync`` is the engine's, about local disks: remote fsync is ``remote_fsync``)
        self.options = opts = SFTPOptions.build(location.fs_args, listing=listing, max_idle=max_idle,
                                                fsync=remote_fsync, listing_cache=listing_cache)
        root = posixpath.normpath(location.path or "/")
        self.root = "/" if root in ("/", "//") else root.rstrip("/")
        self.listing = opts.listing
        self.remote_fsync = opts.fsync
        self._connector = Connector(settings_for_location(location, opts), prompt=prompt,
                                    display=location.display)
        self._pool = ConnPool(self._connector, max_idle=opts.max_idle)
        # a store nobody closes (a catalog dropped on rescan) still hangs up when collected
        weakref.finalize(self, self._pool.close)
        self._interrupted = threading.Event()  # a cancelled sync: nothing new, nothing waits
        self.retry_policy = RetryPolicy()
        self._dirs: set[str] = set()  # folders (relative, "" = root) known to exist
        self._dirs_lock = threading.Lock()
        self._find_ok: bool | None = False if self.listing == "sftp" else None
        self._shell_ok: bool | None = None
        self._tar_ok: bool | None = None
        self._orphans: list[str] = []  # temp files a dropped connection left behind
        self._tmp_tag = uuid.uuid4().hex[:8]
        self._tmp_seq = itertools.count()
        self._ext: dict[str, bool] = {}  # SFTP extensions found (un)supported
        self.skipped_links: list[str] = []
        self.skipped_names: list[str] = []
        self.last_listing: str | None = None  # "find" or "sftp": how the last scan listed
        # opt-in: full listings skip run folders whose server-side digest is unchanged.
        # It sends a digest per run instead of every name: a win on slow links, a loss
        # on a fast one (the server hashes), so it is off unless asked for.
        from synctui.storage.listing_cache import ListingCache, enabled_by_env

        use_cache = opts.listing_cache if opts.listing_cache is not None else enabled_by_env()
        self.listing_cache: ListingCache | None = ListingCache() if use_cache else None
        self.listing_stats: dict[str, int] = {}
        s = self._connector.settings
        self._cache_key = f"ssh://{s.username}@{s.hostname}:{s.port}{self.root}"

    def __repr__(self) -> str:
        return f"SFTPStore({self.location.display!r})"

    @property
    def display(self) -> str:
        return self.location.display

    @property
    def connections_opened(self) -> int:
        return self._pool.opened

    # -- paths ---------------------------------------------------------------------
    def _abs(self, rel: str) -> str:
        if not rel:
            return self.root
        return f"{self.root}/{rel}" if self.root != "/" else f"/{rel}"

    def _tmp_for(self, full: str) -> str:
        """A temp name next to ``full``: unique per store (counter) and per process (tag)."""
        directory, name = posixpath.split(full)
        return f"{directory}/{temp_name(name, f'{self._tmp_tag}{next(self._tmp_seq):x}')}"

    # -- connection handling ---------------------------------------------------------
    @contextmanager
    def _conn(self, action: str, what: str) -> Iterator[Conn]:
        """Check a connection out for one operation and translate what goes wrong."""
        conn = self._checkout(action, what)
        try:
            yield conn
        except BaseException as exc:
            self._failed(conn, exc, action, what)
        else:
            self._pool.put(conn)

    def _checkout(self, action: str, what: str) -> Conn:
        if self._interrupted.is_set():
            raise StoreError(f"cannot {action} {what or self.root}: cancelled")
        return self._pool.get()

    def _failed(self, conn: Conn, exc: BaseException, action: str, what: str) -> None:
        """Return ``conn`` to the pool (or drop it) and raise the StoreError for ``exc``.

        SFTP status replies are the server's answer (a StoreError); everything else
        from the SSH layer (EOF, socket errors, SSHException) means the connection
        is gone: it is dropped and the error is transient.
        """
        import paramiko

        if self._interrupted.is_set() and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self._pool.discard(conn)
            raise StoreError(f"cannot {action} {what or self.root}: cancelled") from exc
        if isinstance(exc, (TimeoutError, ConnectionStalled)):  # a deadline passed: not retried
            self._pool.discard(conn)
            why = str(exc) if isinstance(exc, ConnectionStalled) else \
                f"the server did not answer for {conn.idle_timeout:g} s (fs_args timeout)"
            raise ConnectionStalled(f"cannot {action} {what or self.root}: {why}") from exc
        lost = isinstance(exc, (EOFError, paramiko.SSHException, OSError)) \
            and not isinstance(exc, (SFTPStatus, StoreError))
        alive = not lost and conn.alive()
        if alive:
            self._pool.put(conn)
        else:
            self._pool.discard(conn)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise exc
        if isinstance(exc, StoreError) and (alive or exc.transient):
            raise exc  # ours, or the source's (a data iterator) - as it is
        if not alive:
            raise ConnectionLost(f"{self.display}: connection lost while trying to {action} "
                                 f"{what or '/'}; it will be re-established") from exc
        if isinstance(exc, SFTPStatus):
            raise StoreError(f"cannot {action} {what or self.root}: {exc.reason}") from exc
        raise exc

    def _call(self, action: str, what: str, fn: Callable[[Conn], T], *, retry: bool = True) -> T:
        """Run ``fn(conn)``; an idempotent call goes through the retry policy (a lost
        connection: again on a fresh one), the others run once (the engine retries)."""
        def once() -> T:
            with self._conn(action, what) as conn:
                self._clean_orphans(conn)
                return fn(conn)

        return self._retried(once) if retry else once()

    def _retried(self, fn: Callable[[], T]) -> T:
        """``fn()`` (one remote call) under the store's retry policy: the only retry loop here."""
        return self.retry_policy.call(fn, interrupt=self._interrupted, should_retry=_should_retry,
                                      on_retry=lambda n, exc: log.info("%s: %s; reconnecting",
                                                                       self.display, exc))

    def _clean_orphans(self, conn: Conn) -> None:
        if not self._orphans:
            return
        with self._dirs_lock:
            orphans, self._orphans = self._orphans, []
        pipe = Pipe(conn.sftp)
        for num in [pipe.send(CMD_REMOVE, path) for path in orphans]:
            pipe.ok(num)

    def check_root(self) -> None:
        def run(conn: Conn) -> None:
            pipe = Pipe(conn.sftp)
            try:
                attrs = pipe.attrs(pipe.send(CMD_STAT, self.root))
            except SFTPStatus as exc:
                if exc.code == FX_NO_SUCH_FILE:
                    raise RootError(f"{self.display}: the remote folder {self.root} does not exist",
                                    problem=RootError.MISSING) from None
                raise RootError(f"{self.display}: cannot open {self.root}: {exc.reason}",
                                problem=RootError.UNREADABLE) from None
            if not stat_mod.S_ISDIR(attrs.st_mode or 0):
                raise RootError(f"{self.display}: {self.root} is not a folder", problem=RootError.NOT_A_FOLDER)
            self._known_dir("")

        self._call("open", self.root, run)

    def interrupt(self) -> None:
        """Hang up every connection, those in use too: their waits end at once."""
        self._interrupted.set()
        self._pool.close()

    def resume(self) -> None:
        self._interrupted.clear()
        self._pool.reopen()

    def close(self) -> None:
        self._pool.close()
        self._pool.reopen()  # a closed store may be used again: it dials afresh
        if self.listing_cache is not None:
            self.listing_cache.close()

    # -- known folders ---------------------------------------------------------------------
    def _known_dir(self, rel: str) -> None:
        with self._dirs_lock:
            self._dirs.add(rel)

    def _forget_dirs(self, rel: str) -> None:
        with self._dirs_lock:
            if not rel:
                self._dirs.clear()
                return
            pre = rel + "/"
            self._dirs = {d for d in self._dirs if d != rel and not d.startswith(pre)}

    def _mkdirs(self, pipe: Pipe, rels: Iterable[str]) -> dict[str, SFTPStatus]:
        """Create folders (relative) and their parents with pipelined MKDIRs.

        Returns the folders that still do not exist, with the reason.
        """
        with self._dirs_lock:
            known = set(self._dirs)
        wanted: list[str] = []
        seen: set[str] = set()
        for rel in rels:
            if rel in known or rel in seen:
                continue
            chain = []
            probe = rel
            while probe and probe not in known and probe not in seen:
                chain.append(probe)
                probe = posixpath.dirname(probe)
            if not probe and "" not in known and "" not in seen:
                chain.append("")
            for item in reversed(chain):
                seen.add(item)
                wanted.append(item)
        if not wanted:
            return {}
        paths: list[str] = []
        if "" in wanted and self.root != "/":  # the root itself may be missing: mkdir -p it
            parts = self.root.strip("/").split("/")
            paths.extend("/" + "/".join(parts[:i]) for i in range(1, len(parts)))
        paths.extend(self._abs(rel) for rel in wanted)
        sent = pipe.send_many([(CMD_MKDIR, path, empty_attrs()) for path in paths]
                              + [(CMD_STAT, self._abs(rel)) for rel in wanted])
        nums = sent[:len(paths) - len(wanted)]
        mk = list(zip(wanted, sent[len(paths) - len(wanted):len(paths)], strict=True))
        checks = list(zip(wanted, sent[len(paths):], strict=True))
        for num in nums:
            pipe.ok(num)
        errors = {rel: pipe.ok(num) for rel, num in mk}
        missing: dict[str, SFTPStatus] = {}
        for rel, num in checks:
            try:
                attrs = pipe.attrs(num)
            except SFTPStatus as exc:
                missing[rel] = errors.get(rel) or exc
                continue
            if stat_mod.S_ISDIR(attrs.st_mode or 0):
                self._known_dir(rel)
            else:
                missing[rel] = SFTPStatus(4, "a file is in the way")
        return missing

    def _ensure_dirs(self, pipe: Pipe, rel_dirs: Iterable[str], what: str) -> None:
        missing = self._mkdirs(pipe, rel_dirs)
        if missing:
            rel, exc = next(iter(missing.items()))
            raise StoreError(f"cannot create folder {rel or self.root} for {what}: {exc.reason}")

    # -- listing ---------------------------------------------------------------------
    def scan(self, prefix: str = "", *, dirs: bool = False) -> Iterator[FileInfo]:
        """Every file below ``prefix`` (relative paths); folders too with ``dirs``.

        One remote ``find`` when the server has a shell, else a pipelined SFTP walk.
        A listing that fails half-way raises: a partial listing is never returned
        as if complete.  Symbolic links are skipped (see ``skipped_links``).
        """
        rel0 = clean_relpath(prefix, allow_root=True)
        # until the first entry is out, a lost connection may start the listing again
        # (one call of the retry policy); after it, a listing cut short raises
        first, rest = self._retried(lambda: self._scan_start(rel0, dirs))
        if first is not None:
            yield first
            yield from rest

    def _scan_start(self, rel0: str, dirs: bool) -> tuple[FileInfo | None, Iterator[FileInfo]]:
        """Start a listing: its first entry (None: empty) and an iterator of the rest."""
        # one shell per full listing; small prefix scans (locks, one entity) are
        # cheaper as an SFTP walk than starting a login shell
        if self._find_ok is not False and (not rel0 or self.listing == "find"):
            gen = self._scan_find(rel0, dirs)
            try:
                first = next(gen)
            except StopIteration:
                self.last_listing = "find"
                return None, iter(())
            except _NoFind:
                if self.listing == "find":
                    raise StoreError(f"{self.display}: listing=find but the server has no "
                                     "POSIX shell with GNU find -printf") from None
                log.info("%s: no find -printf on the server; listing over SFTP", self.display)
                self._find_ok = False
            else:
                self._find_ok = True
                self.last_listing = "find"
                return first, gen
        self.last_listing = "sftp"
        walk = self._scan_sftp(rel0, dirs)
        return next(walk, None), walk

    def _scan_find(self, rel0: str, dirs: bool) -> Iterator[FileInfo]:
        if not rel0 and self.listing_cache is not None:
            yield from self._scan_digests(dirs)
            return
        start = self._abs(rel0)
        script = (f"{FIND_PROBE} 2>/dev/null || exit {NO_FIND}; "
                  f"[ -d {shlex.quote(start)} ] || exit 0; "
                  f"LC_ALL=C exec find -H {shlex.quote(start)} -mindepth 1 -printf '%y %s %T@ %P\\0'")
        base = rel0 + "/" if rel0 else ""
        for rec in self._exec_records(script, rel0):
            info = self._parse_find(rec, base, dirs)
            if info is not None:
                yield info

    def _exec_records(self, script: str, rel0: str, err_out: bytearray | None = None) -> Iterator[bytes]:
        """Run a listing script; yield its NUL-separated records after FIND_MARK."""
        with self._conn("list", rel0 or self.root) as conn:
            chan = open_exec(conn, script)
            if chan is None:
                raise _NoFind()
            try:
                err = bytearray() if err_out is None else err_out
                buf = b""
                marked = False
                quiet = Quiet(conn)
                while True:
                    try:
                        data = chan.recv(1 << 18)
                    except TimeoutError:
                        drain_stderr(chan, err)
                        if not conn.alive():
                            raise ConnectionLost(f"{self.display}: connection lost while listing") from None
                        quiet.check("listing")
                        continue
                    quiet.heard()
                    if chan.recv_stderr_ready():
                        drain_stderr(chan, err)
                    if not data:
                        break
                    buf += data
                    if not marked:
                        at = buf.find(FIND_MARK)
                        if at < 0:
                            if len(buf) > 1 << 16:  # a chatty login shell, and no marker
                                raise _NoFind()
                            continue
                        buf = buf[at + len(FIND_MARK):]
                        marked = True
                    records = buf.split(b"\0")
                    buf = records.pop()
                    yield from records
                status = exit_status(chan, conn)
                drain_stderr(chan, err)
                if status is None:
                    raise ConnectionLost(f"{self.display}: connection lost while listing")
                if not marked:  # no shell, or a find without -printf (exit NO_FIND)
                    raise _NoFind()
                if status != 0:
                    line = err.decode("utf-8", "replace").strip().splitlines()
                    why = line[0] if line else f"find exited with status {status}"
                    raise StoreError(f"cannot list {rel0 or self.root} on {self.display}: {why}")
                if buf:
                    yield buf
            finally:
                chan.close()

    def _scan_digests(self, dirs: bool) -> Iterator[FileInfo]:
        """A full listing that skips the run folders whose server-side digest is unchanged.

        One round trip lists everything outside ``ExperimentRuns/<run>/`` and prints a
        digest of each run folder's listing; a second fetches only the run folders
        whose digest differs from the cached one.  Any stderr output (an unreadable
        folder) makes every digest untrusted.
        """
        cache = self.listing_cache
        assert cache is not None
        q = shlex.quote(self.root)
        fmt = "'%y %s %T@ %P\\0'"
        script = (f"{FIND_PROBE} 2>/dev/null || exit {NO_FIND}; [ -d {q} ] || exit 0; cd {q} || exit 1; "
                  "H=md5sum; command -v md5sum >/dev/null 2>&1 || H=cksum; "
                  f"LC_ALL=C find -H . -mindepth 1 -printf {fmt} -path './{RUNS_DIR}/[!.]*' -prune "
                  "|| exit $?; "
                  f"for d in {RUNS_DIR}/*/; do d=${{d%/}}; [ -d \"$d\" ] && [ ! -L \"$d\" ] || continue; "
                  f"s=$(LC_ALL=C find -H \"$d\" -mindepth 1 -printf {fmt} | $H) || exit $?; "
                  "printf 'h 0 %s %s\\0' \"$(printf %s \"$s\" | tr -c '0-9a-zA-Z' _)\" \"$d\"; done")
        key = self._cache_key
        known = cache.digests(key)
        err = bytearray()
        digests: dict[str, str] = {}
        for rec in self._exec_records(script, "", err):
            if rec.startswith(b"h 0 "):
                _, _, digest, name = rec.split(b" ", 3)
                digests[name.decode("utf-8", "surrogateescape")] = digest.decode("ascii", "replace")
                continue
            info = self._parse_find(rec, "", dirs)
            if info is not None:
                yield info
        trusted = not err.strip()
        hits = [d for d, dig in digests.items() if trusted and known.get(d) == dig]
        misses = [d for d in digests if d not in hits]
        self.listing_stats = {"subtrees": len(digests), "cached": len(hits), "fetched": len(misses)}
        for sub in hits:
            recs = cache.records(key, sub)
            if recs is None:
                misses.append(sub)
                continue
            for rec in recs.split(b"\0"):
                if rec:
                    info = self._parse_find(rec, "", dirs)
                    if info is not None:
                        yield info
        fresh: dict[str, tuple[str, bytes]] = {}
        for start in range(0, len(misses), 200):
            group = misses[start:start + 200]
            names = " ".join(shlex.quote(d) for d in group)
            fetch = (f"{FIND_PROBE} 2>/dev/null || exit {NO_FIND}; cd {q} || exit 1; "
                     f"LC_ALL=C exec find -H {names} -mindepth 1 -printf '%y %s %T@ %p\\0'")
            per: dict[str, list[bytes]] = {d: [] for d in group}
            for rec in self._exec_records(fetch, RUNS_DIR):
                info = self._parse_find(rec, "", dirs)
                if info is not None:
                    yield info
                name = rec.split(b" ", 3)[-1].decode("utf-8", "surrogateescape")
                parts = name.split("/", 2)
                sub = "/".join(parts[:2])
                if sub in per:
                    per[sub].append(rec)
            for sub in group:
                if trusted:
                    fresh[sub] = (digests[sub], b"\0".join(per[sub]))
        cache.update(key, fresh, set(digests) if trusted else set())

    def _parse_find(self, rec: bytes, base: str, dirs: bool) -> FileInfo | None:
        try:
            kind, size, mtime, name = rec.split(b" ", 3)
        except ValueError:
            return None
        try:
            path = base + name.decode("utf-8")
        except UnicodeDecodeError:
            self.skipped_names.append(base + name.decode("utf-8", "replace"))
            return None
        seconds = int(mtime.split(b".", 1)[0] or b"0")
        if kind == b"f":
            return FileInfo(path, int(size), seconds * 1_000_000_000)
        if kind == b"d":
            self._known_dir(path)
            return FileInfo(path, 0, seconds * 1_000_000_000, kind="dir") if dirs else None
        if kind == b"l":
            self.skipped_links.append(path)
        return None

    def _scan_sftp(self, rel0: str, dirs: bool) -> Iterator[FileInfo]:
        """Breadth-first SFTP walk; every level's folders are read in parallel.

        The connection is held only while a level is read, so a caller may use the
        store between the entries it gets (the lock code does).
        """
        def is_dir(conn: Conn) -> bool:
            pipe = Pipe(conn.sftp)
            try:
                top = pipe.attrs(pipe.send(CMD_STAT, self._abs(rel0)))
            except SFTPStatus as exc:
                if exc.code == FX_NO_SUCH_FILE:
                    return False
                raise
            return stat_mod.S_ISDIR(top.st_mode or 0)

        def read_level(conn: Conn, level: list[str]) -> list[FileInfo]:
            pipe = Pipe(conn.sftp)
            return [info for i in range(0, len(level), BATCH)
                    for info in self._read_dirs(pipe, level[i:i + BATCH])]

        if not self._call("list", rel0, is_dir):
            return
        self._known_dir(rel0)
        level = [rel0]
        while level:
            entries = self._call("list", rel0, lambda conn, lv=level: read_level(conn, lv))
            level = []
            for info in entries:
                if info.kind == "dir":
                    level.append(info.path)
                    self._known_dir(info.path)
                    if not dirs:
                        continue
                yield info

    def _read_dirs(self, pipe: Pipe, rels: list[str], links: list[str] | None = None
                   ) -> Iterator[FileInfo]:
        from paramiko.sftp_attr import SFTPAttributes

        opened = zip(rels, pipe.send_many([(CMD_OPENDIR, self._abs(rel)) for rel in rels]), strict=True)
        handles: dict[int, tuple[str, bytes]] = {}
        for rel, num in opened:
            try:
                h = pipe.handle(num)
            except SFTPStatus as exc:
                if exc.code == FX_NO_SUCH_FILE:
                    continue  # vanished since its parent was read
                raise StoreError(f"cannot list {rel or self.root} on {self.display}: {exc.reason}") from None
            handles[pipe.send(CMD_READDIR, h)] = (rel, h)
        while handles:
            num = next(iter(handles))
            rel, h = handles.pop(num)
            t, msg = pipe.wait(num)
            if t == CMD_STATUS:
                code = msg.get_int()
                pipe.send(CMD_CLOSE, h)  # fire and forget
                if code == FX_EOF:
                    continue
                raise StoreError(f"cannot list {rel or self.root} on {self.display}: "
                                 f"{SFTPStatus(code).reason}")
            if t != CMD_NAME:
                raise StoreError(f"cannot list {rel or self.root}: unexpected SFTP reply {t}")
            handles[pipe.send(CMD_READDIR, h)] = (rel, h)  # ask for more while we parse
            base = rel + "/" if rel else ""
            for _ in range(msg.get_int()):
                raw = msg.get_string()
                msg.get_string()  # longname
                attrs = SFTPAttributes._from_msg(msg)
                if raw in (b".", b".."):
                    continue
                try:
                    path = base + raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.skipped_names.append(base + raw.decode("utf-8", "replace"))
                    continue
                mode = attrs.st_mode or 0
                mtime = int(attrs.st_mtime or 0) * 1_000_000_000
                if stat_mod.S_ISDIR(mode):
                    yield FileInfo(path, 0, mtime, kind="dir")
                elif stat_mod.S_ISREG(mode):
                    yield FileInfo(path, int(attrs.st_size or 0), mtime)
                elif stat_mod.S_ISLNK(mode):
                    (self.skipped_links if links is None else links).append(path)

    # -- metadata ------------------------------------------------------------------------
    def stat(self, path: str) -> FileInfo | None:
        rel = clean_relpath(path)

        def run(conn: Conn) -> FileInfo | None:
            pipe = Pipe(conn.sftp)
            try:
                attrs = pipe.attrs(pipe.send(CMD_STAT, self._abs(rel)))
            except SFTPStatus as exc:
                if exc.code == FX_NO_SUCH_FILE:
                    return None
                raise
            return _info(rel, attrs)

        return self._call("stat", rel, run)

    def exists(self, path: str) -> bool:
        rel = clean_relpath(path)

        def run(conn: Conn) -> bool:
            pipe = Pipe(conn.sftp)
            try:
                pipe.attrs(pipe.send(CMD_LSTAT, self._abs(rel)))
            except SFTPStatus as exc:
                if exc.code == FX_NO_SUCH_FILE:
                    return False
                raise
            return True

        return self._call("stat", rel, run)

    # -- reading ---------------------------------------------------------------------------
    def read_bytes(self, path: str) -> bytes:
        rel = clean_relpath(path)
        return self._call("read", rel, lambda conn: self._read_whole(Pipe(conn.sftp), conn, rel))

    def _open_read(self, pipe: Pipe, rel: str) -> bytes:
        try:
            return pipe.handle(pipe.send(CMD_OPEN, self._abs(rel), FLAG_READ, empty_attrs()))
        except SFTPStatus as exc:
            if exc.code == FX_NO_SUCH_FILE:
                raise MissingPathError(f"cannot read {rel}: it no longer exists") from None
            raise StoreError(f"cannot read {rel}: {exc.reason}") from None

    def _read_whole(self, pipe: Pipe, conn: Conn, rel: str) -> bytes:
        h = self._open_read(pipe, rel)
        try:
            n_stat, n_first = pipe.send_many([(CMD_FSTAT, h), (CMD_READ, h, int64(0), conn.io_read)])
            size = int(pipe.attrs(n_stat).st_size or 0)
            return _collect(pipe, h, conn.io_read, size, [(n_first, 0, conn.io_read)])
        except SFTPStatus as exc:
            raise StoreError(f"cannot read {rel}: {exc.reason}") from None
        finally:
            if conn.alive():
                pipe.send(CMD_CLOSE, h)  # fire and forget: the server closes it in order

    def open_read(self, path: str) -> BinaryIO:
        """A streaming reader with a bounded read-ahead window; close it when done.

        The reader holds one pooled connection until it is closed.
        """
        rel = clean_relpath(path)

        def run(conn: Conn) -> tuple[Pipe, bytes, int]:
            pipe = Pipe(conn.sftp)
            h = self._open_read(pipe, rel)
            try:
                size = int(pipe.attrs(pipe.send(CMD_FSTAT, h)).st_size or 0)
            except BaseException:
                if conn.alive():
                    pipe.send(CMD_CLOSE, h)
                raise
            return pipe, h, size

        def once() -> BinaryIO:
            conn = self._checkout("read", rel)
            with self._lend(conn, "read", rel):
                pipe, h, size = run(conn)
            return _Reader(self, conn, pipe, h, size, rel)  # type: ignore[return-value]

        return self._retried(once)

    @contextmanager
    def _lend(self, conn: Conn, action: str, what: str) -> Iterator[None]:
        """Like _conn for a connection that stays checked out on success."""
        try:
            yield
        except BaseException as exc:
            self._failed(conn, exc, action, what)

    # -- writing ---------------------------------------------------------------------------
    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        rel = clean_relpath(path)
        retry = isinstance(data, (bytes, bytearray, memoryview))
        return self._call("write", rel, lambda conn: self._put(conn, rel, data, mtime_ns, size),
                          retry=retry)

    def _open_write(self, pipe: Pipe, rel: str, target: str, what: str) -> bytes:
        """Open ``target`` (a temp name) for exclusive creation, making folders on demand."""
        parent = posixpath.dirname(rel)
        self._ensure_dirs(pipe, [parent], what)
        for attempt in (0, 1):
            try:
                return pipe.handle(pipe.send(CMD_OPEN, target, FLAG_WRITE | FLAG_CREATE | FLAG_EXCL,
                                             empty_attrs()))
            except SFTPStatus as exc:
                if exc.code != FX_NO_SUCH_FILE or attempt:
                    raise StoreError(f"cannot write {what}: {exc.reason}") from None
                self._forget_dirs(parent)  # someone removed it since we looked
                self._ensure_dirs(pipe, [parent], what)
        raise AssertionError("unreachable")

    def _put(self, conn: Conn, rel: str, data: bytes | Iterable[bytes], mtime_ns: int | None,
             size: int | None = None) -> FileInfo:
        pipe = Pipe(conn.sftp)
        full = self._abs(rel)
        tmp = self._tmp_for(full)
        h = self._open_write(pipe, rel, tmp, rel)
        closed = False
        try:
            pending: deque[int] = deque()
            batch: list[tuple[Any, ...]] = []
            offset = 0
            step = conn.io_write
            for block in iter_chunks(data):
                view = memoryview(block)
                for i in range(0, len(view), step):
                    piece = view[i:i + step]
                    batch.append((CMD_WRITE, h, int64(offset), piece))
                    offset += len(piece)
                if len(batch) >= 8:  # about 2 MB per send
                    pending.extend(pipe.send_many(batch))
                    batch = []
                    while len(pending) > WRITE_WINDOW:
                        pipe.status(pending.popleft())
            if size is not None and offset != size:  # the temp goes, the final path stays
                raise size_mismatch(rel, offset, size)
            tail: list[tuple[Any, ...]] = []
            if mtime_ns is not None:
                tail.append((CMD_FSETSTAT, h, attrs_with_mtime(mtime_ns // 1_000_000_000)))
            fsync = self.remote_fsync and self._ext.get("fsync") is not False
            if fsync:
                tail.append((CMD_EXTENDED, "fsync@openssh.com", h))
            if mtime_ns is None:  # the server's mtime is only needed when we did not set it
                tail.append((CMD_FSTAT, h))
            tail.append((CMD_CLOSE, h))
            nums = pipe.send_many(batch + tail)  # a small file: one packet for all of it
            closed = True
            pending.extend(nums[:len(batch) + (mtime_ns is not None)])
            n_sync = nums[-2 - (mtime_ns is None)] if fsync else None
            n_stat = nums[-2] if mtime_ns is None else None
            n_close = nums[-1]
            for num in pending:
                pipe.status(num)
            if n_sync is not None:
                self._fsync_reply(pipe, n_sync)
            seconds = pipe.attrs(n_stat).st_mtime if n_stat is not None else mtime_ns // 1_000_000_000
            pipe.status(n_close)
            self._publish(pipe, tmp, full, rel)
        except BaseException as exc:
            self._abandon(conn, pipe, h if not closed else None, tmp)
            if isinstance(exc, SFTPStatus):
                raise StoreError(f"cannot write {rel}: {exc.reason}") from None
            raise
        return FileInfo(rel, offset, int(seconds or 0) * 1_000_000_000)

    def _fsync_reply(self, pipe: Pipe, num: int) -> None:
        err = pipe.ok(num)
        if err is not None and err.code == FX_OP_UNSUPPORTED:
            self._ext["fsync"] = False
        elif err is not None:
            raise err

    def _publish(self, pipe: Pipe, tmp: str, full: str, rel: str) -> None:
        """Rename the finished temp file onto its final name (atomically replacing it)."""
        if self._ext.get("posix-rename") is not False:
            err = pipe.ok(pipe.send(CMD_EXTENDED, "posix-rename@openssh.com", tmp, full))
            if err is None:
                return
            if err.code != FX_OP_UNSUPPORTED:
                raise err
            self._ext["posix-rename"] = False
        # plain SFTP rename refuses to replace: remove first (not atomic: such servers are rare)
        n_rm = pipe.send(CMD_REMOVE, full)
        n_mv = pipe.send(CMD_RENAME, tmp, full)
        pipe.ok(n_rm)
        pipe.status(n_mv)

    def _abandon(self, conn: Conn, pipe: Pipe, handle: bytes | None, tmp: str) -> None:
        """Best effort: close and remove a temp file after a failure."""
        if not conn.alive():
            with self._dirs_lock:
                self._orphans.append(tmp)
            return
        try:
            if handle is not None:
                pipe.send(CMD_CLOSE, handle)
            pipe.ok(pipe.send(CMD_REMOVE, tmp))
        except Exception:  # noqa: BLE001 - the original error matters more
            # the connection may be dying without knowing it yet: sweep it on the next call
            with self._dirs_lock:
                self._orphans.append(tmp)

    def makedirs(self, path: str) -> None:
        rel = clean_relpath(path, allow_root=True)
        self._call("create folder", rel, lambda conn: self._ensure_dirs(Pipe(conn.sftp), [rel], rel))

    def remove(self, path: str) -> None:
        rel = clean_relpath(path)

        def run(conn: Conn) -> None:
            pipe = Pipe(conn.sftp)
            err = pipe.ok(pipe.send(CMD_REMOVE, self._abs(rel)))
            if err is not None and err.code != FX_NO_SUCH_FILE:
                raise StoreError(f"cannot remove {rel}: {err.reason}")

        self._call("remove", rel, run)

    def remove_tree(self, path: str) -> None:
        """Remove a file or a folder with everything in it (``rm -rf``, or an SFTP walk)."""
        rel = clean_relpath(path)  # never the root
        self._forget_dirs(rel)
        full = self._abs(rel)
        if self._shell_ok is not False:
            def via_shell(conn: Conn) -> bool:
                status, out, err = run_exec(conn, f"printf 'SYNCTUI-SH\\n'; rm -rf -- {shlex.quote(full)}")
                if SH_MARK not in out:
                    return False
                if status != 0:
                    line = err.decode("utf-8", "replace").strip().splitlines()
                    raise StoreError(f"cannot remove {rel}: {line[0] if line else f'rm exited {status}'}")
                return True

            done = self._call("remove", rel, via_shell)
            self._shell_ok = done
            if done:
                return
        self._call("remove", rel, lambda conn: self._remove_tree_sftp(conn, rel))

    def _remove_tree_sftp(self, conn: Conn, rel: str) -> None:
        pipe = Pipe(conn.sftp)
        try:
            attrs = pipe.attrs(pipe.send(CMD_LSTAT, self._abs(rel)))
        except SFTPStatus as exc:
            if exc.code == FX_NO_SUCH_FILE:
                return
            raise
        if not stat_mod.S_ISDIR(attrs.st_mode or 0):
            err = pipe.ok(pipe.send(CMD_REMOVE, self._abs(rel)))
            if err is not None and err.code != FX_NO_SUCH_FILE:
                raise StoreError(f"cannot remove {rel}: {err.reason}")
            return
        folders = [rel]
        files: list[str] = []  # links inside are removed too, never followed
        level = [rel]
        while level:
            nxt = []
            for i in range(0, len(level), BATCH):
                for info in self._read_dirs(pipe, level[i:i + BATCH], links=files):
                    (nxt if info.kind == "dir" else files).append(info.path)
            folders.extend(nxt)
            level = nxt
        nums = [(f, pipe.send(CMD_REMOVE, self._abs(f))) for f in files]
        for f, num in nums:
            err = pipe.ok(num)
            if err is not None and err.code != FX_NO_SUCH_FILE:
                raise StoreError(f"cannot remove {f}: {err.reason}")
        for d in sorted(folders, key=lambda p: p.count("/"), reverse=True):
            err = pipe.ok(pipe.send(CMD_RMDIR, self._abs(d)))
            if err is not None and err.code != FX_NO_SUCH_FILE:
                raise StoreError(f"cannot remove folder {d}: {err.reason}")

    def rename(self, src: str, dst: str) -> None:
        s, d = clean_relpath(src), clean_relpath(dst)

        def run(conn: Conn) -> None:
            pipe = Pipe(conn.sftp)
            self._ensure_dirs(pipe, [posixpath.dirname(d)], d)
            try:
                self._publish(pipe, self._abs(s), self._abs(d), d)
            except SFTPStatus as exc:
                raise StoreError(f"cannot rename {s} to {d}: {exc.reason}") from None

        self._call("rename", f"{s} to {d}", run, retry=False)
        self._forget_dirs(s)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create ``path`` with ``data`` only if it does not exist; False if it does.

        The content goes to a temp file that is hard-linked into place
        (``hardlink@openssh.com``: atomic, and it fails when the name exists), so the
        winner publishes a complete file.  Servers without the extension get an
        exclusive open (SSH_FXF_EXCL) of the final name.
        """
        rel = clean_relpath(path)
        return self._call("create", rel, lambda conn: self._create_exclusive(conn, rel, bytes(data)),
                          retry=False)

    def _create_exclusive(self, conn: Conn, rel: str, data: bytes) -> bool:
        pipe = Pipe(conn.sftp)
        full = self._abs(rel)
        self._ensure_dirs(pipe, [posixpath.dirname(rel)], rel)
        if self._ext.get("hardlink") is not False:
            tmp = self._tmp_for(full)
            h = self._open_write(pipe, rel, tmp, rel)
            try:
                self._write_small(pipe, h, data, conn.io_write)
                n_link = pipe.send(CMD_EXTENDED, "hardlink@openssh.com", tmp, full)
                n_rm = pipe.send(CMD_REMOVE, tmp)
                err = pipe.ok(n_link)
                pipe.ok(n_rm)
            except BaseException:
                self._abandon(conn, pipe, None, tmp)
                raise
            if err is None:
                return True
            if err.code != FX_OP_UNSUPPORTED:
                if self._lexists(pipe, full):
                    return False
                raise StoreError(f"cannot create {rel}: {err.reason}")
            self._ext["hardlink"] = False
        try:
            h = pipe.handle(pipe.send(CMD_OPEN, full, FLAG_WRITE | FLAG_CREATE | FLAG_EXCL, empty_attrs()))
        except SFTPStatus as exc:
            if exc.code != FX_NO_SUCH_FILE and self._lexists(pipe, full):
                return False
            raise StoreError(f"cannot create {rel}: {exc.reason}") from None
        self._write_small(pipe, h, data, conn.io_write)
        return True

    def _write_small(self, pipe: Pipe, h: bytes, data: bytes, step: int) -> None:
        nums = [pipe.send(CMD_WRITE, h, int64(i), data[i:i + step]) for i in range(0, len(data), step)]
        n_close = pipe.send(CMD_CLOSE, h)
        errs = [pipe.ok(n) for n in nums]
        close_err = pipe.ok(n_close)
        for err in [*errs, close_err]:
            if err is not None:
                raise err

    def _lexists(self, pipe: Pipe, full: str) -> bool:
        try:
            pipe.attrs(pipe.send(CMD_LSTAT, full))
        except SFTPStatus:
            return False
        return True

    # -- batches ---------------------------------------------------------------------------
    def write_many(self, items: Iterable[tuple[str, bytes, int | None]], *,
                   method: str = "auto") -> list[FileInfo | StoreError]:
        """Write many small files at once; each is atomic (temp name + rename), as in
        :meth:`write_atomic`.

        ``items`` are ``(path, data, mtime_ns)``.  Returns, in the same order, the
        FileInfo written or the StoreError of that file (``transient`` ones - the
        connection broke - are worth a retry).  ``method``: "tar" streams the files
        through one ``tar -x`` exec channel (about rsync's speed), then renames them
        with pipelined SFTP requests; "sftp" pipelines open/write/close/rename (three
        round trips per 64 files); "auto" uses tar for 16 files or more when the
        server has a shell, else SFTP.
        """
        if method not in ("auto", "tar", "sftp"):
            raise ValueError(f"method must be auto, tar or sftp, not {method!r}")
        todo = [(clean_relpath(p), bytes(d), m) for p, d, m in items]
        results: list[FileInfo | StoreError | None] = [None] * len(todo)
        indexed = list(enumerate(todo))
        if method == "tar" or (method == "auto" and len(todo) >= TAR_MIN_FILES
                               and self._tar_ok is not False):
            for group in _groups(indexed, TAR_MAX_FILES, TAR_MAX_BYTES, lambda it: len(it[1][1])):
                if self._tar_ok is False:
                    if method == "tar":
                        raise StoreError(f"{self.display}: the server has no POSIX shell with tar")
                    self._write_many_sftp(group, results)
                    continue
                self._batch("write", group, results,
                            lambda conn, g=group: self._write_tar_group(conn, g, results))
        else:
            self._write_many_sftp(indexed, results)
        return [r if r is not None else StoreError("not written", transient=True) for r in results]

    def _batch(self, action: str, group: list, results: list, fn: Callable[[Conn], None]) -> None:
        try:
            self._call(action, group[0][1][0], fn, retry=False)
        except StoreError as exc:
            for i, *_ in group:
                if results[i] is None:
                    results[i] = exc

    def _write_many_sftp(self, indexed: list, results: list) -> None:
        for start in range(0, len(indexed), BATCH):
            group = indexed[start:start + BATCH]
            self._batch("write", group, results,
                        lambda conn, g=group: self._write_group(conn, g, results))

    def _write_tar_group(self, conn: Conn, group: list[tuple[int, tuple[str, bytes, int | None]]],
                         results: list[FileInfo | StoreError | None]) -> None:
        now = int(time.time())
        members = []
        for i, (rel, data, mtime) in group:
            parent, name = posixpath.split(rel)
            tmp = temp_name(name, f"{self._tmp_tag}{next(self._tmp_seq):x}")
            members.append((i, rel, f"{parent}/{tmp}" if parent else tmp, data,
                            mtime // 1_000_000_000 if mtime is not None else now))
        published: set[int] = set()
        try:
            try:
                status, err = tar_extract(conn, self.root, ((t, d, m) for _, _, t, d, m in members))
            except NoShell:
                self._tar_ok = False
                self._write_many_sftp(group, results)
                return
            self._tar_ok = True
            pipe = Pipe(conn.sftp)
            if status != 0:
                # tar failed part-way: drop what it made, then write one by one for exact errors
                log.info("%s: tar -x failed (%s); writing over SFTP", self.display,
                         (err.strip().splitlines() or [f"status {status}"])[0])
                for num in [pipe.send(CMD_REMOVE, self._abs(t)) for _, _, t, _, _ in members]:
                    pipe.ok(num)
                self._write_many_sftp(group, results)
                return
            for _, rel, *_ in members:
                self._known_dir(posixpath.dirname(rel))
            for start in range(0, len(members), 512):
                chunk = members[start:start + 512]
                if self._ext.get("posix-rename") is not False:
                    sent = list(zip(chunk, pipe.send_many(
                        [(CMD_EXTENDED, "posix-rename@openssh.com", self._abs(m[2]), self._abs(m[1]))
                         for m in chunk]), strict=True))
                else:
                    sent = [(m, None) for m in chunk]
                for (i, rel, tmp, data, seconds), num in sent:
                    err_st = pipe.ok(num) if num is not None else SFTPStatus(FX_OP_UNSUPPORTED)
                    if err_st is not None and err_st.code == FX_OP_UNSUPPORTED:
                        self._ext["posix-rename"] = False
                        try:
                            self._publish(pipe, self._abs(tmp), self._abs(rel), rel)
                            err_st = None
                        except SFTPStatus as exc:
                            err_st = exc
                    if err_st is None:
                        results[i] = FileInfo(rel, len(data), seconds * 1_000_000_000)
                        published.add(i)
                    else:
                        results[i] = StoreError(f"cannot write {rel}: {err_st.reason}")
                        pipe.send(CMD_REMOVE, self._abs(tmp))
        except BaseException:
            if not conn.alive():
                with self._dirs_lock:
                    self._orphans.extend(self._abs(t) for i, _, t, _, _ in members if i not in published)
            raise

    def _write_group(self, conn: Conn, group: list[tuple[int, tuple[str, bytes, int | None]]],
                     results: list[FileInfo | StoreError | None]) -> None:
        pipe = Pipe(conn.sftp)
        missing = self._mkdirs(pipe, {posixpath.dirname(rel) for _, (rel, _, _) in group})
        todo = []
        for i, (rel, data, mtime) in group:
            parent = posixpath.dirname(rel)
            if parent in missing:
                results[i] = StoreError(f"cannot create folder {parent or self.root} for {rel}: "
                                        f"{missing[parent].reason}")
                continue
            todo.append((i, rel, data, mtime, self._tmp_for(self._abs(rel))))
        flags = FLAG_WRITE | FLAG_CREATE | FLAG_EXCL
        opened = zip(todo, pipe.send_many([(CMD_OPEN, t[4], flags, empty_attrs()) for t in todo]), strict=True)
        step = conn.io_write
        writing = []
        requests: list[tuple[Any, ...]] = []
        for (i, rel, data, mtime, tmp), num in opened:
            try:
                h = pipe.handle(num)
            except SFTPStatus as exc:
                results[i] = StoreError(f"cannot write {rel}: {exc.reason}")
                continue
            first = len(requests)
            requests.extend((CMD_WRITE, h, int64(o), data[o:o + step]) for o in range(0, len(data), step))
            if mtime is not None:
                requests.append((CMD_FSETSTAT, h, attrs_with_mtime(mtime // 1_000_000_000)))
            else:
                requests.append((CMD_FSTAT, h))
            requests.append((CMD_CLOSE, h))
            writing.append((i, rel, tmp, first, len(requests), len(data), mtime))
        sent: list[int] = []
        start, size = 0, 0
        for k, req in enumerate(requests):  # a few MB per send: big files never sit in one blob
            size += len(req[3]) if req[0] == CMD_WRITE else 0
            if size >= 4 << 20 or k == len(requests) - 1:
                sent.extend(pipe.send_many(requests[start:k + 1]))
                start, size = k + 1, 0
        renames = []
        try:
            posix = self._ext.get("posix-rename") is not False
            for i, rel, tmp, first, end, size, mtime in writing:
                nums = sent[first:end]
                errs = [e for e in (pipe.ok(n) for n in nums[:-2]) if e is not None]
                seconds = mtime // 1_000_000_000 if mtime is not None else 0
                if mtime is not None:
                    err = pipe.ok(nums[-2])
                    if err is not None:
                        errs.append(err)
                else:
                    try:
                        seconds = int(pipe.attrs(nums[-2]).st_mtime or 0)
                    except SFTPStatus as exc:
                        errs.append(exc)
                err = pipe.ok(nums[-1])
                if err is not None:
                    errs.append(err)
                if errs:
                    results[i] = StoreError(f"cannot write {rel}: {errs[0].reason}")
                    pipe.send(CMD_REMOVE, tmp)
                    continue
                renames.append((i, rel, tmp, FileInfo(rel, size, seconds * 1_000_000_000)))
            nums2 = pipe.send_many([(CMD_EXTENDED, "posix-rename@openssh.com", tmp, self._abs(rel))
                                    for _, rel, tmp, _ in renames]) if posix else [None] * len(renames)
            for (i, rel, tmp, info), num in zip(renames, nums2, strict=True):
                err = pipe.ok(num) if num is not None else SFTPStatus(FX_OP_UNSUPPORTED)
                if err is not None and err.code == FX_OP_UNSUPPORTED:
                    self._ext["posix-rename"] = False
                    try:
                        self._publish(pipe, tmp, self._abs(rel), rel)
                        err = None
                    except SFTPStatus as exc:
                        err = exc
                if err is None:
                    results[i] = info
                else:
                    results[i] = StoreError(f"cannot write {rel}: {err.reason}")
                    pipe.send(CMD_REMOVE, tmp)
        finally:
            if not conn.alive():
                with self._dirs_lock:
                    self._orphans.extend(tmp for i, _, _, _, tmp in todo if results[i] is None)

    def read_many(self, paths: Iterable[str], *, method: str = "auto"
                  ) -> Iterator[tuple[str, bytes | StoreError]]:
        """Read many small files at once: yields ``(path, data)`` or ``(path, StoreError)``
        in the order given.  ``method`` as for :meth:`write_many` ("tar": one
        ``tar -c`` stream; "sftp": pipelined, two round trips per 64 files).
        """
        if method not in ("auto", "tar", "sftp"):
            raise ValueError(f"method must be auto, tar or sftp, not {method!r}")
        rels = [clean_relpath(p) for p in paths]
        use_tar = method == "tar" or (method == "auto" and len(rels) >= TAR_MIN_FILES
                                      and self._tar_ok is not False)
        if use_tar:
            for group in _groups(rels, TAR_MAX_FILES, ssh_tar.MAX_NAME_BYTES, lambda r: len(r) + 1):
                if self._tar_ok is not False:
                    try:
                        out = self._call("read", group[0], lambda conn, g=group: self._read_tar_group(conn, g),
                                         retry=True)
                    except StoreError as exc:
                        out = [(rel, exc) for rel in group]
                    if out is not None:
                        yield from out
                        continue
                if method == "tar":
                    raise StoreError(f"{self.display}: the server has no POSIX shell with tar")
                yield from self._read_many_sftp(group)
            return
        yield from self._read_many_sftp(rels)

    def _read_many_sftp(self, rels: list[str]) -> Iterator[tuple[str, bytes | StoreError]]:
        for start in range(0, len(rels), BATCH):
            group = rels[start:start + BATCH]
            try:
                out = self._call("read", group[0], lambda conn, g=group: self._read_group(conn, g))
            except StoreError as exc:
                out = [(rel, exc) for rel in group]
            yield from out

    def _read_tar_group(self, conn: Conn, rels: list[str]) -> list[tuple[str, bytes | StoreError]] | None:
        try:
            got, status, err = tar_create(conn, self.root, rels)
        except NoShell:
            self._tar_ok = False
            return None
        self._tar_ok = True
        lines = err.splitlines()
        out: list[tuple[str, bytes | StoreError]] = []
        for rel in rels:
            about = [ln for ln in lines if rel in ln]
            if rel not in got:
                why = "it no longer exists" if any("No such file" in ln for ln in about) else (
                    "permission denied" if any("ermission denied" in ln for ln in about)
                    else (about[0].strip() if about else "tar did not return it"))
                err = MissingPathError if why == "it no longer exists" else StoreError
                out.append((rel, err(f"cannot read {rel}: {why}")))
            elif status != 0 and any("changed" in ln for ln in about):
                out.append((rel, StoreError(f"cannot read {rel}: it changed while being read",
                                            transient=True)))
            else:
                out.append((rel, got[rel]))
        return out

    def _read_group(self, conn: Conn, rels: list[str]) -> list[tuple[str, bytes | StoreError]]:
        pipe = Pipe(conn.sftp)
        step = conn.io_read
        opens = zip(rels, pipe.send_many([(CMD_OPEN, self._abs(rel), FLAG_READ, empty_attrs())
                                          for rel in rels]), strict=True)
        handles = []
        out: dict[str, bytes | StoreError] = {}
        for rel, num in opens:
            try:
                handles.append((rel, pipe.handle(num)))
            except SFTPStatus as exc:
                out[rel] = MissingPathError(f"cannot read {rel}: it no longer exists") \
                    if exc.code == FX_NO_SUCH_FILE else StoreError(f"cannot read {rel}: {exc.reason}")
        nums = pipe.send_many([r for _, h in handles
                               for r in ((CMD_FSTAT, h), (CMD_READ, h, int64(0), step))])
        for k, (rel, h) in enumerate(handles):
            n_stat, n_first = nums[2 * k], nums[2 * k + 1]
            try:
                size = int(pipe.attrs(n_stat).st_size or 0)
                out[rel] = _collect(pipe, h, step, size, [(n_first, 0, step)])
            except SFTPStatus as exc:
                out[rel] = StoreError(f"cannot read {rel}: {exc.reason}")
        if handles:
            pipe.send_many([(CMD_CLOSE, h) for _, h in handles])  # fire and forget
        return [(rel, out[rel]) for rel in rels]


# ---------------------------------------------------------------------------
# helpers


def _info(rel: str, attrs: Any) -> FileInfo:
    mode = attrs.st_mode or 0
    mtime = int(attrs.st_mtime or 0) * 1_000_000_000
    if stat_mod.S_ISDIR(mode):
        return FileInfo(rel, 0, mtime, kind="dir")
    return FileInfo(rel, int(attrs.st_size or 0), mtime)


def _collect(pipe: Pipe, h: bytes, step: int, size: int, inflight: list[tuple[int, int, int]]) -> bytes:
    """Gather a whole file (``size`` from its fstat) whose first reads are in flight.

    Replies are consumed in order; a short read is completed before moving on, so
    the result is exact even on servers that return less than asked.
    """
    queue = deque(inflight)
    nxt = max((off + ln for _, off, ln in queue), default=0)
    parts: list[bytes] = []
    got = 0
    eof = False
    while queue:
        while not eof and len(queue) < READ_WINDOW and nxt < size:
            queue.append((pipe.send(CMD_READ, h, int64(nxt), step), nxt, step))
            nxt += step
        num, off, ln = queue.popleft()
        data = pipe.data(num)
        if eof or off != got:
            continue  # after the end of the file: drain the replies still in flight
        if data is None:
            eof = True
            continue
        parts.append(data)
        got += len(data)
        while len(data) < ln and got < off + ln:  # short read: fetch the rest of this range
            data = pipe.data(pipe.send(CMD_READ, h, int64(got), off + ln - got))
            if data is None:
                eof = True
                break
            parts.append(data)
            got += len(data)
    return b"".join(parts)


class _Reader(io.RawIOBase):
    """A remote file read with a window of pipelined requests ahead of the reader."""

    def __init__(self, store: SFTPStore, conn: Conn, pipe: Pipe, handle: bytes, size: int,
                 rel: str) -> None:
        super().__init__()
        self._store, self._conn, self._pipe, self._h = store, conn, pipe, handle
        self.size, self.name = size, rel
        self._queue: deque[tuple[int, int, int]] = deque()
        self._next = 0  # next offset to request
        self._got = 0  # bytes received, in order
        self._buf = bytearray()
        self._hit_eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        step = self._conn.io_read
        while not self._hit_eof and len(self._queue) < READ_WINDOW and (
                self._next < self.size or self._next == 0):
            self._queue.append((self._pipe.send(CMD_READ, self._h, int64(self._next), step),
                                self._next, step))
            self._next += step

    @property
    def _finished(self) -> bool:
        return not self._queue and (self._hit_eof or self._got >= self.size)

    def _pull(self) -> None:
        """Move the next reply into the buffer (dropping replies past the end)."""
        self._fill()
        if not self._queue:
            return
        num, off, ln = self._queue.popleft()
        data = self._pipe.data(num)
        if self._hit_eof or off != self._got:
            return
        if data is None:
            self._hit_eof = True
            return
        self._buf += data
        self._got += len(data)
        while len(data) < ln and self._got < off + ln:  # short read: complete this range
            data = self._pipe.data(self._pipe.send(CMD_READ, self._h, int64(self._got),
                                                   off + ln - self._got))
            if data is None:
                self._hit_eof = True
                return
            self._buf += data
            self._got += len(data)

    def read(self, size: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        try:
            self._fill()
            while not self._finished and (size < 0 or len(self._buf) < size):
                self._pull()
        except SFTPStatus as exc:
            raise StoreError(f"cannot read {self.name}: {exc.reason}") from None
        except StoreError:
            raise
        except TimeoutError as exc:  # the idle deadline passed: not retried
            idle = self._conn.idle_timeout
            self._release(broken=True)
            raise ConnectionStalled(f"cannot read {self.name}: the server did not answer for "
                                    f"{idle:g} s (fs_args timeout)") from exc
        except Exception as exc:
            self._release(broken=True)
            raise ConnectionLost(f"{self._store.display}: connection lost while reading "
                                 f"{self.name}") from exc
        n = len(self._buf) if size < 0 else min(size, len(self._buf))
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def _release(self, *, broken: bool = False) -> None:
        conn, self._conn = self._conn, None  # type: ignore[assignment]
        if conn is None:
            return
        if broken or not conn.alive():
            self._store._pool.discard(conn)
            return
        try:
            for num, _, _ in self._queue:
                self._pipe.wait(num)
            self._queue.clear()
            self._pipe.send(CMD_CLOSE, self._h)
        except Exception:  # noqa: BLE001 - a broken connection is just dropped
            self._store._pool.discard(conn)
            return
        self._store._pool.put(conn)

    def close(self) -> None:
        if not self.closed:
            try:
                if self._conn is not None:
                    self._release()
            finally:
                super().close()


def _groups(items: list[T], max_count: int, max_bytes: int, size: Callable[[T], int]) -> Iterator[list[T]]:
    """Consecutive groups of at most ``max_count`` items and about ``max_bytes``."""
    group: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if group and (len(group) >= max_count or total + n > max_bytes):
            yield group
            group, total = [], 0
        group.append(item)
        total += n
    if group:
        yield group


def _should_retry(exc: BaseException) -> bool:
    """SFTP's classifier for the retry policy: the connection was lost, or a new one
    could not be dialled for a network reason, so the call may go again on a fresh
    one; never a server's answer, a deadline (ConnectionStalled) or a cancel."""
    from synctui.storage.ssh_connect import NetworkFailure

    return isinstance(exc, (ConnectionLost, NetworkFailure)) and exc.transient and not exc.retried
