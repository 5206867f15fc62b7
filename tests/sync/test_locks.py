"""Locks: readers share, a writer excludes all, stale locks are seen and broken only on request."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from synctui.errors import LockHeldError
from synctui.storage.local import LocalStore
from synctui.sync.locks import LOCK_DIR, WRITE_LOCK, Lock, list_locks, read_lock


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(str(tmp_path / "root"))


def test_writer_excludes_writer_and_names_the_holder(store: LocalStore) -> None:
    with Lock(store, "write", sync_id="first"):
        with pytest.raises(LockHeldError) as err:
            Lock(store, "write").acquire()
        msg = str(err.value)
        assert "write lock held by" in msg and "first" in msg and f"pid {os.getpid()}" in msg
        assert "\n" not in msg
    # released: a new writer gets it
    Lock(store, "write").acquire().release()
    assert not store.exists(WRITE_LOCK)


def test_readers_share_but_exclude_a_writer(store: LocalStore) -> None:
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


def test_lock_records_owner_pid_version_mode_and_heartbeat(store: LocalStore) -> None:
    lock = Lock(store, "write", sync_id="abc", ttl=2.0).acquire()
    try:
        info = read_lock(store, WRITE_LOCK)
        assert info is not None
        assert "@" in info.owner and info.pid == os.getpid() and info.mode == "write"
        assert info.sync_id == "abc" and info.version
        first = info.heartbeat
        time.sleep(1.3)  # ttl/4 = 0.5 s, floored at 0.5 s
        later = read_lock(store, WRITE_LOCK)
        assert later is not None and later.heartbeat > first, "the heartbeat is refreshed while held"
    finally:
        lock.release()


def _fake_lock(store: LocalStore, path: str, *, pid: int, heartbeat: float, ttl: float = 60) -> None:
    data = {"owner": "ghost@elsewhere", "host": "elsewhere", "pid": pid, "version": "0.0",
            "sync_id": "ghost", "mode": "write", "started": heartbeat - 10, "heartbeat": heartbeat, "ttl": ttl}
    store.write_atomic(path, json.dumps(data).encode())


def test_stale_lock_is_reported_and_broken_only_on_request(store: LocalStore) -> None:
    _fake_lock(store, WRITE_LOCK, pid=1, heartbeat=time.time() - 3600)
    with pytest.raises(LockHeldError) as err:
        Lock(store, "write").acquire()
    assert "stale" in str(err.value) and "--break-lock" in str(err.value)
    lock = Lock(store, "write", break_stale=True).acquire()
    assert [b.sync_id for b in lock.broken] == ["ghost"]
    assert read_lock(store, WRITE_LOCK).sync_id == lock.info.sync_id
    lock.release()


def test_dead_pid_on_this_host_is_stale(store: LocalStore) -> None:
    proc = mp.get_context("fork").Process(target=time.sleep, args=(0,))
    proc.start()
    proc.join()
    import socket

    data = {"owner": "me@here", "host": socket.gethostname(), "pid": proc.pid, "version": "0",
            "sync_id": "dead", "mode": "write", "started": time.time(), "heartbeat": time.time(), "ttl": 600}
    store.write_atomic(WRITE_LOCK, json.dumps(data).encode())
    info = read_lock(store, WRITE_LOCK)
    assert info.is_stale and "is gone" in info.stale_reason()


def test_live_lock_is_never_broken(store: LocalStore) -> None:
    with Lock(store, "write", sync_id="alive"):
        with pytest.raises(LockHeldError):
            Lock(store, "write", break_stale=True).acquire()
        assert read_lock(store, WRITE_LOCK).sync_id == "alive"


def _race(root: str, mode: str, barrier, holders: str, results) -> None:
    store = LocalStore(root)
    barrier.wait()
    try:
        lock = Lock(store, mode).acquire()
    except LockHeldError:
        results.put("busy")
        return
    marker = os.path.join(holders, f"{mode}-{os.getpid()}")
    open(marker, "w").close()
    time.sleep(0.02)
    others = [m for m in os.listdir(holders) if not m.endswith(str(os.getpid()))]
    clash = any(o.startswith("write") for o in others) or (mode == "write" and others)
    os.unlink(marker)
    lock.release()
    results.put("clash" if clash else "held")


@pytest.mark.parametrize("modes", [("write", "write"), ("read", "write")])
def test_racing_processes_never_both_hold(tmp_path: Path, modes: tuple[str, str]) -> None:
    ctx = mp.get_context("fork")
    root = tmp_path / "root"
    holders = tmp_path / "holders"
    holders.mkdir()
    outcomes: list[str] = []
    for _ in range(50):
        barrier = ctx.Barrier(2)
        results = ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(root), m, barrier, str(holders), results)) for m in modes]
        for p in procs:
            p.start()
        for p in procs:
            p.join(10)
        outcomes += [results.get(timeout=5) for _ in procs]
    assert "clash" not in outcomes
    assert "held" in outcomes
    assert not any(n.startswith("write") for n in os.listdir(root / LOCK_DIR)), "every lock was released"
