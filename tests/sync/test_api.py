"""The Python API: SyncJob and the copick-compatible sync_* functions."""

from __future__ import annotations

import inspect
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_helpers import (
    SRC_MTIME,
    Pair,
    basic_source,
    hyp_project,
    hyp_rules,
    picks_path,
    seg_path,
    sync_lands_before_the_lock,
    tomo_path,
    two_sources_one_file,
    write_tree,
    zarr_files,
)
from transports import Transport

from synctui.errors import EXIT_CANCELLED, EXIT_OK, RulesError, SyncTuiError
from synctui.project.config import load_config
from synctui.sync.api import (
    JobOptions,
    SyncJob,
    sync_meshes,
    sync_picks,
    sync_segmentations,
    sync_tomograms,
)
from synctui.sync.engine import Summary
from synctui.sync.events import ItemFinished, Note, SyncFinished, SyncStarted
from synctui.sync.plan import Act, Plan, PlanOptions
from synctui.sync.rules import RuleSet


class Gate:
    """Wraps a target store: every write waits until ``open`` is set.

    It wraps every write path of the real store: ``copy_from``, ``write_many`` and
    ``write_atomic`` (which of them the engine uses, the store's ``features`` say)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.open = threading.Event()
        self.waiting = threading.Event()

    def __getattr__(self, name: str):
        if name in ("copy_from", "write_many"):
            return getattr(self, f"_{name}")
        return getattr(self.inner, name)

    def _wait(self) -> None:
        self.waiting.set()
        assert self.open.wait(30), "the test never opened the gate"

    def _copy_from(self, source, src_path, path, *, mtime_ns=None):
        self._wait()
        return self.inner.copy_from(source, src_path, path, mtime_ns=mtime_ns)

    def _write_many(self, items, **kw):
        self._wait()
        return self.inner.write_many(items, **kw)

    def write_atomic(self, path, data, *, mtime_ns=None, size=None):
        self._wait()
        return self.inner.write_atomic(path, data, mtime_ns=mtime_ns, size=size)


def gated_job(pair: Pair, **kw) -> tuple[SyncJob, Plan, Gate]:
    job = SyncJob(pair.src, pair.dst, **kw)
    plan = job.plan()
    assert job.target is not None
    gate = Gate(job.target.stores["overlay"])
    job.target.stores["overlay"] = gate
    return job, plan, gate


# -- SyncJob --------------------------------------------------------------------------------

def test_plan_then_run_then_nothing_to_do(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    job = SyncJob(pair.src, pair.dst)
    plan = job.plan()
    assert isinstance(plan, Plan) and plan.transfer_files == len(pair.src_files)
    assert job.last_plan is plan
    summary = job.run()  # runs the plan made above
    assert isinstance(summary, Summary) and job.summary is summary
    assert summary.status == "ok" and summary.exit_code == EXIT_OK and job.error is None
    assert summary.created == len(plan.entities)
    assert pair.target_tree() == pair.source_tree()
    again = SyncJob(pair.src, pair.dst)
    assert again.plan().is_noop
    second = again.run()
    assert second.nothing_to_do and second.files_written == 0


def test_run_without_plan_plans_first(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    summary = SyncJob(pair.src, pair.dst, max_workers=1).run()
    assert summary.files_written == len(pair.src_files) and summary.errors == []
    assert pair.target_tree() == pair.source_tree()


def test_start_wait_progress_and_is_running(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    job, plan, gate = gated_job(pair, max_workers=2)
    assert not job.is_running and job.progress == 0.0
    job.start(plan)
    assert gate.waiting.wait(10)
    assert job.is_running and not job.wait(0.05)
    assert job.progress == 0.0
    with pytest.raises(SyncTuiError, match="already running"):
        job.start(plan)
    seen: list[float] = []
    gate.open.set()
    while not job.wait(0.001):
        seen.append(job.progress)
    assert not job.is_running and job.error is None
    assert all(0.0 <= p <= 100.0 for p in seen) and seen == sorted(seen)
    assert job.progress == 100.0
    assert job.summary is not None and job.summary.errors == []
    assert pair.target_tree() == pair.source_tree()


def test_cancel_a_started_job(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, source_files=basic_source(("TS_001", "TS_002", "TS_003"), chunks=10),
                transport=transport)
    job, plan, gate = gated_job(pair, max_workers=2)
    job.start(plan)
    assert gate.waiting.wait(10)
    job.cancel()
    gate.open.set()
    assert job.wait(30)
    s = job.summary
    assert s is not None and s.cancelled and s.status == "cancelled" and s.exit_code == EXIT_CANCELLED
    assert job.error is None
    assert 0 < s.files_written < plan.transfer_files
    tgt = pair.target_tree()
    assert all(pair.src_files[rel] == content for rel, content in tgt.items())
    assert not list(pair.dst_root.rglob(".synctui-tmp-*"))
    # the lock was released: a new job runs to the end
    final = SyncJob(pair.src, pair.dst).run()
    assert final.errors == [] and pair.target_tree() == pair.source_tree()


def test_errors_of_a_started_job_are_kept_not_raised(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    rules = RuleSet()
    rules.set_mapping("objects", "ribosome", "same")
    rules.set_mapping("objects", "membrane", "same")
    job = SyncJob(pair.src, pair.dst, rules)
    job.start()
    assert job.wait(30)
    assert isinstance(job.error, RulesError) and "same" in str(job.error)
    assert job.summary is None and not job.is_running
    assert pair.target_tree() == {}
    with pytest.raises(RulesError):
        SyncJob(pair.src, pair.dst, rules).run()


def test_same_overlay_is_refused(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    with pytest.raises(SyncTuiError, match="share the overlay root"):
        SyncJob(pair.src, pair.src)


def test_events_of_a_job(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    job = SyncJob(pair.src, pair.dst)
    job.start()
    assert job.wait(30)
    events = job.sink.drain()
    started = [e for e in events if isinstance(e, SyncStarted)]
    finished = [e for e in events if isinstance(e, SyncFinished)]
    assert len(started) == 1 and len(finished) == 1 and finished[0].summary is job.summary
    assert events.index(started[0]) < events.index(finished[0])
    done = {e.path for e in events if isinstance(e, ItemFinished)}
    assert set(pair.src_files) <= done


@pytest.mark.parametrize("kind", ["dict", "ProjectConfig"])
def test_configs_as_dicts_or_objects(transport: Transport, tmp_path: Path, kind: str) -> None:
    pair = Pair(tmp_path, transport=transport)
    src: object = json.loads(pair.source_config.read_text())
    dst: object = json.loads(pair.target_config.read_text())
    if kind == "ProjectConfig":
        src, dst = load_config(pair.src), load_config(pair.dst)
    summary = SyncJob(src, dst).run()  # type: ignore[arg-type]
    assert summary.errors == [] and pair.target_tree() == pair.source_tree()


# -- copick-compatible functions --------------------------------------------------------------

COPICK_PARAMS = {
    sync_picks: ["source_root", "target_root", "source_runs", "target_runs", "source_objects",
                 "target_objects", "source_users", "target_users", "exist_ok", "max_workers", "log"],
    sync_meshes: ["source_root", "target_root", "source_runs", "target_runs", "source_objects",
                  "target_objects", "source_users", "target_users", "exist_ok", "max_workers", "log"],
    sync_segmentations: ["source_root", "target_root", "source_runs", "target_runs", "voxel_spacings",
                         "source_names", "target_names", "source_users", "target_users", "exist_ok",
                         "max_workers", "log"],
    sync_tomograms: ["source_root", "target_root", "source_runs", "target_runs", "voxel_spacings",
                     "source_tomo_types", "target_tomo_types", "exist_ok", "max_workers", "log"],
}


@pytest.mark.parametrize("fn", list(COPICK_PARAMS), ids=lambda f: f.__name__)
def test_copick_parameter_names_and_order(fn) -> None:
    params = inspect.signature(fn).parameters
    assert list(params) == COPICK_PARAMS[fn]
    assert params["exist_ok"].default is False and params["log"].default is False


def _objects_of(config: Path) -> dict[str, dict]:
    return {o["name"]: o for o in json.loads(config.read_text())["pickable_objects"]}


def test_sync_picks_filters_maps_and_adds_objects(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, target_objects=[], target_extra={"unknown_key": {"kept": True}, "user_id": "me"},
                transport=transport)
    summary = sync_picks(pair.src, pair.dst, source_runs=["TS_001"], target_runs={"TS_001": "run1"},
                         source_objects=["ribosome"], target_objects={"ribosome": "ribo"},
                         source_users=["alice"], target_users={"alice": "carol"}, max_workers=2)
    assert isinstance(summary, Summary) and summary.errors == [] and summary.created == 1
    target = pair.target_tree()
    written = picks_path("run1", "carol", "1", "ribo")
    assert list(target) == [written]
    src = json.loads(pair.src_files[picks_path("TS_001", "alice", "1", "ribosome")])
    got = json.loads(target[written])
    expected = dict(src, run_name="run1", pickable_object_name="ribo", user_id="carol")
    assert got == expected  # every other field kept (unit, trust_orientation, unknown keys ...)
    cfg = json.loads(pair.target_config.read_text())
    assert cfg["unknown_key"] == {"kept": True} and cfg["user_id"] == "me"
    ribo = _objects_of(pair.target_config)["ribo"]
    assert ribo["is_particle"] is True and ribo["radius"] == 150.0 and ribo["color"] == [0, 117, 220, 255]
    assert summary.objects_added == 1
    # copick raises on the second call; ours is a no-op
    again = sync_picks(pair.src, pair.dst, source_runs=["TS_001"], target_runs={"TS_001": "run1"},
                       source_objects=["ribosome"], target_objects={"ribosome": "ribo"},
                       source_users=["alice"], target_users={"alice": "carol"})
    assert again.nothing_to_do and again.errors == [] and again.files_written == 0
    assert again.exit_code == EXIT_OK
    assert pair.target_tree() == target


def test_sync_picks_exist_ok(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    assert sync_picks(pair.src, pair.dst).created == 4
    rel = picks_path("TS_002", "bob", "0", "membrane")
    (pair.src_root / rel).write_bytes(b'{"points": []}')
    os.utime(pair.src_root / rel, (SRC_MTIME + 10, SRC_MTIME + 10))
    kept = sync_picks(pair.src, pair.dst)  # exist_ok=False: keep the target's copy, no error
    assert kept.exists == 1 and kept.files_written == 0 and kept.errors == []
    assert pair.target_tree()[rel] == pair.src_files[rel]
    updated = sync_picks(pair.src, pair.dst, exist_ok=True)
    assert updated.updated == 1 and updated.files_written == 1
    assert pair.target_tree()[rel] == b'{"points": []}'


def test_sync_picks_partial_run_map(transport: Transport, tmp_path: Path) -> None:
    """copick crashes on a run map that does not name every run; unmapped runs keep their names."""
    pair = Pair(tmp_path, transport=transport)
    summary = sync_picks(pair.src, pair.dst, target_runs={"TS_001": "run1"})
    assert summary.errors == [] and summary.created == 4
    assert {p.split("/")[1] for p in pair.target_tree()} == {"run1", "TS_002"}


def test_sync_meshes_byte_for_byte(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport)
    summary = sync_meshes(pair.src, pair.dst, target_users={"alice": "dave"}, log=True)
    assert summary.created == 2 and summary.errors == []
    target = pair.target_tree()
    assert set(target) == {f"ExperimentRuns/{r}/Meshes/dave_1_ribosome.glb" for r in ("TS_001", "TS_002")}
    for run in ("TS_001", "TS_002"):
        assert target[f"ExperimentRuns/{run}/Meshes/dave_1_ribosome.glb"] == \
            pair.src_files[f"ExperimentRuns/{run}/Meshes/alice_1_ribosome.glb"]
    assert sync_meshes(pair.src, pair.dst, target_users={"alice": "dave"}).nothing_to_do


def test_sync_segmentations(transport: Transport, tmp_path: Path) -> None:
    src = basic_source()
    src.update(zarr_files(seg_path("TS_001", "alice", "1", "membrane", vs="7.840"), chunks=2, seed=9))
    src.update(zarr_files(seg_path("TS_001", "bob", "1", "labels", multilabel=True), chunks=2, seed=8))
    pair = Pair(tmp_path, transport=transport, source_files=src)
    summary = sync_segmentations(pair.src, pair.dst, voxel_spacings=[10.0], source_names=["membrane", "labels"],
                                 target_names={"membrane": "mem"}, source_users=["alice", "bob"])
    assert summary.errors == [] and summary.created == 3
    target = pair.target_tree()
    stores = {p.split(".zarr/")[0] + ".zarr" for p in target}
    assert stores == {seg_path("TS_001", "alice", "1", "mem"), seg_path("TS_002", "alice", "1", "mem"),
                      seg_path("TS_001", "bob", "1", "labels", multilabel=True)}
    old = seg_path("TS_001", "alice", "1", "membrane")
    new = seg_path("TS_001", "alice", "1", "mem")
    for rel, content in src.items():
        if rel.startswith(old + "/"):
            assert target[new + rel[len(old):]] == content
    again = sync_segmentations(pair.src, pair.dst, voxel_spacings=[10.0], source_names=["membrane", "labels"],
                               target_names={"membrane": "mem"}, source_users=["alice", "bob"])
    assert again.nothing_to_do


def test_sync_tomograms_every_voxel_spacing(transport: Transport, tmp_path: Path) -> None:
    src = basic_source(("TS_001",))
    src.update(zarr_files(tomo_path("TS_001", "wbp", "7.840"), chunks=3, seed=5))
    src.update(zarr_files(tomo_path("TS_001", "denoised", "7.840"), chunks=3, seed=6))
    pair = Pair(tmp_path, transport=transport, source_files=src)
    summary = sync_tomograms(pair.src, pair.dst, source_tomo_types=["wbp"], target_tomo_types={"wbp": "recon"})
    assert summary.errors == [] and summary.created == 2
    stores = {p.split(".zarr/")[0] + ".zarr" for p in pair.target_tree()}
    assert stores == {tomo_path("TS_001", "recon", "10.000"), tomo_path("TS_001", "recon", "7.840")}
    only = Pair(tmp_path / "second", transport=transport)
    s2 = sync_tomograms(only.src, only.dst, voxel_spacings=[7.84], source_runs=["TS_001"])
    assert s2.created == 0 and s2.excluded > 0
    assert sync_tomograms(pair.src, pair.dst, source_tomo_types=["wbp"],
                          target_tomo_types={"wbp": "recon"}).nothing_to_do


def test_copick_functions_accept_dicts(transport: Transport, tmp_path: Path, caplog) -> None:
    pair = Pair(tmp_path, transport=transport, target_objects=[])
    before = pair.target_config.read_text()
    src = json.loads(pair.source_config.read_text())
    dst = json.loads(pair.target_config.read_text())
    with caplog.at_level(logging.INFO, logger="synctui"):
        summary = sync_picks(src, dst, log=True)
    assert summary.created == 4 and summary.errors == []
    assert any("synced" in r.getMessage() for r in caplog.records)
    # a dict has no file to add objects to: the config file is untouched
    assert pair.target_config.read_text() == before


def test_dict_target_warns_that_objects_are_not_saved(transport: Transport, tmp_path: Path) -> None:
    pair = Pair(tmp_path, transport=transport, target_objects=[])
    job = SyncJob(pair.src, json.loads(pair.target_config.read_text()))
    plan = job.plan()
    assert {o.name for o in plan.objects} == {"ribosome", "membrane"}
    job.run(plan)
    notes = [e for e in job.sink.drain() if isinstance(e, Note)]
    assert any("objects not saved" in n.text for n in notes)


def test_a_sync_lists_under_its_lock_so_a_sync_that_just_ended_is_not_clobbered(
        tmp_path: Path, monkeypatch) -> None:
    """Another sync writes the file and ends just before ours takes the lock: our listing,
    taken under the lock, sees its version, a file this pair never wrote: a conflict,
    left in place (a listing from before the lock would have planned a create over it)."""
    a_cfg, b_cfg, t_cfg, rel = two_sources_one_file(tmp_path)
    landed = sync_lands_before_the_lock(monkeypatch, b_cfg, t_cfg)
    with SyncJob(str(a_cfg), str(t_cfg)) as job:
        summary = job.run()
    assert landed == [1], "the other sync wrote first"
    assert summary.errors == [] and summary.conflicts == 1 and summary.files_written == 0
    assert (tmp_path / "t" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_job_plan_sync_plan_with_state_and_locks(transport: Transport, tmp_path: Path) -> None:
    """The same idempotence through SyncJob (state database baseline, locks)."""
    pair = Pair(tmp_path, target_files={picks_path("TS_001", "alice", "1", "ribosome"): b"{}",
                                        **zarr_files(tomo_path("TS_002"), chunks=6, seed=44)},
                transport=transport)
    rules = RuleSet()
    rules.set_mapping("users", "bob", "robert")
    first = SyncJob(pair.src, pair.dst, rules).run()
    assert first.errors == [] and first.updated == 2
    again = SyncJob(pair.src, pair.dst, rules)
    plan = again.plan()
    assert [e for e in plan.entities if e.action.writes] == [] and plan.is_noop
    assert all(e.action is Act.SKIP for e in plan.entities)
    time.sleep(0.01)
    assert again.run().nothing_to_do


def test_job_is_idempotent_on_random_projects(transport: Transport) -> None:
    """plan -> run -> plan through SyncJob (manifest baseline from the state database, locks)."""

    # a remote transport costs a connection or two per example: fewer examples there
    @settings(max_examples=10 if transport.is_local else 5, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(source=hyp_project(), target=hyp_project(), rules=hyp_rules(), target_newer=st.booleans(),
           prune=st.booleans())
    def idempotent(source, target, rules, target_newer, prune) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                _job_is_idempotent(Pair(Path(tmp), source_files=source, transport=transport), Path(tmp),
                                   target, rules, target_newer, prune)
            finally:
                transport.close()

    idempotent()


def _job_is_idempotent(pair: Pair, tmp: Path, target, rules, target_newer, prune) -> None:
    write_tree(pair.dst_root, target, mtime=SRC_MTIME + (100 if target_newer else -100))
    options = PlanOptions(prune=prune)
    # random targets are often pruned whole: the guard's override (idempotence is the point here)
    state = JobOptions(state_path=str(tmp / "state.db"), prune_all=True)
    try:
        first = SyncJob(pair.src, pair.dst, rules, options=options, job_options=state).run()
    except RulesError:
        return  # a mapping that collides with a name the source keeps: refused up front
    assert first.errors == []
    job = SyncJob(pair.src, pair.dst, rules, options=options, job_options=state)
    plan = job.plan()
    assert [(e.action, e.target_path) for e in plan.entities if e.action.writes] == [] and plan.is_noop
    second = job.run(plan)
    assert second.nothing_to_do and second.files_written == 0
