"""Locks on project roots: readers share, a writer excludes everyone.

Built only on the store's exclusive create (O_EXCL/link locally, SFTP's
exclusive open, WebDAV ``If-None-Match: *``), so it works on every store with
no check-then-write race:

* a writer creates ``.synctui-lock/write.json`` exclusively, then lists the
  readers; if a live reader is there it backs off;
* a reader creates ``.synctui-lock/read-<id>.json``, then looks for the writer;
  if a live writer is there it backs off.

Whatever the interleaving, a reader and a writer never both hold: the one that
looks second sees the other.  A lock records who holds it and a heartbeat that a
thread refreshes; one whose heartbeat is older than its TTL, or whose pid is
gone on this host, is *stale*: shown as such, broken only when asked.

One that is *provably abandoned* is broken without asking (and said so): it was
written on this host, in this boot and pid namespace, and its pid is gone or now
belongs to a process that started at another time (``/proc/<pid>/stat`` field 22).
Without ``/proc`` nothing is provable, and records from before these fields stay
explicit too.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass

from synctui import __version__
from synctui.errors import LockHeldError, StoreError
from synctui.storage.base import Store

LOCK_DIR = ".synctui-lock"
WRITE_LOCK = f"{LOCK_DIR}/write.json"
DEFAULT_TTL = 120.0


def _me() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass
class LockInfo:
    """What a lock file says, plus what we concluded about it."""

    owner: str
    host: str
    pid: int
    version: str
    sync_id: str
    mode: str  # "read" or "write"
    started: float
    heartbeat: float
    ttl: float
    path: str = ""
    #: what proves abandonment (None in records of older versions, or without /proc):
    #: the kernel's boot id, the holder's pid namespace and its pid's start time in ticks
    boot_id: str | None = None
    pid_ns: str | None = None
    pid_start: int | None = None

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.started)

    @property
    def heartbeat_age(self) -> float:
        return max(0.0, time.time() - self.heartbeat)

    def stale_reason(self) -> str | None:
        if self.heartbeat_age > self.ttl:
            return f"no heartbeat for {self.heartbeat_age:.0f} s (TTL {self.ttl:.0f} s)"
        if self.host == socket.gethostname() and not _pid_alive(self.pid):
            return f"process {self.pid} on this host is gone"
        return None

    def abandoned_reason(self) -> str | None:
        """Why this lock is provably abandoned (then broken without asking), or None."""
        if not (self.boot_id and self.pid_ns and self.pid_start is not None):
            return None  # an older record, or written where /proc is missing
        if self.host != socket.gethostname() or self.boot_id != _boot_id() or self.pid_ns != _pid_ns():
            return None  # another machine, boot or container: its pids mean nothing here
        start = _pid_start(self.pid)
        if start is None:
            return f"process {self.pid} on this host is gone" if not _pid_alive(self.pid) else None
        if start != self.pid_start:
            return f"process {self.pid} on this host ended (the pid now belongs to another process)"
        return None

    @property
    def is_stale(self) -> bool:
        return self.stale_reason() is not None

    def describe(self) -> str:
        from synctui.format import human_duration

        state = f"stale: {self.stale_reason()}" if self.is_stale else \
            f"heartbeat {human_duration(self.heartbeat_age)} ago"
        return (f"{self.mode} lock held by {self.owner} (pid {self.pid}, sync {self.sync_id}) "
                f"for {human_duration(self.age)}, {state}")

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("path")
        return json.dumps(data).encode()


def _read_proc(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _boot_id() -> str | None:
    text = _read_proc("/proc/sys/kernel/random/boot_id")
    return text.strip() or None if text else None


def _pid_ns() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _pid_start(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (None: no such process, or no /proc)."""
    text = _read_proc(f"/proc/{int(pid)}/stat")
    if not text:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the name may hold spaces and parentheses
    try:
        return int(fields[19])  # field 22; fields[0] is field 3
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock(store: Store, path: str) -> LockInfo | None:
    """The lock at ``path`` (None: there is none); an unparsable one counts as stale
    garbage.  A transient store error propagates: "cannot tell" is not "no lock"."""
    try:
        raw = store.read_bytes(path)
    except StoreError as exc:
        if exc.transient:
            raise
        return None
    try:
        data = json.loads(raw)
        info = LockInfo(**{k: data[k] for k in ("owner", "host", "pid", "version", "sync_id", "mode",
                                                 "started", "heartbeat", "ttl")}, path=path)
        boot_id, pid_ns, pid_start = data.get("boot_id"), data.get("pid_ns"), data.get("pid_start")
        if isinstance(boot_id, str) and isinstance(pid_ns, str) and type(pid_start) is int:
            info.boot_id, info.pid_ns, info.pid_start = boot_id, pid_ns, pid_start
        return info
    except (ValueError, KeyError, TypeError):
        return LockInfo("unknown", "", 0, "", "", "write" if path == WRITE_LOCK else "read",
                        0.0, 0.0, 0.0, path)


def list_locks(store: Store, mode: str | None = None) -> list[LockInfo]:
    """Every lock on a root (for the app's header and `synctui locks`), or only the
    ``mode`` ones: picked by name before any is read, since each read is round trips."""
    out = []
    for info in store.scan(LOCK_DIR):
        name = info.path.rsplit("/", 1)[-1]
        is_write = name == "write.json"
        if name.endswith(".json") and (is_write or name.startswith("read-")) \
                and mode in (None, "write" if is_write else "read"):
            lock = read_lock(store, info.path)
            if lock is not None:
                out.append(lock)
    return out


class Lock:
    """One held lock; ``acquire`` raises LockHeldError naming the holder."""

    def __init__(self, store: Store, mode: str, *, sync_id: str = "", ttl: float = DEFAULT_TTL,
                 break_stale: bool = False, label: str = "") -> None:
        if mode not in ("read", "write"):
            raise ValueError(mode)
        self.store = store
        self.mode = mode
        self.ttl = ttl
        self.break_stale = break_stale
        self.label = label or store.location.display
        now = time.time()
        pid = os.getpid()
        self.info = LockInfo(_me(), socket.gethostname(), pid, __version__,
                             sync_id or uuid.uuid4().hex[:12], mode, now, now, ttl,
                             boot_id=_boot_id(), pid_ns=_pid_ns(), pid_start=_pid_start(pid))
        self.path = WRITE_LOCK if mode == "write" else f"{LOCK_DIR}/read-{uuid.uuid4().hex[:12]}.json"
        self.held = False
        self.lost = False
        #: the locks we broke, each with why it was provably abandoned (broken without
        #: asking), or None (a stale one, broken because we were asked to)
        self.broken: list[tuple[LockInfo, str | None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- acquire / release -------------------------------------------------------------
    def acquire(self) -> Lock:
        if not self.store.create_exclusive(self.path, self.info.to_json()):
            holder = read_lock(self.store, self.path)
            if holder is None or not self._may_break(holder):
                raise self._held_error(holder)
            self._break(holder)
            if not self.store.create_exclusive(self.path, self.info.to_json()):
                raise self._held_error(read_lock(self.store, self.path))
        self.held = True
        try:
            self._check_others()
        except BaseException:
            self.release()
            raise
        self._thread = threading.Thread(target=self._beat, name="synctui-lock", daemon=True)
        self._thread.start()
        return self

    def _check_others(self) -> None:
        """Second look: back off if the opposite side got there first."""
        if self.mode == "write":
            others = list_locks(self.store, "read")
        else:
            writer = read_lock(self.store, WRITE_LOCK)
            others = [writer] if writer is not None else []
        for other in others:
            if self._may_break(other):
                self._break(other)
                continue
            raise self._held_error(other)

    def _may_break(self, other: LockInfo) -> bool:
        """Stale locks when asked; provably abandoned ones always."""
        return (self.break_stale and other.is_stale) or other.abandoned_reason() is not None

    def _break(self, other: LockInfo) -> None:
        """Move a stale lock aside by rename, so two breakers cannot both win."""
        why = other.abandoned_reason()
        aside = f"{LOCK_DIR}/broken-{uuid.uuid4().hex[:12]}.json"
        try:
            self.store.rename(other.path, aside)
        except StoreError:
            return  # someone else broke it first
        moved = read_lock(self.store, aside)
        if moved is not None and moved.sync_id != other.sync_id and not moved.is_stale:
            # we grabbed a fresh lock that replaced the stale one: put it back
            self.store.create_exclusive(other.path, self.store.read_bytes(aside))
            self.store.remove(aside)
            return
        self.store.remove(aside)
        self.broken.append((other, why))

    def _held_error(self, holder: LockInfo | None) -> LockHeldError:
        if holder is None:
            return LockHeldError(f"{self.label}: locked by another sync (lock vanished while reading it; retry)")
        stale_reason = holder.stale_reason()
        detail = f"{self.label}: {holder.describe()}"
        hint = " — use --break-lock to break it" if stale_reason else ""
        return LockHeldError(detail + hint, owner=holder.owner, pid=holder.pid, age=holder.age,
                             stale=stale_reason is not None, stale_reason=stale_reason, detail=detail)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.held:
            self.held = False
            try:
                current = read_lock(self.store, self.path)
                if current is not None and current.sync_id == self.info.sync_id:
                    self.store.remove(self.path)
            except StoreError:
                pass

    def _beat(self) -> None:
        interval = max(0.5, self.ttl / 4)
        while not self._stop.wait(interval):
            self.info.heartbeat = time.time()
            try:
                current = read_lock(self.store, self.path)
                if current is None or current.sync_id != self.info.sync_id:
                    self.lost = True  # broken by someone else: the engine stops writing
                    return
                self.store.write_atomic(self.path, self.info.to_json())
            except StoreError:
                continue  # next beat retries; staleness needs a whole TTL of failures

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
