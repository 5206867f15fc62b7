"""The state database: manifest, conflicts between syncs, history, batches, locks during a sync."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from synctui.errors import LockHeldError
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.locks import Lock
from synctui.sync.plan import Act
from synctui.sync.state import StateDB, default_db_path

PICKS = "ExperimentRuns/TS_1/Picks/alice_1_ribosome.json"
META = "ExperimentRuns/TS_1/.meta"


def _picks(n: int) -> bytes:
    return json.dumps({"pickable_object_name": "ribosome", "user_id": "alice", "session_id": "1",
                       "run_name": "TS_1", "points": [{"location": {"x": i, "y": 0, "z": 0}} for i in range(n)]},
                      indent=4).encode()


@pytest.fixture
def pair(make_project):
    src = make_project({PICKS: _picks(2), META: "meta"}, where="src")
    dst = make_project({}, where="dst")
    return src, dst


def _overlay(cfg: Path) -> Path:
    return cfg.parent / "overlay"


def test_state_lives_under_the_state_dir(state_dir: Path, pair) -> None:
    SyncJob(*pair).run()
    assert default_db_path().startswith(str(state_dir))
    assert os.path.exists(default_db_path())


def test_target_edited_between_syncs_is_a_conflict_even_if_older(pair) -> None:
    src, dst = pair
    SyncJob(*pair).run()
    target = _overlay(dst) / PICKS
    target.write_bytes(_picks(5))  # someone edits the target ...
    old = time.time() - 7 * 86400
    os.utime(target, (old, old))  # ... with an old mtime: the quick check alone would say "update"
    (_overlay(src) / PICKS).write_bytes(_picks(3))
    plan = SyncJob(*pair).plan()
    ent = next(e for e in plan.entities if e.target_path == PICKS)
    assert ent.action is Act.CONFLICT
    assert "changed since the last sync" in ent.reason
    summary = SyncJob(*pair).run()
    assert summary.conflicts == 1 and summary.exit_code == 0 and summary.exit_code_strict() == 5
    assert target.read_bytes() == _picks(5), "a conflict is never overwritten"


def test_source_changed_and_target_untouched_is_an_update(pair) -> None:
    src, dst = pair
    SyncJob(*pair).run()
    (_overlay(src) / PICKS).write_bytes(_picks(4))
    plan = SyncJob(*pair).plan()
    ent = next(e for e in plan.entities if e.target_path == PICKS)
    assert ent.action is Act.UPDATE


def test_force_full_ignores_the_manifest(pair) -> None:
    src, dst = pair
    SyncJob(*pair).run()
    target = _overlay(dst) / PICKS
    target.write_bytes(_picks(5))
    old = time.time() - 7 * 86400
    os.utime(target, (old, old))
    job = SyncJob(*pair, job_options=JobOptions(force_full=True))
    ent = next(e for e in job.plan().entities if e.target_path == PICKS)
    assert ent.action is Act.UPDATE, "without the manifest an older target is simply updated"


def test_history_records_each_sync(pair) -> None:
    SyncJob(*pair).run()
    SyncJob(*pair).run()
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


def test_a_held_target_lock_stops_the_sync_with_exit_code_3(pair) -> None:
    from synctui.storage.local import LocalStore

    src, dst = pair
    store = LocalStore(str(_overlay(dst)))
    with Lock(store, "write", sync_id="other"):
        with pytest.raises(LockHeldError) as err:
            SyncJob(*pair).run()
        assert err.value.exit_code == 3 and "other" in str(err.value)
    assert not (_overlay(dst) / PICKS).exists(), "nothing was written"


def test_locks_are_released_after_the_sync(pair) -> None:
    from synctui.storage.local import LocalStore
    from synctui.sync.locks import list_locks

    src, dst = pair
    job = SyncJob(*pair)
    job.run()
    assert list_locks(LocalStore(str(_overlay(dst)))) == []
    assert list_locks(LocalStore(str(_overlay(src)))) == []
