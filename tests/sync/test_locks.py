"""Locks: readers share, a writer excludes all, stale locks are seen and broken only on request.

Every test runs on a local root, on an SFTP root served by the test sshd and on a
wsgidav WebDAV root (``backend``): the lock protocol is built on each store's
exclusive create, so each store's version of it is raced here.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from safety_helpers import wait_until

from synctui.errors import LockHeldError
from synctui.storage.base import TEMP_PREFIX
from synctui.sync.locks import LOCK_DIR, WRITE_LOCK, Lock, list_locks, read_lock

BACKENDS = ["local", pytest.param("ssh", marks=pytest.mark.integration),
            pytest.param("dav", marks=pytest.mark.integration),
            pytest.param("s3-moto", marks=pytest.mark.integration),
            pytest.param("s3-seaweedfs", marks=pytest.mark.integration),
            pytest.param("smb", marks=pytest.mark.integration)]


@dataclass
class Root:
    """A lock root: how to open a store on it (picklable, for other processes) and where
    it is on this disk (the sshd and wsgidav serve folders of this machine)."""

    kind: str
    url: str
    fs_args: dict[str, Any] | None
    disk: Path


def open_root(kind: str, url: str, fs_args: dict[str, Any] | None):
    """A store on the root; a module-level function, so a spawned process can call it."""
    if kind == "local":
        from synctui.storage.local import LocalStore

        return LocalStore(url)
    from synctui.storage.open import open_store
    from synctui.storage.url import parse_location

    return open_store(parse_location(url, fs_args))


@pytest.fixture(params=BACKENDS)
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Root:
    kind = request.param
    if kind == "local":
        return Root("local", str(tmp_path / "root"), None, tmp_path / "root")
    if kind == "ssh":
        remote = request.getfixturevalue("remote")
        disk = tmp_path / "root"
        disk.mkdir()
        return Root("ssh", f"ssh://{disk}", remote.fs_args(), disk)
    if kind.startswith("s3-"):  # a fresh bucket; ``disk`` is a pathlib-like view of it
        from s3_servers import s3_root

        bucket = s3_root(request, kind[3:])
        return Root(kind, bucket.url("root"), bucket.fs_args(), bucket.path("root"))  # type: ignore[arg-type]
    if kind == "smb":
        share = request.getfixturevalue("smb")
        return Root("smb", share.url(), share.fs_args(), share.disk)
    dav = request.getfixturevalue("wsgidav_dav")
    return Root("dav", dav.url, None, dav.disk)


@pytest.fixture
def store(root: Root):
    s = open_root(root.kind, root.url, root.fs_args)
    yield s
    s.close()


def test_writer_excludes_writer_and_names_the_holder(store) -> None:
    with Lock(store, "write", sync_id="first"):
        with pytest.raises(LockHeldError) as err:
            Lock(store, "write").acquire()
        msg = str(err.value)
        assert "write lock held by" in msg and "first" in msg and f"pid {os.getpid()}" in msg
        assert "\n" not in msg
    # released: a new writer gets it
    Lock(store, "write").acquire().release()
    assert not store.exists(WRITE_LOCK)


def test_readers_share_but_exclude_a_writer(store) -> None:
    r1 = Lock(store, "read").acquire()
    r2 = Lock(store, "read").acquire()
    with pytest.raises(LockHeldError, match="read lock held by"):
        Lock(store, "write").acquire()
    assert not store.exists(WRITE_LOCK), "a writer that backs off leaves no lock behind"
    r1.release()
    r2.release()
    with Lock(store, "write"):
        with pytest.raises(LockHeldError, match="write lock held by"):
            Lock(store, "read").acquire()
    assert list_locks(store) == []


def test_a_writer_reads_no_lock_file_but_the_readers_it_must_check(tmp_path: Path, monkeypatch) -> None:
    """Each lock file read is round trips on a remote root (3 at 20 ms RTT over SFTP):
    the writer's second look reads the read locks only, never its own lock."""
    from synctui.storage.local import LocalStore

    store = LocalStore(str(tmp_path / "root"))
    reads: list[str] = []
    real = store.read_bytes
    monkeypatch.setattr(store, "read_bytes", lambda path: reads.append(path) or real(path))
    with Lock(store, "write"):
        assert reads == []
    reader = Lock(store, "read").acquire()
    reads.clear()
    with pytest.raises(LockHeldError, match="read lock held by"):
        Lock(store, "write").acquire()
    # the reader that blocks it; then, backing off, its own lock (checked before removal)
    assert reads == [reader.path, WRITE_LOCK]
    reader.release()


def test_lock_records_owner_pid_version_mode_and_heartbeat(store) -> None:
    lock = Lock(store, "write", sync_id="abc", ttl=2.0).acquire()
    try:
        info = read_lock(store, WRITE_LOCK)
        assert info is not None
        assert "@" in info.owner and info.pid == os.getpid() and info.mode == "write"
        assert info.sync_id == "abc" and info.version
        first = info.heartbeat
        # every ttl/4 = 0.5 s (floored at 0.5 s); generous for a busy machine
        # (wsgidav's MOVE over an existing file is delete-then-move: a read can find nothing)
        assert wait_until(lambda: (now := read_lock(store, WRITE_LOCK)) is not None
                          and now.heartbeat > first, timeout=15), "the heartbeat is refreshed while held"
    finally:
        lock.release()


def _fake_lock(store, path: str, *, pid: int, heartbeat: float, ttl: float = 60,
               host: str = "elsewhere") -> None:
    data = {"owner": f"ghost@{host}", "host": host, "pid": pid, "version": "0.0",
            "sync_id": "ghost", "mode": "write", "started": heartbeat - 10, "heartbeat": heartbeat, "ttl": ttl}
    store.write_atomic(path, json.dumps(data).encode())


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("why", ["old-heartbeat", "dead-pid"])
def test_stale_lock_is_reported_and_broken_only_on_request(store, why: str) -> None:
    if why == "old-heartbeat":
        _fake_lock(store, WRITE_LOCK, pid=1, heartbeat=time.time() - 3600)
        reason = "no heartbeat"
    else:  # fresh heartbeat, but its process on this host is gone
        _fake_lock(store, WRITE_LOCK, pid=dead_pid(), heartbeat=time.time(), ttl=600,
                   host=socket.gethostname())
        reason = "is gone"
    with pytest.raises(LockHeldError) as err:
        Lock(store, "write").acquire()
    assert "stale" in str(err.value) and reason in str(err.value) and "--break-lock" in str(err.value)
    # the interfaces decide by the fields, never by the text
    held = err.value
    assert held.stale and reason in (held.stale_reason or "") and held.owner.startswith("ghost@")
    assert held.holder == f"{held.owner} (pid {held.pid})" and "--break-lock" not in held.detail
    assert read_lock(store, WRITE_LOCK).sync_id == "ghost", "reported, not broken"
    with pytest.raises(LockHeldError):
        Lock(store, "read").acquire()
    lock = Lock(store, "write", break_stale=True).acquire()
    assert [b.sync_id for b, _ in lock.broken] == ["ghost"]
    assert read_lock(store, WRITE_LOCK).sync_id == lock.info.sync_id
    lock.release()
    assert list_locks(store) == []


def test_dead_pid_on_this_host_is_stale(store) -> None:
    data = {"owner": "me@here", "host": socket.gethostname(), "pid": dead_pid(), "version": "0",
            "sync_id": "dead", "mode": "write", "started": time.time(), "heartbeat": time.time(), "ttl": 600}
    store.write_atomic(WRITE_LOCK, json.dumps(data).encode())
    info = read_lock(store, WRITE_LOCK)
    assert info.is_stale and "is gone" in info.stale_reason()


def test_live_lock_is_never_broken(store) -> None:
    with Lock(store, "write", sync_id="alive"):
        with pytest.raises(LockHeldError) as err:
            Lock(store, "write", break_stale=True).acquire()
        assert read_lock(store, WRITE_LOCK).sync_id == "alive"
    assert not err.value.stale and err.value.stale_reason is None and err.value.age is not None


# -- two processes racing ------------------------------------------------------------------------

ROUNDS = 50


def _race(root: Root, mode: str, barrier, holders: str, rounds: int, hold: float, results) -> None:
    """``rounds`` times: at the barrier, try to take the lock; while holding it, look for
    another holder's marker.  Reports "held", "busy" or "clash" per round."""
    out: list[str] = []
    store = None
    try:
        store = open_root(root.kind, root.url, root.fs_args)
        for _ in range(rounds):
            barrier.wait(60)
            out.append(_one_round(store, mode, holders, hold))
            barrier.wait(60)  # both are done before the next round starts
    except BaseException as exc:  # noqa: BLE001 - reported to the test, not lost in a child
        out.append(f"error: {type(exc).__name__}: {exc}")
        barrier.abort()
    finally:
        if store is not None:
            store.close()
        results.put(out)


def _one_round(store, mode: str, holders: str, hold: float) -> str:
    try:
        lock = Lock(store, mode).acquire()
    except LockHeldError:
        return "busy"
    marker = os.path.join(holders, f"{mode}-{os.getpid()}")
    open(marker, "w").close()
    time.sleep(hold)
    others = [m for m in os.listdir(holders) if not m.endswith(str(os.getpid()))]
    clash = any(o.startswith("write") for o in others) or (mode == "write" and others)
    os.unlink(marker)
    lock.release()
    return "clash" if clash else "held"


@pytest.mark.parametrize("modes", [("write", "write"), ("read", "write")], ids=["write-write", "read-write"])
def test_racing_processes_never_both_hold(root: Root, tmp_path: Path, modes: tuple[str, str]) -> None:
    """Two processes, 50 rounds, started together by a barrier: never both holders.

    Each process opens its own store (its own SSH or HTTP connection).  Remote roots use
    ``spawn``: a forked child must not inherit paramiko transports or server threads."""
    ctx = mp.get_context("fork" if root.kind == "local" else "spawn")
    holders = tmp_path / "holders"
    holders.mkdir()
    hold = 0.02 if root.kind == "local" else 0.03  # longer than a remote acquire's round trips
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(root, m, barrier, str(holders), ROUNDS, hold, results))
             for m in modes]
    for p in procs:
        p.start()
    outcomes: list[str] = []
    for _ in procs:
        outcomes += results.get(timeout=240)
    for p in procs:
        p.join(30)
    print({o: outcomes.count(o) for o in set(outcomes)})
    errors = [o for o in outcomes if o.startswith("error")]
    assert errors == []
    assert len(outcomes) == 2 * ROUNDS
    assert "clash" not in outcomes
    assert "held" in outcomes
    if modes == ("write", "write"):
        assert "busy" in outcomes, "the two never met: the race tested nothing"
    lock_dir = root.disk / LOCK_DIR
    left = sorted(p.name for p in lock_dir.iterdir()) if lock_dir.exists() else []
    assert not [n for n in left if n.startswith(("write", "read-"))], f"every lock was released: {left}"
    assert not [n for n in left if n.startswith(TEMP_PREFIX)], f"no temp files left: {left}"
