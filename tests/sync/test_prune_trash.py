"""Pruning moves target-only entities into the trash; restorable; thresholds hold.

The tests marked ``on_targets`` run with a local target, an SSH target (the test
sshd) and a WebDAV target (wsgidav); the target tree is inspected on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from safety_helpers import open_target, plan_job, run_job, run_main
from sync_helpers import read_tree, write_tree
from transports import LOCAL, Transport

from synctui.errors import EXIT_BAD_INPUT, EXIT_OK, StoreError, SyncTuiError
from synctui.project.config import load_config
from synctui.sync import trash
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.locks import list_locks
from synctui.sync.plan import Act, PlanOptions
from synctui.sync.rules import RuleSet

KEEP = "ExperimentRuns/TS_1/Picks/alice_1_ribosome.json"
EXTRA = "ExperimentRuns/TS_1/Picks/carol_1_ribosome.json"
EXTRA_MESH = "ExperimentRuns/TS_1/Meshes/carol_1_ribosome.glb"
TRASH = ".synctui-trash"

TARGETS = ["local", pytest.param("ssh-target", marks=pytest.mark.integration),
           pytest.param("dav-target", marks=pytest.mark.integration)]

#: config path -> the overlay root on disk (a WebDAV target's is in the server's folder)
_ROOTS: dict[Path, Path] = {}


def on_targets(test):
    """The test once with a local, an SSH and a WebDAV (wsgidav) target (``pair`` uses it)."""
    test = pytest.mark.usefixtures("transport")(test)
    return pytest.mark.parametrize("transport", TARGETS, indirect=True)(test)


@pytest.fixture
def pair(make_project, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    transport: Transport = request.getfixturevalue("transport") if "transport" in request.fixturenames else LOCAL
    src = make_project({KEEP: "{}"}, where="src")
    target_files = {EXTRA: "{}", EXTRA_MESH: b"glb"}
    if transport.is_local:
        dst = make_project(target_files, where="dst")
        root = dst.parent / "overlay"
    else:
        dst = make_project({}, where="dst")
        root = transport.root(tmp_path, "dst")
        write_tree(root, target_files)
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


@on_targets
def test_no_prune_without_asking(pair) -> None:
    plan = _plan(*pair)
    assert not [e for e in plan.entities if e.action is Act.DELETE]


@on_targets
def test_prune_moves_into_trash_and_restore_brings_back(pair) -> None:
    src, dst = pair
    # both target entities go: more than half, so it takes the override (see test_guards.py)
    summary = _run(*pair, options=PlanOptions(prune=True), job_options=JobOptions(prune_all=True))
    assert summary.deleted == 2 and summary.trash == f"{TRASH}/{summary.sync_id}"
    root = _overlay(dst)
    assert not (root / EXTRA).exists()
    trashed = root / summary.trash / EXTRA
    assert trashed.read_bytes() == b"{}", "pruned files are moved, not destroyed"
    store = open_target(dst)
    try:
        batches = trash.list_trash(store)
        assert [b.sync_id for b in batches] == [summary.sync_id]
        assert sorted(batches[0].files) == sorted([EXTRA, EXTRA_MESH])
        result = trash.restore(store, summary.sync_id, "*.json")
    finally:
        store.close()
    assert result.restored == [EXTRA] and (root / EXTRA).read_bytes() == b"{}"
    assert not (root / EXTRA_MESH).exists()


def test_prune_only_covers_what_the_filters_cover(pair) -> None:
    rules = RuleSet(include={"kinds": ["picks"]})
    plan = _plan(*pair, rules=rules, options=PlanOptions(prune=True))
    pruned = [e.target_path for e in plan.entities if e.action is Act.DELETE]
    assert pruned == [EXTRA], "meshes are outside the rules: never pruned"


@on_targets
def test_prune_delete_destroys(pair) -> None:
    src, dst = pair
    summary = _run(*pair, options=PlanOptions(prune=True, prune_destroy=True),
                   job_options=JobOptions(prune_all=True))
    assert summary.deleted == 2
    assert not (_overlay(dst) / EXTRA).exists() and not (_overlay(dst) / EXTRA_MESH).exists()
    assert not (_overlay(dst) / TRASH).exists() or not any((_overlay(dst) / TRASH).rglob("*.json"))


@on_targets
def test_max_delete_aborts_before_writing(pair) -> None:
    src, dst = pair
    before = read_tree(_overlay(dst), hidden=True)
    with pytest.raises(SyncTuiError, match="max-delete"):
        _run(*pair, options=PlanOptions(prune=True), job_options=JobOptions(max_delete=1))
    assert (_overlay(dst) / EXTRA).exists()
    assert not (_overlay(dst) / KEEP).exists(), "nothing was written"
    assert read_tree(_overlay(dst), hidden=True) == before, "not a lock, not a temp file left"
    summary = _run(*pair, options=PlanOptions(prune=True), job_options=JobOptions(max_delete=2))
    assert summary.deleted == 2 and summary.created == 1, "at the threshold it goes ahead"


@on_targets
@pytest.mark.parametrize("fails_after", [0, 1], ids=["failed-listing", "partial-listing"])
def test_never_prunes_after_a_failed_listing(pair, monkeypatch, fails_after: int) -> None:
    """The target's listing fails at once, or after part of it came through (the real
    store and transport otherwise): the plan and the sync fail, nothing is pruned."""
    src, dst = pair
    target_key = load_config(str(dst)).overlay.key
    probe = open_target(dst)
    store_class = type(probe)
    probe.close()
    real_scan = store_class.scan

    def failing_scan(self, prefix="", *, dirs=False):
        if self.location.key != target_key or prefix:  # other roots, lock folders: untouched
            yield from real_scan(self, prefix, dirs=dirs)
            return
        for n, info in enumerate(real_scan(self, prefix, dirs=dirs)):
            if n >= fails_after:
                break
            yield info
        raise StoreError("cannot list ExperimentRuns/TS_1: connection reset by peer")

    real_bundled = store_class.scan_bundled

    def failing_bundled(self, suffix):
        if self.location.key != target_key:
            yield from real_bundled(self, suffix)
            return
        for n, info in enumerate(real_bundled(self, suffix)):
            if n >= fails_after:
                break
            yield info
        raise StoreError("cannot list ExperimentRuns/TS_1: connection reset by peer")

    monkeypatch.setattr(store_class, "scan", failing_scan)
    monkeypatch.setattr(store_class, "scan_bundled", failing_bundled)  # the catalog's listing
    with pytest.raises(StoreError, match="cannot list"):
        _plan(*pair, options=PlanOptions(prune=True))
    with pytest.raises(StoreError, match="cannot list"):
        _run(*pair, options=PlanOptions(prune=True))
    root = _overlay(dst)
    assert (root / EXTRA).exists() and (root / EXTRA_MESH).exists(), "nothing pruned"
    assert not (root / TRASH).exists()
    assert not (root / KEEP).exists(), "nothing written"
    monkeypatch.undo()
    store = open_target(dst)
    try:
        assert list_locks(store) == [], "the lock was released"
    finally:
        store.close()


@on_targets
def test_prune_max_delete_and_trash_from_the_command_line(pair, capsys) -> None:
    src, dst = pair
    root = _overlay(dst)
    sync = ("sync", "-s", str(src), "-t", str(dst), "--no-progress", "--prune")
    code, out, err = run_main(capsys, *sync, "--max-delete", "1")
    assert code == EXIT_BAD_INPUT and "max-delete" in err and "nothing was written" in err
    assert (root / EXTRA).exists() and not (root / KEEP).exists()
    code, out, err = run_main(capsys, *sync, "--max-delete", "2", "--json")
    assert code == EXIT_OK, err
    sync_id = next(p.name for p in (root / TRASH).iterdir())
    code, out, _ = run_main(capsys, "trash", "list", "-t", str(dst))
    assert code == EXIT_OK and out.split()[:3] == [sync_id, "2", "file(s)"]
    code, out, err = run_main(capsys, "trash", "restore", sync_id, "-t", str(dst), "--path", "*.glb")
    assert code == EXIT_OK and out.strip() == f"restored {EXTRA_MESH}", err
    assert (root / EXTRA_MESH).read_bytes() == b"glb" and not (root / EXTRA).exists()
    (root / EXTRA).write_text("new")  # a file is there again: kept in the trash, never overwritten
    code, out, err = run_main(capsys, "trash", "restore", sync_id, "-t", str(dst))
    assert code == EXIT_OK and f"kept in trash {EXTRA}" in err
    assert (root / EXTRA).read_text() == "new" and (root / TRASH / sync_id / EXTRA).read_bytes() == b"{}"
