"""The state database: manifest, conflicts between syncs, history, batches, locks during a sync.

The tests marked ``on_targets`` run with a local target, an SSH target (the test sshd)
and a WebDAV target (wsgidav, which cannot keep mtimes: conflicts and incremental
syncs rest on the manifest there).  The target tree is edited and inspected on disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_helpers import inodes, kill_when, manifest_count, open_target, plan_job, run_job
from sync_helpers import (
    Pair,
    assert_no_traceback,
    read_tree,
    run_cli,
    temp_files,
    tomo_path,
    zarr_files,
)
from transports import LOCAL, Transport

from synctui.errors import EXIT_OK, LockHeldError
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.locks import Lock
from synctui.sync.plan import Act, PlanOptions
from synctui.sync.state import StateDB, default_db_path

PICKS = "ExperimentRuns/TS_1/Picks/alice_1_ribosome.json"
META = "ExperimentRuns/TS_1/.meta"

TARGETS = ["local", pytest.param("ssh-target", marks=pytest.mark.integration),
           pytest.param("dav-target", marks=pytest.mark.integration)]


def on_targets(test):
    """The test once with a local, an SSH and a WebDAV (wsgidav) target (``pair`` uses it)."""
    test = pytest.mark.usefixtures("transport")(test)
    return pytest.mark.parametrize("transport", TARGETS, indirect=True)(test)


#: config path -> the overlay root on disk (a WebDAV target's is in the server's folder)
_ROOTS: dict[Path, Path] = {}


def _picks(n: int) -> bytes:
    return json.dumps({"pickable_object_name": "ribosome", "user_id": "alice", "session_id": "1",
                       "run_name": "TS_1", "points": [{"location": {"x": i, "y": 0, "z": 0}} for i in range(n)]},
                      indent=4).encode()


@pytest.fixture
def pair(make_project, request: pytest.FixtureRequest, tmp_path: Path):
    transport: Transport = request.getfixturevalue("transport") if "transport" in request.fixturenames else LOCAL
    src = make_project({PICKS: _picks(2), META: "meta"}, where="src")
    dst = make_project({}, where="dst")
    root = _overlay(dst)
    if not transport.is_local:
        root = transport.root(tmp_path, "dst")
        root.mkdir(parents=True, exist_ok=True)
        transport.point(dst, "dst", root)
    _ROOTS[dst] = root
    yield src, dst
    _ROOTS.pop(dst, None)


def _overlay(cfg: Path) -> Path:
    return _ROOTS.get(cfg, cfg.parent / "overlay")


def _run(*pair: Path, **kw):
    return run_job(SyncJob(*pair, **kw))


def _plan(*pair: Path, **kw):
    return plan_job(SyncJob(*pair, **kw))


def test_state_lives_under_the_state_dir(state_dir: Path, pair) -> None:
    _run(*pair)
    assert default_db_path().startswith(str(state_dir))
    assert os.path.exists(default_db_path())


@on_targets
def test_target_edited_between_syncs_is_a_conflict_even_if_older(pair) -> None:
    src, dst = pair
    _run(*pair)
    target = _overlay(dst) / PICKS
    target.write_bytes(_picks(5))  # someone edits the target ...
    old = time.time() - 7 * 86400
    os.utime(target, (old, old))  # ... with an old mtime: the quick check alone would say "update"
    (_overlay(src) / PICKS).write_bytes(_picks(3))
    plan = _plan(*pair)
    ent = next(e for e in plan.entities if e.target_path == PICKS)
    assert ent.action is Act.CONFLICT
    assert "changed since the last sync" in ent.reason
    summary = _run(*pair)
    assert summary.conflicts == 1 and summary.exit_code == 0 and summary.exit_code_strict() == 5
    assert target.read_bytes() == _picks(5), "a conflict is never overwritten"
    assert _plan(*pair).counts()[Act.CONFLICT].entities == 1, "and stays one"
    summary = _run(*pair, options=PlanOptions(overwrite_conflicts=True))
    assert summary.updated == 1 and summary.conflicts == 0 and summary.errors == []
    assert target.read_bytes() == _picks(3), "overwritten when asked"
    assert _plan(*pair).is_noop


@on_targets
def test_source_changed_and_target_untouched_is_an_update(pair) -> None:
    src, dst = pair
    _run(*pair)
    (_overlay(src) / PICKS).write_bytes(_picks(4))
    plan = _plan(*pair)
    ent = next(e for e in plan.entities if e.target_path == PICKS)
    assert ent.action is Act.UPDATE


@on_targets
def test_force_full_ignores_the_manifest(pair) -> None:
    src, dst = pair
    _run(*pair)
    target = _overlay(dst) / PICKS
    target.write_bytes(_picks(5))
    old = time.time() - 7 * 86400
    os.utime(target, (old, old))
    plan = _plan(*pair, job_options=JobOptions(force_full=True))
    ent = next(e for e in plan.entities if e.target_path == PICKS)
    assert ent.action is Act.UPDATE, "without the manifest an older target is simply updated"


@on_targets
def test_history_records_each_sync(pair) -> None:
    _run(*pair)
    _run(*pair)
    rows = StateDB().history()
    assert len(rows) == 2
    newest, first = rows
    assert first.created == 2 and first.status == "ok" and first.bytes > 0
    assert newest.created == 0 and newest.skipped == 2 and newest.ended >= newest.started


def test_records_are_committed_in_batches(tmp_path: Path, pair) -> None:
    db = StateDB(str(tmp_path / "s.db"), commit_every=3)
    pid = db.pair_id("a", "b")
    from synctui.project.layout import EntityRef, Kind
    from synctui.storage.base import FileInfo
    from synctui.sync.plan import EntityPlan, FileAction

    ent = EntityPlan(Act.CREATE, Kind.RUN_META, EntityRef(Kind.RUN_META, run="r"),
                     EntityRef(Kind.RUN_META, run="r"), "")
    reader = sqlite3.connect(str(tmp_path / "s.db"))
    for i in range(2):
        fa = FileAction(Act.CREATE, f"p{i}", f"p{i}", 1, "", 1, 1)
        db.record(pid, ent, fa, FileInfo(f"p{i}", 1, 1))
    assert reader.execute("SELECT COUNT(*) FROM manifest").fetchone()[0] == 0
    db.record(pid, ent, FileAction(Act.CREATE, "p2", "p2", 1, "", 1, 1), FileInfo("p2", 1, 1))
    assert reader.execute("SELECT COUNT(*) FROM manifest").fetchone()[0] == 3


@on_targets
def test_a_held_target_lock_stops_the_sync_with_exit_code_3(pair) -> None:
    src, dst = pair
    store = open_target(dst)
    try:
        with Lock(store, "write", sync_id="other"):
            with pytest.raises(LockHeldError) as err:
                _run(*pair)
            assert err.value.exit_code == 3 and "other" in str(err.value)
    finally:
        store.close()
    assert not (_overlay(dst) / PICKS).exists(), "nothing was written"


@on_targets
def test_locks_are_released_after_the_sync(pair) -> None:
    from synctui.sync.locks import list_locks

    src, dst = pair
    _run(*pair)
    for config in (dst, src):
        store = open_target(config)
        try:
            assert list_locks(store) == []
        finally:
            store.close()


# -- a sync killed between two state batches -------------------------------------------------------

BATCH = 40


def _batch_source(chunks: int) -> dict[str, bytes]:
    """4 x ``chunks`` small files: many state records (written in batches over SSH)."""
    files: dict[str, bytes] = {}
    for r in range(4):
        files.update(zarr_files(tomo_path(f"TS_{r:03d}"), chunks=chunks, chunk_size=8 * 1024, seed=r))
    return files


def _history() -> list:
    db = StateDB()
    try:
        return db.history()
    finally:
        db.close()


@pytest.mark.slow
@pytest.mark.parametrize("transport", [
    "local",
    pytest.param("ssh-target", marks=pytest.mark.integration),
    pytest.param("dav-target", marks=pytest.mark.integration),
], indirect=True)
def test_sigkill_between_state_batches_recovers_by_the_quick_check(transport: Transport,
                                                                   tmp_path: Path) -> None:
    """``--commit-every N``: a SIGKILL loses at most the last uncommitted batch of records,
    never data.  The next run re-copies nothing that is already there and identical, ends
    equal to the source, and the history shows the killed run as not finished."""
    source = _batch_source(300 if transport.is_local else 120)  # local disk is fast
    pair = Pair(tmp_path, source, transport=transport)
    cmd = [sys.executable, "-m", "synctui", "sync", "-s", pair.src, "-t", pair.dst, "--no-progress",
           "--commit-every", str(BATCH), "-j", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    # killed once some records were committed and more files written since
    killed = kill_when(proc, lambda: manifest_count() >= BATCH
                       and len(inodes(pair.dst_root)) > manifest_count() + 5)
    assert_no_traceback(proc.stderr.read().decode() if proc.stderr else "")
    assert killed, "the sync finished before it could be killed: make the source bigger"
    before = inodes(pair.dst_root)
    recorded = manifest_count()
    print(f"killed with {len(before)}/{len(source)} files written, {recorded} recorded")
    assert recorded % BATCH == 0, "records are committed in whole batches"
    assert 0 < recorded < len(before) < len(source), "killed between two batches, part-way"
    for rel in before:
        assert (pair.dst_root / rel).read_bytes() == source[rel], f"partial file at a final path: {rel}"
    killed_row = _history()[0]
    assert killed_row.status != "ok" and killed_row.created == 0, "a killed run never looks done"
    # the dead sync's lock is provably abandoned (same host and boot, pid gone): the next
    # plain sync breaks it by itself and says so
    res = run_cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress", "--json",
                  "--commit-every", str(BATCH))
    assert res.returncode == EXIT_OK, res.stderr
    assert "abandoned lock" in res.stderr, res.stderr
    summary = json.loads(res.stdout)
    assert summary["conflicts"] == 0, summary
    assert summary["files_written"] == len(source) - len(before), "nothing already there re-copied"
    after = inodes(pair.dst_root)
    rewritten = sorted(p for p, ino in before.items() if after.get(p) != ino)
    assert rewritten == [], f"copied again: {rewritten[:5]}"
    assert read_tree(pair.dst_root) == source
    assert temp_files(pair.dst_root) == []
    rows = _history()
    assert [r.sync_id for r in rows][1] == killed_row.sync_id
    assert rows[0].status == "ok" and rows[0].sync_id == summary["sync_id"]
    assert rows[1].status != "ok" and rows[1].ended is None, "the killed run is not reported as done"
    assert plan_job(SyncJob(pair.src, pair.dst)).is_noop


def test_a_run_that_died_is_not_shown_running_after_the_next_sync(pair) -> None:
    db = StateDB()
    try:  # what a SIGKILLed sync leaves: its history row, never finished
        db.start_sync(db.pair_id(*SyncJob(*pair).pair_key), "dead-sync", "incremental")
    finally:
        db.close()
    summary = _run(*pair)
    rows = {r.sync_id: r for r in StateDB().history()}
    assert rows[summary.sync_id].status == "ok"
    assert rows["dead-sync"].status == "interrupted", rows["dead-sync"]
