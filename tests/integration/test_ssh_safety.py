"""Issue #6's safety guarantees from the command line, with the target on the test sshd
(and, where it costs little, on a wsgidav WebDAV server): a stale lock is reported and
broken only with ``--break-lock``, a live one never; SIGTERM releases the lock; a target
file edited between two syncs is a conflict that only ``--overwrite-conflicts`` overwrites.

The rest of #6 on SSH and WebDAV targets lives with the local tests it mirrors:
tests/sync/test_locks.py (lock races between processes), test_state.py (state batches
after a SIGKILL, conflicts through the API), test_prune_trash.py (trash, --max-delete,
failed listings) and tests/cli/test_watch.py (the watch journal after a SIGKILL).

On loopback a remote root is also a folder here, so trees and lock files are checked
on disk directly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_helpers import data_files, open_target, run_main, wait_until
from sync_helpers import (
    OLD_MTIME,
    SRC_MTIME,
    Pair,
    assert_no_traceback,
    basic_source,
    picks_path,
    read_tree,
    temp_files,
    tomo_path,
    write_tree,
    zarr_files,
)
from transports import Transport

from synctui.errors import EXIT_CANCELLED, EXIT_CONFLICTS, EXIT_LOCKED, EXIT_OK
from synctui.sync.locks import WRITE_LOCK, Lock, read_lock

pytestmark = pytest.mark.integration

SSH_AND_DAV = ["ssh-target", "dav-target"]
WRITE_LOCK_FILE = Path(WRITE_LOCK)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _stale_lock(store, why: str) -> None:
    now = time.time()
    if why == "dead-pid":  # fresh heartbeat, but the process on this host is gone
        host, pid, heartbeat = socket.gethostname(), _dead_pid(), now
    else:  # another host, silent for an hour
        host, pid, heartbeat = "elsewhere", 1, now - 3600
    data = {"owner": f"ghost@{host}", "host": host, "pid": pid, "version": "0.0", "sync_id": "ghost",
            "mode": "write", "started": heartbeat - 10, "heartbeat": heartbeat, "ttl": 120}
    store.write_atomic(WRITE_LOCK, json.dumps(data).encode())


@pytest.mark.parametrize("why", ["dead-pid", "old-heartbeat"])
@pytest.mark.parametrize("transport", SSH_AND_DAV, indirect=True)
def test_stale_lock_is_reported_and_broken_only_with_break_lock(
        transport: Transport, tmp_path: Path, capsys, why: str) -> None:
    pair = Pair(tmp_path, transport=transport)
    store = open_target(pair.dst)
    try:
        _stale_lock(store, why)
    finally:
        store.close()
    sync = ("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    code, out, err = run_main(capsys, *sync)
    assert code == EXIT_LOCKED, err
    assert "stale" in err and "ghost" in err and "--break-lock" in err and len(err.strip().splitlines()) == 1
    assert pair.target_tree() == {}, "nothing written while locked"
    code, out, err = run_main(capsys, "locks", pair.dst)
    assert code == EXIT_OK and "stale" in out and "ghost" in out
    code, out, err = run_main(capsys, *sync, "--break-lock")
    assert code == EXIT_OK, err
    assert "broke stale lock on target" in err and "ghost" in err
    assert pair.target_tree() == pair.source_tree()
    assert not (pair.dst_root / WRITE_LOCK_FILE).exists()


@pytest.mark.parametrize("transport", ["ssh-target"], indirect=True)
def test_a_live_lock_is_never_broken(transport: Transport, tmp_path: Path, capsys) -> None:
    pair = Pair(tmp_path, transport=transport)
    store = open_target(pair.dst)
    try:
        with Lock(store, "write", sync_id="alive-sync"):
            code, out, err = run_main(capsys, "sync", "-s", pair.src, "-t", pair.dst, "--no-progress",
                                      "--break-lock")
            assert code == EXIT_LOCKED and "alive-sync" in err and "stale" not in err, err
            assert read_lock(store, WRITE_LOCK).sync_id == "alive-sync"
    finally:
        store.close()
    assert pair.target_tree() == {}


def _slow_source() -> dict[str, bytes]:
    """Enough to keep a one-worker sync busy for a while: ~60 big files."""
    files = basic_source(("TS_001",))
    for r in range(3):
        files.update(zarr_files(tomo_path(f"TS_1{r:02d}"), chunks=20, chunk_size=512 * 1024, seed=r))
    return files


@pytest.mark.parametrize("transport", SSH_AND_DAV, indirect=True)
def test_sigterm_cancels_cleanly_and_releases_the_lock(transport: Transport, tmp_path: Path) -> None:
    source = _slow_source()
    pair = Pair(tmp_path, source, transport=transport)
    cmd = [sys.executable, "-m", "synctui", "sync", "-s", pair.src, "-t", pair.dst, "--no-progress",
           "-j", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    lock = pair.dst_root / WRITE_LOCK_FILE
    # under way: the lock is held and some files are in place
    wait_until(lambda: proc.poll() is not None or (lock.exists() and len(data_files(pair.dst_root)) >= 3),
               timeout=60, step=0.005)
    assert proc.poll() is None, "the sync ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert_no_traceback(out + err)
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, err)
    assert "Summary (cancelled)" in out
    assert not lock.exists(), "the lock is released on SIGTERM"
    tree = pair.target_tree()
    assert 0 < len(tree) < len(source)
    for rel, data in tree.items():
        assert data == source[rel], f"partial file at a final path: {rel}"
    # the next run needs no --break-lock and finishes the job
    res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert res.returncode == EXIT_OK, res.stderr
    assert pair.target_tree() == pair.source_tree()
    assert temp_files(pair.dst_root) == []


@pytest.mark.parametrize("transport", SSH_AND_DAV, indirect=True)
def test_target_edited_between_two_syncs_is_a_conflict(transport: Transport, tmp_path: Path,
                                                       capsys) -> None:
    pair = Pair(tmp_path, transport=transport)
    sync = ("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    code, _, err = run_main(capsys, *sync)
    assert code == EXIT_OK, err
    rel = picks_path("TS_001", "bob", "0", "membrane")
    edited = pair.src_files[rel].replace(b'"score": 0.5', b'"score": 0.9')
    assert len(edited) == len(pair.src_files[rel])
    # edited on the server, same size, with an old mtime: only the record tells it changed
    write_tree(pair.dst_root, {rel: edited}, mtime=OLD_MTIME)
    changed = pair.src_files[rel].replace(b'"score": 0.5', b'"score": 0.7')
    write_tree(pair.src_root, {rel: changed}, mtime=SRC_MTIME + 100)

    code, out, err = run_main(capsys, "plan", "-s", pair.src, "-t", pair.dst, "--json")
    assert code == EXIT_OK, err
    entities = json.loads(out)["entities"]
    conflicts = [e for e in entities if e["action"] == "conflict"]
    assert len(conflicts) == 1 and "changed since the last sync" in conflicts[0]["reason"]
    assert [f[1] for f in conflicts[0]["files"]] == [rel]
    assert {e["action"] for e in entities} == {"conflict", "skip"}

    code, out, err = run_main(capsys, *sync)
    assert code == EXIT_OK and "conflicts: 1 entity left untouched" in out, err
    assert (pair.dst_root / rel).read_bytes() == edited, "a conflict is never overwritten"
    code, out, err = run_main(capsys, *sync, "--fail-on-conflict")
    assert code == EXIT_CONFLICTS and (pair.dst_root / rel).read_bytes() == edited

    code, out, err = run_main(capsys, *sync, "--overwrite-conflicts")
    assert code == EXIT_OK, err
    assert (pair.dst_root / rel).read_bytes() == changed
    assert read_tree(pair.dst_root) == pair.source_tree()
    code, out, err = run_main(capsys, "plan", "-s", pair.src, "-t", pair.dst, "--json")
    assert {e["action"] for e in json.loads(out)["entities"]} == {"skip"}
