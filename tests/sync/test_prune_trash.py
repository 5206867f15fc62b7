"""Pruning moves target-only entities into the trash; restorable; thresholds hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from synctui.errors import StoreError, SyncTuiError
from synctui.storage.local import LocalStore
from synctui.sync import trash
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.plan import Act, PlanOptions
from synctui.sync.rules import RuleSet

KEEP = "ExperimentRuns/TS_1/Picks/alice_1_ribosome.json"
EXTRA = "ExperimentRuns/TS_1/Picks/carol_1_ribosome.json"
EXTRA_MESH = "ExperimentRuns/TS_1/Meshes/carol_1_ribosome.glb"


@pytest.fixture
def pair(make_project):
    src = make_project({KEEP: "{}"}, where="src")
    dst = make_project({EXTRA: "{}", EXTRA_MESH: b"glb"}, where="dst")
    return src, dst


def _overlay(cfg: Path) -> Path:
    return cfg.parent / "overlay"


def test_no_prune_without_asking(pair) -> None:
    plan = SyncJob(*pair).plan()
    assert not [e for e in plan.entities if e.action is Act.DELETE]


def test_prune_moves_into_trash_and_restore_brings_back(pair) -> None:
    src, dst = pair
    summary = SyncJob(*pair, options=PlanOptions(prune=True)).run()
    assert summary.deleted == 2 and summary.trash
    root = _overlay(dst)
    assert not (root / EXTRA).exists()
    trashed = root / summary.trash / EXTRA
    assert trashed.read_bytes() == b"{}", "pruned files are moved, not destroyed"
    store = LocalStore(str(root))
    batches = trash.list_trash(store)
    assert [b.sync_id for b in batches] == [summary.sync_id]
    assert sorted(batches[0].files) == sorted([EXTRA, EXTRA_MESH])
    result = trash.restore(store, summary.sync_id, "*.json")
    assert result.restored == [EXTRA] and (root / EXTRA).exists()
    assert not (root / EXTRA_MESH).exists()


def test_prune_only_covers_what_the_filters_cover(pair) -> None:
    rules = RuleSet(include={"kinds": ["picks"]})
    plan = SyncJob(*pair, rules, options=PlanOptions(prune=True)).plan()
    pruned = [e.target_path for e in plan.entities if e.action is Act.DELETE]
    assert pruned == [EXTRA], "meshes are outside the rules: never pruned"


def test_prune_delete_destroys(pair) -> None:
    src, dst = pair
    summary = SyncJob(*pair, options=PlanOptions(prune=True, prune_destroy=True)).run()
    assert summary.deleted == 2
    assert not (_overlay(dst) / ".synctui-trash").exists() or not any((_overlay(dst) / ".synctui-trash").rglob("*.json"))


def test_max_delete_aborts_before_writing(pair) -> None:
    src, dst = pair
    job = SyncJob(*pair, options=PlanOptions(prune=True), job_options=JobOptions(max_delete=1))
    with pytest.raises(SyncTuiError, match="max-delete"):
        job.run()
    assert (_overlay(dst) / EXTRA).exists()
    assert not (_overlay(dst) / KEEP).exists(), "nothing was written"


def test_never_prunes_after_a_failed_listing(pair, monkeypatch) -> None:
    src, dst = pair

    def broken_scan(self, prefix="", *, dirs=False):
        raise StoreError("cannot list ExperimentRuns: permission denied")
        yield  # pragma: no cover

    job = SyncJob(*pair, options=PlanOptions(prune=True))
    job.scan()
    monkeypatch.setattr(LocalStore, "scan", broken_scan)
    with pytest.raises(StoreError):
        job.plan()
    assert (_overlay(dst) / EXTRA).exists()
