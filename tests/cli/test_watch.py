"""`synctui sync --watch`: keeps applying source changes; after SIGKILL, none lost, none twice.

Each test runs with a local target and with an SSH target (the test sshd; on loopback
its root is a folder here, so trees and inodes are checked on disk); the clean
start-and-stop also with a WebDAV (wsgidav) target.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safety_helpers import data_files, inodes, kill_when, wait_until
from sync_helpers import Pair, assert_no_traceback, read_tree, temp_files, zarr_files
from transports import Transport

pytestmark = pytest.mark.slow


def _watch(pair: Pair, *extra: str) -> subprocess.Popen:
    """The watcher; its stdout goes to ``<base>/watch.out`` (read while it runs)."""
    with open(pair.base / "watch.out", "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "synctui", "sync", "-s", pair.src, "-t", pair.dst, "--watch", "0.3",
             "--no-progress", *extra],
            stdout=out, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def _idle(pair: Pair) -> bool:
    """The watcher re-planned after its last sync and found nothing to do."""
    text = (pair.base / "watch.out").read_text()
    return "up to date" in text.rsplit("file(s) to sync", 1)[-1]


def _wait_until(cond, timeout: float = 60) -> bool:
    return wait_until(cond, timeout, step=0.1)


def _in_sync(pair: Pair) -> bool:
    return read_tree(pair.dst_root) == read_tree(pair.src_root)


@pytest.mark.parametrize("transport", [
    "local", pytest.param("ssh-target", marks=pytest.mark.integration),
    pytest.param("dav-target", marks=pytest.mark.integration)], indirect=True)
def test_watch_applies_changes_as_they_appear_and_stops_cleanly(tmp_path: Path, transport: Transport) -> None:
    pair = Pair(tmp_path, transport=transport)
    proc = _watch(pair)
    try:
        assert _wait_until(lambda: _in_sync(pair)), "first sync"
        new = pair.src_root / "ExperimentRuns/TS_001/Picks/carol_1_ribosome.json"
        new.write_bytes(b'{"points": []}')
        changed = pair.src_root / "ExperimentRuns/TS_001/.meta"
        changed.write_bytes(b"meta v2")
        assert _wait_until(lambda: _in_sync(pair)), (pair.base / "watch.out").read_text()[-2000:]
        # stop it idle (a SIGTERM that lands as a sync ends: the test below)
        assert _wait_until(lambda: _idle(pair)), (pair.base / "watch.out").read_text()[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "watch stopped" in (pair.base / "watch.out").read_text()
    assert not (pair.dst_root / ".synctui-lock" / "write.json").exists(), "lock released on SIGTERM"
    assert temp_files(pair.dst_root) == []


@pytest.mark.parametrize("transport,seed", [
    ("local", 1), ("local", 2), ("local", 3),
    pytest.param("ssh-target", 5, marks=pytest.mark.integration),  # killed about half-way
], indirect=["transport"])
def test_watch_killed_and_restarted_applies_each_change_exactly_once(
        tmp_path: Path, transport: Transport, seed: int) -> None:
    files: dict[str, bytes] = {}
    for r in range(6):
        files.update(zarr_files(f"ExperimentRuns/TS_{r:03d}/VoxelSpacing10.000/wbp.zarr", chunks=400,
                                chunk_size=8 * 1024, seed=r))
    pair = Pair(tmp_path, files, transport=transport)
    proc = _watch(pair, "-j", "2")
    # SIGKILL once a random share of the first sync's files is in place (polled, not slept).
    # Up to a quarter: on a busy machine the poller may not run for a while, and the
    # engine lands files in batches of up to 256, so the kill must have room to land
    applied = random.Random(seed).randint(30, len(files) // 4)
    killed = kill_when(proc, lambda: len(data_files(pair.dst_root)) >= applied, timeout=120)
    assert_no_traceback(proc.stderr.read() if proc.stderr else "")
    assert killed, "the watcher died by itself"
    src = read_tree(pair.src_root)
    done_before = inodes(pair.dst_root)
    print(f"killed with {len(done_before)}/{len(files)} files applied")
    assert len(done_before) < len(files), "killed after the first sync: nothing left to resume"
    for rel in done_before:
        assert (pair.dst_root / rel).read_bytes() == src[rel], f"partial file at a final path: {rel}"
    # the dead process left its lock, provably abandoned (this host, its pid gone): the
    # restart breaks it without --break-lock, and says so
    left_lock = (pair.dst_root / ".synctui-lock/write.json").exists()
    proc = _watch(pair)
    try:
        assert _wait_until(lambda: _in_sync(pair), 120), "nothing lost after the restart"
        assert _wait_until(lambda: _idle(pair))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert not left_lock or "abandoned lock" in err, err
    after = inodes(pair.dst_root)
    rewritten = [p for p, ino in done_before.items() if after.get(p) != ino]
    assert rewritten == [], f"applied twice: {rewritten[:5]}"
    assert temp_files(pair.dst_root) == []


def test_a_sigterm_as_a_watched_sync_ends_stops_the_watch(tmp_path: Path, capsys, monkeypatch) -> None:
    """Deterministic: the signal is sent from the job's thread just before its run returns,
    while the main thread waits for it in run_with_progress."""
    from safety_helpers import run_main

    from synctui.sync.api import SyncJob

    pair = Pair(tmp_path)
    real_run, real_plan = SyncJob.run, SyncJob.plan
    signalled: list[int] = []

    def run(self, *args, **kwargs):
        summary = real_run(self, *args, **kwargs)
        if not signalled:
            signalled.append(0)
            os.kill(os.getpid(), signal.SIGTERM)
        return summary

    def plan(self, *args, **kwargs):
        if signalled:
            signalled[0] += 1
            if signalled[0] > 3:
                raise RuntimeError("still watching after SIGTERM")
        return real_plan(self, *args, **kwargs)

    monkeypatch.setattr(SyncJob, "run", run)
    monkeypatch.setattr(SyncJob, "plan", plan)
    code, out, err = run_main(capsys, "sync", "-s", pair.src, "-t", pair.dst, "--watch", "0.05",
                              "--no-progress")
    assert signalled, "the sync ran"
    assert "still watching" not in err, "the watcher ignored the SIGTERM"
    assert code in (0, 4), err
    assert pair.target_tree() == pair.source_tree()
