"""The whole engine with an SSH target and with an SSH source, against a real sshd.

On loopback the remote root is also a local folder, so the trees are checked
directly.  Covers: first sync and a no-op second, incremental updates, stale keys
into the trash, name mapping, relayed ssh -> ssh, locks, a dropped connection
mid-transfer (retried, the sync completes) and a SIGKILLed sync (nothing partial).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from server_fixtures import Remote
from sync_helpers import (
    SRC_MTIME,
    TRASH,
    Pair,
    assert_no_traceback,
    basic_source,
    picks_json,
    picks_path,
    read_tree,
    run_dropping_sessions,
    temp_files,
    tomo_path,
    zarr_files,
)

from synctui.errors import EXIT_LOCKED, EXIT_OK, LockHeldError
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.events import ItemRetry
from synctui.sync.plan import PlanOptions
from synctui.sync.rules import RuleSet

DIRECTIONS = ["local-to-ssh", "ssh-to-local", "ssh-to-ssh"]


def make_pair(remote: Remote, base: Path, direction: str, **kw) -> Pair:
    pair = Pair(base, **kw)
    if direction in ("ssh-to-local", "ssh-to-ssh"):
        remote.ssh_config(pair.source_config, root=pair.src_root)
    if direction in ("local-to-ssh", "ssh-to-ssh"):
        remote.ssh_config(pair.target_config, root=pair.dst_root)
    return pair


def job(pair: Pair, rules: RuleSet | None = None, options: PlanOptions | None = None,
        **kw) -> SyncJob:
    opts = JobOptions(max_workers=kw.pop("max_workers", 4), fsync=False, **kw)
    return SyncJob(pair.src, pair.dst, rules, options=options, job_options=opts)


def close(j: SyncJob) -> None:
    for cat in (j.source, j.target):
        for store in (cat.stores.values() if cat else ()):
            store.close()


def run(pair: Pair, rules: RuleSet | None = None, options: PlanOptions | None = None, **kw):
    j = job(pair, rules, options, **kw)
    try:
        return j.run(), j
    finally:
        close(j)


def is_noop(pair: Pair, rules: RuleSet | None = None, options: PlanOptions | None = None) -> bool:
    j = job(pair, rules, options)
    try:
        return j.plan().is_noop
    finally:
        close(j)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_first_sync_then_nothing_to_do(remote: Remote, tmp_path: Path, direction: str) -> None:
    pair = make_pair(remote, tmp_path, direction)
    summary, _ = run(pair)
    assert summary.errors == [] and summary.status == "ok"
    assert pair.target_tree() == pair.source_tree()
    assert summary.files_written == len(pair.src_files)
    for rel in pair.src_files:
        assert (pair.dst_root / rel).stat().st_mtime_ns == SRC_MTIME * 10**9, rel
    assert temp_files(pair.dst_root) == []
    assert is_noop(pair)
    again, _ = run(pair)
    assert again.files_written == 0 and again.nothing_to_do


def test_incremental_update_and_stale_keys_into_the_trash(remote: Remote, tmp_path: Path) -> None:
    pair = make_pair(remote, tmp_path, "local-to-ssh")
    run(pair)
    chunk = f"{tomo_path('TS_001')}/0/0/0/1"
    (pair.src_root / chunk).write_bytes(b"new chunk bytes")
    os.utime(pair.src_root / chunk, (SRC_MTIME + 50, SRC_MTIME + 50))
    stale = f"{tomo_path('TS_002')}/0/0/1/1"
    stale_bytes = (pair.dst_root / stale).read_bytes()
    (pair.src_root / stale).unlink()
    summary, _ = run(pair)
    assert (summary.updated, summary.files_written, summary.files_deleted) == (2, 1, 1)
    assert pair.target_tree() == pair.source_tree()
    assert (pair.dst_root / chunk).stat().st_mtime_ns == (SRC_MTIME + 50) * 10**9
    assert (pair.dst_root / summary.trash / stale).read_bytes() == stale_bytes
    assert summary.trash == f"{TRASH}/{summary.sync_id}"
    assert is_noop(pair)


def test_prune_over_ssh(remote: Remote, tmp_path: Path) -> None:
    extra = {picks_path("TS_001", "carol", "1", "ribosome"): picks_json("ribosome", "carol", "1", "TS_001"),
             **zarr_files(tomo_path("TS_009", "old"), chunks=2)}
    pair = make_pair(remote, tmp_path, "local-to-ssh", target_files=extra)
    # the target holds only these two: all of it, so the guard wants the number (test_guards.py)
    summary, _ = run(pair, options=PlanOptions(prune=True), max_delete=2)
    assert summary.deleted == 2 and summary.errors == []
    for rel, content in extra.items():
        assert (pair.dst_root / summary.trash / rel).read_bytes() == content
    assert pair.target_tree() == pair.source_tree()
    assert is_noop(pair, options=PlanOptions(prune=True))


@pytest.mark.parametrize("direction", ["local-to-ssh", "ssh-to-local"])
def test_mapping_rewrites_picks_over_ssh(remote: Remote, tmp_path: Path, direction: str) -> None:
    pair = make_pair(remote, tmp_path, direction)
    rules = RuleSet()
    rules.set_mapping("users", "alice", "carol")
    rules.set_mapping("runs", "TS_001", "run1")
    summary, _ = run(pair, rules)
    assert summary.errors == []
    mapped = json.loads((pair.dst_root / picks_path("run1", "carol", "1", "ribosome")).read_bytes())
    original = json.loads(pair.src_files[picks_path("TS_001", "alice", "1", "ribosome")])
    assert mapped["user_id"] == "carol" and mapped["run_name"] == "run1"
    assert mapped["points"] == original["points"] and mapped["extra_key"] == {"kept": True}
    assert not (pair.dst_root / "ExperimentRuns/TS_001").exists()
    assert (pair.dst_root / "ExperimentRuns/run1/Meshes/carol_1_ribosome.glb").read_bytes() == \
        pair.src_files["ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"]
    assert is_noop(pair, rules)


def test_a_held_lock_on_the_ssh_target_stops_a_second_sync(remote: Remote, tmp_path: Path) -> None:
    from synctui.sync.locks import Lock

    pair = make_pair(remote, tmp_path, "local-to-ssh")
    holder = remote.store(root=pair.dst_root)
    with Lock(holder, "write", sync_id="other-sync"):
        with pytest.raises(LockHeldError, match="other-sync"):
            run(pair)
    assert pair.target_tree() == {}
    summary, _ = run(pair)
    assert summary.status == "ok"
    assert not (pair.dst_root / ".synctui-lock/write.json").exists()


# -- faults -------------------------------------------------------------------------------


def big_source() -> dict[str, bytes]:
    rng = random.Random(3)
    files = basic_source(("TS_001",))
    files.update(zarr_files(tomo_path("TS_002"), chunks=240, chunk_size=24_000, seed=5))
    files["ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb"] = rng.randbytes(12 << 20)
    return files


@pytest.mark.parametrize("direction", ["local-to-ssh", "ssh-to-local"])
def test_a_dropped_connection_mid_sync_is_retried_and_the_sync_completes(
        remote: Remote, tmp_path: Path, direction: str) -> None:
    pair = make_pair(remote, tmp_path, direction, source_files=big_source())
    j = job(pair, retries=5, max_workers=3)
    j.plan()
    assert j.source is not None and j.target is not None
    ssh_store = (j.target if direction == "local-to-ssh" else j.source).stores["overlay"]
    try:
        summary, killed, before, reconnected = run_dropping_sessions(j, ssh_store, remote.server.kill_sessions)
    finally:
        close(j)
    assert killed > 0
    assert summary.errors == [], summary.errors
    # the drop was noticed: files were retried by the engine, or re-read on a new connection
    retries = [e for e in j.sink.drain() if isinstance(e, ItemRetry)]
    assert retries or reconnected > before
    assert pair.target_tree() == pair.source_tree()
    assert is_noop(pair)
    # the temp files the dead connections left are swept by the next sync (under its lock)
    run(pair)
    assert temp_files(pair.dst_root) == []


def test_sigkilled_sync_to_ssh_leaves_nothing_partial(remote: Remote, tmp_path: Path) -> None:
    source = big_source()
    pair = make_pair(remote, tmp_path, "local-to-ssh", source_files=source)
    env = dict(os.environ, SYNCTUI_STATE_DIR=str(tmp_path / "state"))
    cmd = [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", pair.src, "-t", pair.dst,
           "--max-workers", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    runs = pair.dst_root / "ExperimentRuns"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if runs.exists() and sum(1 for _ in runs.rglob("*")) > 40:
            break
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert_no_traceback(proc.stderr.read().decode() if proc.stderr else "")
    # every file at a final path is complete and exactly the source's
    tree = read_tree(pair.dst_root)
    for rel, data in tree.items():
        assert data == source[rel], rel
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert_no_traceback(res.stderr)
    if res.returncode == EXIT_LOCKED:  # the dead sync's lock is stale: broken only on request
        assert "stale" in res.stderr, res.stderr
        res = subprocess.run([*cmd, "--break-lock"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == EXIT_OK, res.stderr
    assert pair.target_tree() == pair.source_tree()
    assert temp_files(pair.dst_root) == []


def test_one_line_errors_reach_the_sync(remote: Remote, tmp_path: Path) -> None:
    from synctui.errors import ConnectionFailed

    pair = Pair(tmp_path)
    remote.ssh_config(pair.target_config, root=pair.dst_root, known_hosts=str(tmp_path / "empty"))
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConnectionFailed, match="unknown host") as err:
        run(pair)
    assert "\n" not in str(err.value)
    # and the CLI shows it as one line with the connection exit status
    env = dict(os.environ, SYNCTUI_STATE_DIR=str(tmp_path / "state"))
    res = subprocess.run([sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", pair.src,
                          "-t", pair.dst], capture_output=True, text=True, env=env, timeout=60)
    assert_no_traceback(res.stderr)
    assert res.returncode == ConnectionFailed.exit_code, res.stderr
    assert "unknown host" in res.stderr and "SHA256:" in res.stderr
    assert read_tree(pair.dst_root) == {}  # nothing was written
