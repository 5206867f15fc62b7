"""The engine executes a plan exactly, atomically, in parallel, and reports every item.

Every test runs once per transport, S3 ones included (tests/transports.py: local disk, an SSH target or
source, a WebDAV target or source on wsgidav, a WebDAV target on nginx).  The trees are
written and checked on disk; the engine reaches them through the transport's stores.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_helpers import (
    OBJECTS,
    OLD_MTIME,
    SRC_MTIME,
    TEMP_MARK,
    TRASH,
    Pair,
    basic_source,
    hyp_project,
    hyp_rules,
    picks_json,
    picks_path,
    read_tree,
    seg_path,
    temp_files,
    tomo_path,
    write_tree,
    zarr_files,
)
from transports import ALL, S3, SMB_SOURCE, Transport, over, param, transport_for

from synctui.errors import EXIT_CANCELLED, EXIT_CONFLICTS, EXIT_OK, EXIT_PARTIAL, StoreError
from synctui.project.catalog import open_project
from synctui.storage.base import FileInfo
from synctui.storage.local import LocalStore
from synctui.sync.engine import Engine
from synctui.sync.events import EventSink, ItemRetry
from synctui.sync.plan import Act, PlanOptions, is_zarr_metadata, make_plan
from synctui.sync.rules import RuleSet
from synctui.sync.state import StateDB

#: S3 cannot keep the old mtimes ``Pair`` gives target files: there they are newer than the
#: source, so a differing one is (rightly) a conflict, not an update
_OLD_TARGET_FILES = {name: "target files cannot be made older than the source on S3" for name in S3
                     if name.endswith("-target")}


@pytest.fixture(params=[param(name) for name in ALL + S3 + SMB_SOURCE])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """The engine set runs over S3 (source and target, moto and SeaweedFS) as well."""
    yield from transport_for(request, monkeypatch)


def catalogs(pair: Pair):
    return open_project(pair.src, fsync=False), open_project(pair.dst, fsync=False)


class _State:
    """The state database a target that cannot keep mtimes plans incrementally from
    (what SyncJob gives the engine): a recorder for the engine, a baseline for the planner."""

    def __init__(self, pair: Pair) -> None:
        self.db = StateDB(str(pair.base / "state.db"))
        self.pair_id = self.db.pair_id(pair.src, pair.dst)
        pair.transport.track(self.db)

    def record(self, ent, fa, info) -> None:
        self.db.record(self.pair_id, ent, fa, info)

    def baseline(self):
        self.db.flush()
        return self.db.baseline(self.pair_id)


def state_for(pair: Pair) -> _State | None:
    if pair.transport.sets_mtime:
        return None  # the quick check alone, as local to local
    if not hasattr(pair, "_state"):
        pair._state = _State(pair)  # type: ignore[attr-defined]
    return pair._state  # type: ignore[attr-defined]


def plan_for(pair: Pair, s, t, rules: RuleSet | None = None, options: PlanOptions | None = None):
    state = state_for(pair)
    return make_plan(s, t, rules, options, baseline=state.baseline() if state is not None else None)


def engine_for(pair: Pair, rules: RuleSet | None = None, options: PlanOptions | None = None,
               wrap=None, **kw: Any):
    """(engine, plan); ``wrap(store) -> store`` replaces the target's overlay store."""
    s, t = catalogs(pair)
    plan = plan_for(pair, s, t, rules, options)
    if wrap is not None:
        t.stores["overlay"] = wrap(t.stores["overlay"])
    kw.setdefault("max_workers", 4)
    if (state := state_for(pair)) is not None:
        kw.setdefault("recorder", state.record)
    return Engine(plan, s, t, **kw), plan


def replan(pair: Pair, rules: RuleSet | None = None, options: PlanOptions | None = None):
    return plan_for(pair, *catalogs(pair), rules, options)


def assert_mtime(pair: Pair, rel: str, mtime_ns: int) -> None:
    """The target file kept the source's mtime, where the target can keep mtimes."""
    if pair.transport.sets_mtime:
        if not isinstance(pair.src_root, Path):  # an S3 source: its mtimes are the server's
            mtime_ns = (pair.src_root / rel).stat().st_mtime_ns
        assert (pair.dst_root / rel).stat().st_mtime_ns == mtime_ns, rel


class WrapStore:
    """A target store double: records writes (start/end) and can fail or pause them.

    It wraps the real store's write paths: ``copy_from`` (a local target's fast copy),
    ``write_many`` (the engine batches where ``features`` says it pays) and ``write_atomic``.
    """

    def __init__(self, inner, *, before=None, after=None) -> None:
        self.inner = inner
        self.before = before
        self.after = after
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str):
        if name in ("copy_from", "write_many"):
            return getattr(self, f"_{name}")
        return getattr(self.inner, name)

    def _record(self, what: str, path: str) -> None:
        with self.lock:
            self.log.append((what, path))

    def _check(self, path: str) -> None:
        """Called before each write; a double raises StoreError here to fail it."""

    def _write_many(self, items, **kw):
        """``write_many`` (SSH's batches): each file is logged, paused and failed like a single write."""
        items = list(items)
        out: list[Any] = [None] * len(items)
        todo: list[int] = []
        for i, (path, _, _) in enumerate(items):
            try:
                self._check(path)
            except StoreError as exc:
                out[i] = exc
                continue
            self._record("start", path)
            if self.before is not None:
                self.before(path)
            todo.append(i)
        for i, res in zip(todo, self.inner.write_many([items[i] for i in todo], **kw), strict=True):
            out[i] = res
            if isinstance(res, FileInfo):
                self._record("end", items[i][0])
                if self.after is not None:
                    self.after(items[i][0])
        return out

    def _wrap(self, path: str, fn, *, check: bool = True):
        if check:
            self._check(path)
        self._record("start", path)
        if self.before is not None:
            self.before(path)
        result = fn()
        self._record("end", path)
        if self.after is not None:
            self.after(path)
        return result

    def _copy_from(self, source, src_path, path, *, mtime_ns=None):
        if not isinstance(source, LocalStore):
            return None  # as the real local store: no fast copy from a remote source, it streams
        return self._wrap(path, lambda: self.inner.copy_from(source, src_path, path, mtime_ns=mtime_ns))

    def write_atomic(self, path, data, *, mtime_ns=None, **kw):
        return self._wrap(path, lambda: self.inner.write_atomic(path, data, mtime_ns=mtime_ns, **kw))

    def rename(self, src, dst):
        return self._wrap(src, lambda: self.inner.rename(src, dst), check=False)


# -- create / update / delete ------------------------------------------------------------

def test_first_sync_copies_everything_with_source_mtimes(transport: Transport,
                                                         tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    engine, plan = engine_for(pair)
    summary = engine.run()
    assert pair.target_tree() == pair.source_tree()
    # the transport table says what the target store found out about itself
    assert engine.target.stores["overlay"].features.set_mtime is transport.sets_mtime
    for rel in pair.src_files:
        assert_mtime(pair, rel, (pair.src_root / rel).stat().st_mtime_ns)
    assert temp_files(pair.dst_root) == []
    n_entities = len(plan.entities)
    assert summary.checked == summary.created == n_entities
    assert summary.files_written == len(pair.src_files) == plan.transfer_files
    assert summary.bytes == sum(len(b) for b in pair.src_files.values())
    assert (summary.updated, summary.deleted, summary.skipped, summary.conflicts, summary.blocked) == (0,) * 5
    assert summary.errors == [] and summary.status == "ok" and summary.exit_code == EXIT_OK
    assert summary.duration > 0 and not summary.cancelled and summary.trash is None
    assert replan(pair).is_noop


def test_update_copies_only_the_changed_chunk(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    engine_for(pair)[0].run()
    chunk = f"{tomo_path('TS_001')}/0/0/0/1"
    write_tree(pair.src_root, {chunk: b"new chunk bytes"}, mtime=SRC_MTIME + 50)
    engine, plan = engine_for(pair)
    [ent] = [e for e in plan.entities if e.action.writes]
    assert ent.action is Act.UPDATE and [f.target_path for f in ent.files] == [chunk]
    summary = engine.run()
    assert (summary.updated, summary.created, summary.files_written) == (1, 0, 1)
    assert summary.skipped == len(plan.entities) - 1
    assert summary.bytes == len(b"new chunk bytes")
    assert pair.target_tree() == pair.source_tree()
    assert_mtime(pair, chunk, (SRC_MTIME + 50) * 10**9)
    assert replan(pair).is_noop


class NoRemove(WrapStore):
    """Records every ``remove``/``remove_tree`` the engine asks of the target store."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.removed: list[str] = []

    def remove(self, path):
        self._record("remove", path)
        self.removed.append(path)
        return self.inner.remove(path)

    def remove_tree(self, path):
        self.removed.append(path)
        return self.inner.remove_tree(path)


def test_stale_keys_are_moved_into_the_trash_never_unlinked(transport: Transport, tmp_path: Path,
                                                            monkeypatch) -> None:
    pair = Pair(tmp_path, transport=transport)
    engine_for(pair)[0].run()
    stale = f"{tomo_path('TS_002')}/0/0/1/1"
    stale_bytes = (pair.dst_root / stale).read_bytes()
    (pair.src_root / stale).unlink()
    unlinked: list[str] = []
    real_unlink = os.unlink

    def spy_unlink(path, *a, **kw):
        unlinked.append(str(path))
        return real_unlink(path, *a, **kw)

    monkeypatch.setattr(os, "unlink", spy_unlink)  # a local target (remote servers unlink elsewhere)
    spy: list[NoRemove] = []  # any target: the engine never asks the store to remove a file
    engine, plan = engine_for(pair, wrap=lambda s: spy.append(NoRemove(s)) or spy[0])
    [ent] = [e for e in plan.entities if e.action.writes]
    assert ent.action is Act.UPDATE and [(f.action, f.target_path) for f in ent.files] == [(Act.DELETE, stale)]
    summary = engine.run()
    assert spy[0].removed == []
    assert summary.updated == 1 and summary.files_deleted == 1 and summary.files_written == 0
    assert summary.trash == f"{TRASH}/{summary.sync_id}"
    assert not (pair.dst_root / stale).exists()
    assert (pair.dst_root / summary.trash / stale).read_bytes() == stale_bytes
    # (our own temp files may go: a WebDAV server in this process deletes the capability probe)
    assert not any(str(pair.dst_root) in p and TEMP_MARK not in p for p in unlinked), unlinked
    assert pair.target_tree() == pair.source_tree()
    assert replan(pair).is_noop


def test_prune_moves_whole_entities_into_the_trash(transport: Transport, tmp_path: Path) -> None:
    extra = {picks_path("TS_001", "carol", "1", "ribosome"): picks_json("ribosome", "carol", "1", "TS_001"),
             **zarr_files(tomo_path("TS_009", "old"), chunks=2)}
    pair = Pair(tmp_path, transport=transport, target_files=extra)
    engine, plan = engine_for(pair, options=PlanOptions(prune=True))
    deletes = [e for e in plan.entities if e.action is Act.DELETE]
    assert len(deletes) == 2
    summary = engine.run()
    assert summary.deleted == 2 and summary.files_deleted == len(extra)
    for rel, content in extra.items():
        assert not (pair.dst_root / rel).exists()
        assert (pair.dst_root / summary.trash / rel).read_bytes() == content
    assert pair.target_tree() == pair.source_tree()
    assert replan(pair, options=PlanOptions(prune=True)).is_noop


def test_pruning_a_zarr_store_hides_it_first(transport: Transport, tmp_path: Path) -> None:
    """A store being pruned loses its metadata before its chunks."""
    extra = zarr_files(tomo_path("TS_009", "old"), chunks=4)
    pair = Pair(tmp_path, transport=transport, source_files={"ExperimentRuns/TS_009/.meta": b"meta"}, target_files=extra)
    wrap: list[WrapStore] = []
    engine, _ = engine_for(pair, options=PlanOptions(prune=True),
                           wrap=lambda s: wrap.append(WrapStore(s)) or wrap[0])
    engine.run()
    store = tomo_path("TS_009", "old") + "/"
    log = [(w, p) for w, p in wrap[0].log if p.startswith(store)]
    assert len(log) == 2 * len(extra)
    meta_end = max(i for i, (w, p) in enumerate(log) if w == "end" and is_zarr_metadata(p))
    data_start = min(i for i, (w, p) in enumerate(log) if w == "start" and not is_zarr_metadata(p))
    assert meta_end < data_start


# -- progress, atomicity, order ---------------------------------------------------------------

def test_progress_counts_files_and_bytes_to_100_percent(transport: Transport,
                                                        tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    seen: list[float] = []

    class Watching(EventSink):
        def emit(self, event) -> None:
            seen.append(self.progress.percent)
            super().emit(event)

    sink = Watching()
    engine, plan = engine_for(pair, sink=sink)
    assert sink.progress.percent == 0.0
    engine.run()
    p = sink.progress
    assert (p.total_files, p.total_bytes) == (plan.transfer_files, plan.transfer_bytes)
    assert (p.done_files, p.done_bytes) == (plan.transfer_files, plan.transfer_bytes)
    assert p.percent == 100.0 and p.finished and p.failed == 0 and p.in_flight == {}
    assert seen == sorted(seen) and seen[0] == 0.0


def test_zarr_metadata_is_written_after_every_chunk_of_its_store(transport: Transport,
                                                                 tmp_path: Path) -> None:
    src = {**zarr_files(tomo_path("TS_001"), chunks=12, levels=3),
           **zarr_files(seg_path("TS_001", "alice", "1", "membrane"), chunks=6, seed=3)}
    pair = Pair(tmp_path, transport=transport, source_files=src)
    wrap: list[WrapStore] = []
    engine, _ = engine_for(pair, max_workers=8, wrap=lambda s: wrap.append(WrapStore(s)) or wrap[0])
    engine.run()
    log = wrap[0].log
    for store in (tomo_path("TS_001"), seg_path("TS_001", "alice", "1", "membrane")):
        mine = [(i, w, p) for i, (w, p) in enumerate(log) if p.startswith(store + "/")]
        last_data_end = max(i for i, w, p in mine if w == "end" and not is_zarr_metadata(p))
        first_meta_start = min(i for i, w, p in mine if w == "start" and is_zarr_metadata(p))
        assert last_data_end < first_meta_start, store
    assert pair.target_tree() == pair.source_tree()


def test_no_temp_files_and_no_partial_file_when_a_write_fails_midway(transport: Transport,
                                                                     tmp_path: Path) -> None:
    """A stream that breaks mid-file leaves neither a temp file nor anything at the final path."""
    pair = Pair(tmp_path, transport=transport, source_files={"ExperimentRuns/TS_001/.meta": b"meta"})
    _, t = catalogs(pair)
    store = t.stores["overlay"]

    def broken():
        yield b"x" * 1000
        raise OSError(5, "Input/output error")

    with pytest.raises(Exception) as raised:  # noqa: PT011 - which one is checked last
        store.write_atomic("ExperimentRuns/TS_001/Meshes/a_1_ribosome.glb", broken())
    assert not (pair.dst_root / "ExperimentRuns/TS_001/Meshes/a_1_ribosome.glb").exists()
    assert temp_files(pair.dst_root) == []
    # a store error (one line, the path named), as every store raises, not the stream's OSError
    assert isinstance(raised.value, StoreError), repr(raised.value)


class CountBatches:
    """The real target store, counting the files of each ``write_many`` call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def write_many(self, items):
        items = list(items)
        self.calls.append(len(items))
        return self.inner.write_many(items)


@over(["local", "dav-target", "nginx-target", "dav-source"])
def test_small_files_batch_only_where_the_stores_features_say_it_pays(transport: Transport,
                                                                     tmp_path: Path) -> None:
    """A local target batches (one syncfs for many files); a WebDAV target does not (its
    writes go in parallel, one request each); a WebDAV source into a local target batches
    on the local side.  SSH's batches are tests/integration/test_ssh_batches.py."""
    files = {**basic_source(("TS_001",)), **zarr_files(tomo_path("TS_002"), chunks=60, chunk_size=500, seed=3)}
    pair = Pair(tmp_path, transport=transport, source_files=files)
    counted: list[CountBatches] = []
    engine, _ = engine_for(pair, wrap=lambda s: counted.append(CountBatches(s)) or counted[0])
    summary = engine.run()
    assert summary.errors == [] and pair.target_tree() == pair.source_tree()
    pays = engine.target.stores["overlay"].features.batch_write or \
        engine.source.stores["overlay"].features.batch_read
    assert pays is (transport.target_side == "local")
    calls = counted[0].calls
    if pays:
        assert sum(calls) >= 60 and max(calls) > 1
    else:
        assert calls == []


class NoFastCopy(WrapStore):
    """A target that cannot copy from the source itself (like a remote store): the engine streams."""

    def copy_from(self, source, src_path, path, *, mtime_ns=None):
        return None


def test_streamed_copies_of_small_and_large_files(transport: Transport, tmp_path: Path) -> None:
    big = "ExperimentRuns/TS_001/VoxelSpacing10.000/wbp.zarr/0/9/9/9"
    src = {**basic_source(("TS_001",)), big: os.urandom(9 << 20)}  # above the 8 MiB read-whole limit
    pair = Pair(tmp_path, transport=transport, source_files=src)
    wrap: list[WrapStore] = []
    engine, plan = engine_for(pair, wrap=lambda s: wrap.append(NoFastCopy(s)) or wrap[0])
    summary = engine.run()
    assert summary.errors == [] and summary.files_written == len(src)
    assert summary.bytes == sum(len(b) for b in src.values())
    assert pair.target_tree() == pair.source_tree()
    assert_mtime(pair, big, SRC_MTIME * 10**9)
    assert {p for w, p in wrap[0].log} == set(src)  # every file went through write_atomic
    assert temp_files(pair.dst_root) == []


# -- failures ---------------------------------------------------------------------------------

def test_a_source_file_deleted_after_planning_fails_alone(transport: Transport,
                                                          tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    engine, plan = engine_for(pair)
    gone_pick = picks_path("TS_001", "alice", "1", "ribosome")
    gone_chunk = f"{tomo_path('TS_002')}/0/0/0/1"
    (pair.src_root / gone_pick).unlink()
    (pair.src_root / gone_chunk).unlink()
    summary = engine.run()
    errors = {e.path: e.message for e in summary.errors}
    assert set(errors) == {gone_pick, gone_chunk}
    for message in errors.values():
        assert "no longer exists" in message and "\n" not in message, message
    assert summary.status == "partial" and summary.exit_code == EXIT_PARTIAL
    # everything else was done
    tgt = pair.target_tree()
    tomo2 = tomo_path("TS_002") + "/"
    for rel, content in pair.src_files.items():
        if rel in (gone_pick, gone_chunk) or rel.startswith(tomo2):
            continue
        assert tgt.get(rel) == content, rel
    # the store with a failed chunk never got its metadata: it does not look complete
    assert not any(p.startswith(tomo2) and is_zarr_metadata(p) for p in tgt)
    assert summary.created == len(plan.entities) - 2
    assert summary.files_skipped == sum(1 for f in plan.entities if f.target_path == tomo2[:-1]
                                        for fa in f.files if is_zarr_metadata(fa.target_path))
    assert temp_files(pair.dst_root) == []


def test_a_target_path_under_a_file_fails_with_its_cause(transport: Transport,
                                                         tmp_path: Path) -> None:
    # a regular file where the Meshes folder should be
    pair = Pair(tmp_path, transport=transport, target_files={"ExperimentRuns/TS_001/Meshes": b"not a folder"})
    engine, _ = engine_for(pair, backoff=0.01)  # (a server error may be retried first)
    summary = engine.run()
    [err] = summary.errors
    assert err.path == "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"
    assert err.path in err.message or "Meshes" in err.message
    # the cause in the words of the store: a local or SFTP error, or a WebDAV server's 409
    causes = ("exists", "not a directory", "a file is in the way", "is a file")
    assert any(word in err.message.lower() for word in causes), err.message
    assert summary.exit_code == EXIT_PARTIAL and summary.status == "partial"
    assert summary.files_written == len(pair.src_files) - 1
    assert temp_files(pair.dst_root) == []


class Flaky(WrapStore):
    """Raises StoreError the first ``n`` times each path (or only ``only``) is written."""

    def __init__(self, inner, n: int, transient: bool = True, only: str | None = None) -> None:
        super().__init__(inner)
        self.n, self.transient, self.only = n, transient, only
        self.calls: dict[str, int] = {}

    def _check(self, path: str) -> None:
        if self.only is not None and path != self.only:
            return
        with self.lock:
            self.calls[path] = count = self.calls.get(path, 0) + 1
        if count <= self.n:
            raise StoreError(f"cannot write {path}: server busy", transient=self.transient)


def _sleeps(monkeypatch) -> list[float]:
    """The engine's backoff pauses, recorded instead of waited."""
    slept: list[float] = []
    monkeypatch.setattr("synctui.sync.engine.Engine._pause", lambda self, seconds: slept.append(seconds))
    return slept


def test_transient_errors_are_retried_with_backoff(transport: Transport,
                                                   tmp_path: Path, monkeypatch) -> None:
    mesh = "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"
    pair = Pair(tmp_path, transport=transport)
    slept = _sleeps(monkeypatch)
    sink = EventSink()
    engine, _ = engine_for(pair, sink=sink, retries=3, backoff=0.5,
                           wrap=lambda s: Flaky(s, n=2, only=mesh))
    summary = engine.run()
    assert summary.errors == [] and summary.status == "ok"
    assert pair.target_tree() == pair.source_tree()
    retries = [e for e in sink.drain() if isinstance(e, ItemRetry)]
    assert [(r.path, r.attempt) for r in retries] == [(mesh, 1), (mesh, 2)]
    assert "server busy" in retries[0].message
    assert slept == [0.5, 1.0]  # exponential backoff


def test_transient_errors_give_up_after_the_retries(transport: Transport,
                                                    tmp_path: Path, monkeypatch) -> None:
    mesh = "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"
    pair = Pair(tmp_path, transport=transport)
    slept = _sleeps(monkeypatch)
    flaky: list[Flaky] = []
    engine, _ = engine_for(pair, retries=2, backoff=0.1,
                           wrap=lambda s: flaky.append(Flaky(s, n=99, only=mesh)) or flaky[0])
    summary = engine.run()
    [err] = summary.errors
    assert err.path == mesh and "server busy" in err.message
    assert flaky[0].calls[mesh] == 3 and slept == [0.1, 0.2]
    assert summary.exit_code == EXIT_PARTIAL
    assert summary.files_written == len(pair.src_files) - 1


def test_permanent_store_errors_are_not_retried(transport: Transport,
                                                tmp_path: Path, monkeypatch) -> None:
    mesh = "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"
    pair = Pair(tmp_path, transport=transport)
    slept = _sleeps(monkeypatch)
    flaky: list[Flaky] = []
    engine, _ = engine_for(pair, wrap=lambda s: flaky.append(Flaky(s, n=1, transient=False, only=mesh))
                           or flaky[0])
    summary = engine.run()
    assert [e.path for e in summary.errors] == [mesh]
    assert flaky[0].calls[mesh] == 1 and slept == []


def test_transformed_writes_are_retried_too(transport: Transport,
                                            tmp_path: Path, monkeypatch) -> None:
    _sleeps(monkeypatch)
    pair = Pair(tmp_path, transport=transport)
    rules = RuleSet()
    rules.set_mapping("users", "alice", "carol")
    target = picks_path("TS_001", "carol", "1", "ribosome")
    engine, _ = engine_for(pair, rules, wrap=lambda s: Flaky(s, n=1, only=target), backoff=0.01)
    summary = engine.run()
    assert summary.errors == []
    data = json.loads((pair.dst_root / target).read_text())
    assert data["user_id"] == "carol" and data["extra_key"] == {"kept": True}


# -- cancel ---------------------------------------------------------------------------------

def test_cancel_before_run_writes_nothing(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    cancel = threading.Event()
    cancel.set()
    engine, _ = engine_for(pair, cancel=cancel)
    summary = engine.run()
    assert summary.cancelled and summary.status == "cancelled" and summary.exit_code == EXIT_CANCELLED
    assert summary.files_written == 0 and summary.created == 0
    assert pair.target_tree() == {}


def _complete_entities(pair: Pair, plan) -> int:
    tgt = pair.target_tree()
    done = 0
    for ent in plan.entities:
        if all(tgt.get(fa.target_path) == pair.src_files[fa.source_path] for fa in ent.files):
            done += 1
    return done


@pytest.mark.parametrize("after", [1, 5, 17, 30])
def test_cancel_during_run_finishes_in_flight_and_leaves_nothing_partial(transport: Transport,
                                                                         tmp_path: Path, after: int) -> None:
    pair = Pair(tmp_path, transport=transport, source_files=basic_source(("TS_001", "TS_002", "TS_003"), chunks=8))
    cancel = threading.Event()
    started: list[str] = []
    finished: list[str] = []
    lock = threading.Lock()

    def before(path: str) -> None:
        with lock:
            started.append(path)
        time.sleep(0.002)

    def after_write(path: str) -> None:
        with lock:
            finished.append(path)
            if len(finished) == after:
                cancel.set()

    engine, plan = engine_for(pair, cancel=cancel, max_workers=3,
                              wrap=lambda s: WrapStore(s, before=before, after=after_write))
    summary = engine.run()
    assert summary.cancelled and summary.exit_code == EXIT_CANCELLED
    # every write that started also finished, and nothing new started once cancelled
    assert sorted(started) == sorted(finished)
    assert after <= summary.files_written == len(finished) < plan.transfer_files
    assert summary.files_written + summary.files_skipped <= plan.transfer_files
    tgt = pair.target_tree()
    for rel, content in tgt.items():
        assert content == pair.src_files[rel], rel  # nothing partial at a final path
    assert temp_files(pair.dst_root) == []
    # a half-made store never shows its metadata
    for ent in plan.entities:
        if ent.kind.is_zarr and any(is_zarr_metadata(p) and p.startswith(ent.target_path + "/") for p in tgt):
            assert all(fa.target_path in tgt for fa in ent.files if not is_zarr_metadata(fa.target_path)), \
                ent.target_path
    # only entities that are really complete are counted as created
    assert summary.created == _complete_entities(pair, plan)
    # and a later sync completes the job
    assert engine_for(pair)[0].run().errors == []
    assert pair.target_tree() == pair.source_tree()


# -- saved plans (verify) ---------------------------------------------------------------------

@over(ALL + S3 + SMB_SOURCE, exclude=_OLD_TARGET_FILES)
def test_verify_skips_what_changed_since_the_plan(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport, target_files={picks_path("TS_002", "bob", "0", "membrane"): b"{}"})
    engine, plan = engine_for(pair, verify=True)
    changed_src = picks_path("TS_001", "alice", "1", "ribosome")
    appeared = "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"
    changed_dst = picks_path("TS_002", "bob", "0", "membrane")
    chunk = f"{tomo_path('TS_002')}/0/0/1/0"
    (pair.src_root / changed_src).write_bytes(b'{"changed": true}')
    (pair.src_root / chunk).write_bytes(b"changed chunk")
    write_tree(pair.dst_root, {appeared: b"someone else's mesh", changed_dst: b'{"edited": 1}'})
    summary = engine.run()
    skipped = {e.path: e.message for e in summary.skipped_changed}
    assert set(skipped) == {changed_src, appeared, changed_dst, chunk}
    assert all("since the plan" in why for why in skipped.values()), skipped
    assert "source changed" in skipped[changed_src]
    assert "target file appeared" in skipped[appeared]
    assert "target changed" in skipped[changed_dst]
    assert summary.errors == [] and summary.exit_code == EXIT_OK
    tgt = pair.target_tree()
    # the changed ones were left alone
    assert changed_src not in tgt
    assert tgt[appeared] == b"someone else's mesh" and tgt[changed_dst] == b'{"edited": 1}'
    # a store with a skipped chunk does not get its metadata (it would look complete)
    tomo2 = tomo_path("TS_002") + "/"
    assert not any(p.startswith(tomo2) and is_zarr_metadata(p) for p in tgt)
    # everything else was done
    for rel, content in pair.src_files.items():
        if rel in skipped or rel.startswith(tomo2):
            continue
        assert tgt[rel] == content, rel
    assert summary.created == len([e for e in plan.entities if e.action is Act.CREATE]) - 3
    assert summary.updated == 0


def test_verify_runs_an_unchanged_plan_completely(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    engine, plan = engine_for(pair, verify=True)
    summary = engine.run()
    assert summary.skipped_changed == [] and summary.created == len(plan.entities)
    assert pair.target_tree() == pair.source_tree()


# -- summary counts -----------------------------------------------------------------------------

@over(ALL + S3 + SMB_SOURCE, exclude={name: "S3 cannot give files the mtimes this test compares" for name in S3})
def test_summary_counts_every_outcome(transport: Transport, tmp_path: Path) -> None:
    src = basic_source(("TS_001", "TS_002"))
    bob1, bob2 = picks_path("TS_001", "bob", "0", "membrane"), picks_path("TS_002", "bob", "0", "membrane")
    mesh2 = "ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb"
    tomo1 = tomo_path("TS_001")
    zed = picks_path("TS_001", "zed", "1", "ribosome")
    alice1 = picks_path("TS_001", "alice", "1", "ribosome")
    pair = Pair(tmp_path, source_files=src, target_static={alice1: b'{"static": true}'},  # blocked
                transport=transport)
    write_tree(pair.dst_root, {bob1: src[bob1]}, mtime=SRC_MTIME)  # unchanged
    write_tree(pair.dst_root, {bob2: bytes(len(src[bob2]))}, mtime=SRC_MTIME + 99)  # conflict
    write_tree(pair.dst_root, {mesh2: b"old mesh", zed: picks_json("ribosome", "zed", "1", "TS_001")},
               mtime=OLD_MTIME)  # update, prune
    write_tree(pair.dst_root, {k: v for k, v in src.items() if k.startswith(tomo1 + "/")}, mtime=SRC_MTIME)
    write_tree(pair.dst_root, {f"{tomo1}/0/0/0/0": b"edited"}, mtime=OLD_MTIME)  # exists: policy never
    rules = RuleSet(overwrite_by_kind={"tomograms": "never"})
    rules.add_filter("exclude", "paths", "ExperimentRuns/TS_002/Segmentations/*")  # excluded
    engine, plan = engine_for(pair, rules, PlanOptions(prune=True))
    acts = {e.target_path: e.action for e in plan.entities}
    expected = {bob1: Act.SKIP, bob2: Act.CONFLICT, mesh2: Act.UPDATE, zed: Act.DELETE, tomo1: Act.EXISTS,
                alice1: Act.BLOCKED, seg_path("TS_002", "alice", "1", "membrane"): Act.EXCLUDED}
    assert {k: acts[k] for k in expected} == expected
    assert all(a is Act.CREATE for k, a in acts.items() if k not in expected)
    summary = engine.run()
    assert summary.checked == len(plan.entities)
    assert summary.created == len(plan.entities) - len(expected)
    assert (summary.updated, summary.deleted, summary.skipped, summary.conflicts, summary.blocked,
            summary.exists, summary.excluded) == (1, 1, 1, 1, 1, 1, 1)
    written = [fa for e in plan.entities if e.action.writes for fa in e.files if fa.action is not Act.DELETE]
    assert summary.files_written == len(written) and summary.files_deleted == 1
    assert summary.bytes == sum(fa.size for fa in written) == plan.transfer_bytes
    assert summary.errors == [] and summary.status == "ok"
    assert summary.exit_code == EXIT_OK and summary.exit_code_strict() == EXIT_CONFLICTS
    assert summary.duration > 0 and not summary.nothing_to_do
    # the conflict, the blocked and the kept entity were not touched
    assert (pair.dst_root / bob2).read_bytes() == bytes(len(src[bob2]))
    assert (pair.dst_root / f"{tomo1}/0/0/0/0").read_bytes() == b"edited"
    assert not (pair.dst_root / alice1).exists()
    again = engine_for(pair, rules, PlanOptions(prune=True))[0].run()
    assert again.nothing_to_do and again.conflicts == 1 and again.files_written == 0


def test_missing_objects_are_added_to_the_target_config(transport: Transport,
                                                        tmp_path: Path) -> None:
    src = {picks_path("TS_001", "alice", "1", "apoferritin"): picks_json("apoferritin", "alice", "1", "TS_001")}
    pair = Pair(tmp_path, transport=transport, source_files=src, target_objects=[OBJECTS[0]],
                target_extra={"my_key": {"keep": [1, 2]}})
    cfg = json.loads(pair.target_config.read_text())
    cfg_src = json.loads(pair.source_config.read_text())
    cfg_src["pickable_objects"].append({"name": "apoferritin", "is_particle": True, "label": 1,
                                        "pdb_id": "4V1W", "custom": "x"})
    pair.source_config.write_text(json.dumps(cfg_src))
    engine, plan = engine_for(pair)
    assert [o.name for o in plan.objects] == ["apoferritin"]
    summary = engine.run()
    assert summary.objects_added == 1
    new = json.loads(pair.target_config.read_text())
    assert new["my_key"] == {"keep": [1, 2]}
    assert [o["name"] for o in new["pickable_objects"]] == ["ribosome", "apoferritin"]
    apo = new["pickable_objects"][1]
    assert apo["pdb_id"] == "4V1W" and apo["custom"] == "x" and apo["label"] == 2  # label 1 is taken
    assert {k: v for k, v in new.items() if k != "pickable_objects"} == \
        {k: v for k, v in cfg.items() if k != "pickable_objects"}
    assert replan(pair).is_noop


# -- idempotence ----------------------------------------------------------------------------------

def test_plan_sync_plan_is_a_noop(transport: Transport) -> None:
    # a remote transport costs a connection or two per example: fewer examples there
    @settings(max_examples=15 if transport.is_local else 5, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(source=hyp_project(), target=hyp_project(), rules=hyp_rules(), prune=st.booleans(),
           overwrite_conflicts=st.booleans(), target_newer=st.booleans())
    def plan_sync_plan(source, target, rules, prune, overwrite_conflicts, target_newer) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                _plan_sync_plan(Pair(Path(tmp), source_files=source, target_files={}, transport=transport),
                                target, rules, prune, overwrite_conflicts, target_newer)
            finally:
                transport.close()

    plan_sync_plan()


def _plan_sync_plan(pair: Pair, target, rules, prune, overwrite_conflicts, target_newer) -> None:
    from synctui.errors import RulesError

    write_tree(pair.dst_root, target, mtime=SRC_MTIME + (100 if target_newer else -100))
    options = PlanOptions(prune=prune, overwrite_conflicts=overwrite_conflicts)
    try:
        rules.raise_on_errors(rules.check())
    except RulesError:
        return
    engine, plan = engine_for(pair, rules, options)
    summary = engine.run()
    assert summary.errors == []
    again = replan(pair, rules, options)
    leftover = [(e.action, e.target_path, e.reason) for e in again.entities if e.action.writes]
    assert leftover == [] and again.objects == [], leftover
    assert again.is_noop
    # what the first run left as conflicts/blocked/exists is still reported, never written
    after = {(e.target_path, e.source_path): e.action for e in again.entities}
    for before in plan.entities:
        if before.action in (Act.CONFLICT, Act.BLOCKED, Act.EXISTS):
            assert after[before.target_path, before.source_path] is before.action
    assert temp_files(pair.dst_root) == []
    assert not any(".synctui-tmp" in p for p in read_tree(pair.dst_root, hidden=True))
