"""Locks a SIGKILLed sync left behind (issue #12, item 4): provably abandoned ones (this
host, this boot and pid namespace, the pid gone or reused) are broken without asking, and
the output and the history say so; anything less certain still takes --break-lock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_helpers import open_target
from sync_helpers import Pair, assert_no_traceback, crash_source, kill_during, run_cli
from transports import Transport, over

from synctui.errors import EXIT_LOCKED, EXIT_OK, LockHeldError
from synctui.storage.local import LocalStore
from synctui.sync import locks
from synctui.sync.locks import WRITE_LOCK, Lock, LockInfo, read_lock

needs_proc = pytest.mark.skipif(locks._boot_id() is None or locks._pid_ns() is None,
                                reason="no /proc here: nothing about a pid is provable")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def record(pid: int, **changes: object) -> dict:
    """A lock record as this host, boot and pid namespace write it, for ``pid``."""
    now = time.time()
    data = {"owner": "ghost@here", "host": socket.gethostname(), "pid": pid, "version": "0",
            "sync_id": "ghost", "mode": "write", "started": now, "heartbeat": now, "ttl": 600,
            "boot_id": locks._boot_id(), "pid_ns": locks._pid_ns(), "pid_start": locks._pid_start(pid) or 1}
    data.update(changes)
    return data


def lock_info(data: dict, where: Path) -> LockInfo:
    """``data`` as read back from a lock file."""
    store = LocalStore(str(where))
    store.write_atomic(WRITE_LOCK, json.dumps(data).encode())
    info = read_lock(store, WRITE_LOCK)
    assert info is not None
    return info


# -- what is provable --------------------------------------------------------------------------

@needs_proc
def test_a_lock_records_boot_pid_namespace_and_start_time(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    with Lock(store, "write", sync_id="me"):
        data = json.loads((tmp_path / WRITE_LOCK).read_bytes())
    assert data["boot_id"] == locks._boot_id() and data["pid_ns"] == locks._pid_ns()
    assert data["pid"] == os.getpid() and data["pid_start"] == locks._pid_start(os.getpid())


@needs_proc
def test_what_proves_a_lock_abandoned(tmp_path: Path) -> None:
    gone = dead_pid()
    assert "is gone" in lock_info(record(gone), tmp_path).abandoned_reason()
    mine = record(os.getpid())
    assert lock_info(mine, tmp_path).abandoned_reason() is None, "a live holder is never abandoned"
    reused = dict(mine, pid_start=mine["pid_start"] + 1)  # the pid now names another process
    assert "another process" in lock_info(reused, tmp_path).abandoned_reason()
    for unprovable in (record(gone, host="elsewhere"), record(gone, boot_id="another-boot"),
                       record(gone, pid_ns="pid:[1]"), {k: v for k, v in record(gone).items()
                                                         if k not in ("boot_id", "pid_ns", "pid_start")}):
        info = lock_info(unprovable, tmp_path)
        assert info.abandoned_reason() is None, unprovable


def test_without_proc_nothing_is_provable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(locks, "_read_proc", lambda path: None)
    monkeypatch.setattr(locks, "_pid_ns", lambda: None)
    info = Lock(LocalStore(str(tmp_path)), "write").info
    assert (info.boot_id, info.pid_ns, info.pid_start) == (None, None, None)
    assert lock_info(json.loads(info.to_json()), tmp_path).abandoned_reason() is None


@needs_proc
def test_an_abandoned_lock_is_broken_without_asking_and_a_doubtful_one_is_not(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    store.write_atomic(WRITE_LOCK, json.dumps(record(dead_pid(), boot_id="another-boot")).encode())
    with pytest.raises(LockHeldError):
        Lock(store, "write").acquire()
    store.write_atomic(WRITE_LOCK, json.dumps(record(dead_pid())).encode())
    lock = Lock(store, "write").acquire()
    try:
        assert [(b.sync_id, "is gone" in why) for b, why in lock.broken if why] == [("ghost", True)]
        assert read_lock(store, WRITE_LOCK).sync_id == lock.info.sync_id
    finally:
        lock.release()


# -- a real sync, SIGKILLed, then a plain one ----------------------------------------------------

def sync_cmd(pair: Pair, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", pair.src, "-t", pair.dst,
            "--max-workers", "1", *extra]


@needs_proc
@over(["local", "ssh-target", "dav-target", "nginx-target"])
def test_the_lock_of_a_sigkilled_sync_is_broken_by_the_next_one(tmp_path: Path, transport: Transport) -> None:
    source = crash_source(3, runs=2, big=1 << 20)
    pair = Pair(tmp_path, source_files=source, transport=transport)
    env = dict(os.environ)
    _, killed = kill_during(sync_cmd(pair), pair.dst_root, 0.0, env, first_file=True)
    assert killed, "the sync finished before the kill: make the project bigger"
    assert (pair.dst_root / WRITE_LOCK).exists(), "SIGKILL leaves the lock behind"
    res = subprocess.run(sync_cmd(pair), capture_output=True, text=True, env=env, timeout=180)
    assert_no_traceback(res.stderr)
    assert res.returncode == EXIT_OK, res.stderr
    said = [line for line in res.stderr.splitlines() if "abandoned lock" in line]
    assert len(said) == 1 and "automatically" in said[0] and "is gone" in said[0], res.stderr
    assert pair.target_tree() == pair.source_tree()
    assert not (pair.dst_root / WRITE_LOCK).exists()
    history = json.loads(run_cli("history", "--json", env=env).stdout)
    assert history[0]["status"] == "ok" and "abandoned lock" in (history[0]["note"] or "")
    assert history[1]["status"] == "interrupted"


@needs_proc
@over(["local", "ssh-target", "dav-target"])
@pytest.mark.parametrize("whose", ["another host", "another boot"])
def test_a_dead_lock_that_is_not_provably_ours_still_exits_3(tmp_path: Path, transport: Transport,
                                                             whose: str) -> None:
    pair = Pair(tmp_path, transport=transport)
    data = record(dead_pid(), **({"host": "elsewhere"} if whose == "another host" else {"boot_id": "b00t"}))
    store = open_target(pair.dst)
    try:
        store.write_atomic(WRITE_LOCK, json.dumps(data).encode())
    finally:
        store.close()
    res = run_cli("sync", "--no-progress", "-s", pair.src, "-t", pair.dst)
    assert res.returncode == EXIT_LOCKED, res.stderr
    assert "ghost" in res.stderr and "abandoned" not in res.stderr
    assert pair.target_tree() == {}
    assert json.loads((pair.dst_root / WRITE_LOCK).read_bytes())["sync_id"] == "ghost"
