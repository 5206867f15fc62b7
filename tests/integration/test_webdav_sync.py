"""The whole engine path (SyncJob) with a WebDAV target and with a WebDAV source.

Every ``dav`` test runs against wsgidav and nginx + dav_ext.  SYNCTUI_STATE_DIR
points at a per-test folder (the root conftest's autouse ``state_dir``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import (
    SRC_MTIME,
    TRASH,
    basic_source,
    picks_json,
    picks_path,
    read_tree,
    tomo_path,
    write_config,
    write_tree,
)
from webdav_servers import Dav, FailFirstPuts  # noqa: E402

from synctui.errors import LockHeldError
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.events import ItemRetry
from synctui.sync.locks import Lock
from synctui.sync.plan import Act
from synctui.sync.rules import RuleSet

pytestmark = pytest.mark.integration


def dav_config(path: Path, dav: Dav, sub: str, *, form: str = "webdav", name: str = "dav",
               objects: list | None = None, fs_args: dict[str, Any] | None = None) -> Path:
    """A copick config whose overlay is ``sub`` below the test's collection."""
    if form == "webdav":  # copick's own form: a relative path plus base_url
        root = f"webdav://{dav.prefix.strip('/')}/{sub}"
        args = {"base_url": dav.server_url, **(fs_args or {})}
    else:
        root, args = f"{dav.url}/{sub}", dict(fs_args or {})
    cfg = {"name": name, "pickable_objects": objects if objects is not None else [
        {"name": "ribosome", "is_particle": True, "label": 1},
        {"name": "membrane", "is_particle": False, "label": 2}], "overlay_root": root}
    if args:
        cfg["overlay_fs_args"] = args
    path.write_text(json.dumps(cfg, indent=2))
    return path


def job(src: Path, dst: Path, rules: RuleSet | None = None, **opts: Any) -> SyncJob:
    opts.setdefault("max_workers", 4)
    opts.setdefault("fsync", False)
    return SyncJob(str(src), str(dst), rules, job_options=JobOptions(**opts))


def visible(tree: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in tree.items() if not k.startswith(".synctui")}


@pytest.fixture
def local_source(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    files = basic_source()
    root = tmp_path / "src" / "overlay"
    write_tree(root, files, mtime=SRC_MTIME)
    return write_config(tmp_path / "src" / "config.json", root, name="source"), files


@pytest.mark.parametrize("form", ["webdav", "http"])
def test_local_to_webdav_then_noop(dav: Dav, tmp_path: Path, local_source, form: str) -> None:
    src, files = local_source
    dst = dav_config(tmp_path / "dst.json", dav, "proj/overlay", form=form)
    first = job(src, dst).run()
    assert not first.errors and first.files_written == len(files) and first.created > 0
    assert read_tree(dav.disk / "proj/overlay") == files
    assert not list((dav.disk / "proj/overlay").rglob(".synctui-tmp-*"))
    again = job(src, dst)
    plan = again.plan()
    assert plan.is_noop and plan.transfer_files == 0, [
        (e.target_path, e.reason) for e in plan.entities if e.action.writes]
    second = again.run()
    assert second.files_written == 0 and second.nothing_to_do and not second.errors


def test_source_change_moves_only_that_file(dav: Dav, tmp_path: Path, local_source) -> None:
    src, files = local_source
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    job(src, dst).run()
    chunk = tomo_path("TS_001") + "/0/0/0/1"
    (tmp_path / "src/overlay" / chunk).write_bytes(b"changed chunk")
    os.utime(tmp_path / "src/overlay" / chunk, (SRC_MTIME + 60, SRC_MTIME + 60))
    (tmp_path / "src/overlay" / tomo_path("TS_002") / "0/0/0/0").unlink()  # a stale key
    s = job(src, dst).run()
    assert not s.errors and s.files_written == 1 and s.files_deleted == 1 and s.updated == 2
    assert (dav.disk / "o" / chunk).read_bytes() == b"changed chunk"
    assert (dav.disk / "o" / TRASH).is_dir()  # deletes are moves into the target's trash
    assert not (dav.disk / "o" / tomo_path("TS_002") / "0/0/0/0").exists()
    assert job(src, dst).plan().is_noop


def test_target_edited_on_the_server_is_a_conflict(dav: Dav, tmp_path: Path, local_source) -> None:
    src, files = local_source
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    job(src, dst).run()
    picks = picks_path("TS_001", "alice", "1", "ribosome")
    edited = picks_json("ribosome", "alice", "1", "TS_001", n=9, seed=42)
    (dav.disk / "o" / picks).write_bytes(edited)  # someone else, through the server's disk
    source_file = tmp_path / "src/overlay" / picks
    source_file.write_bytes(picks_json("ribosome", "alice", "1", "TS_001", n=5, seed=3))
    os.utime(source_file, (SRC_MTIME + 60, SRC_MTIME + 60))
    plan = job(src, dst).plan()
    acts = {e.target_path: e.action for e in plan.entities}
    assert acts[picks] is Act.CONFLICT
    s = job(src, dst).run()
    assert s.conflicts == 1 and (dav.disk / "o" / picks).read_bytes() == edited


def test_mapping_rewrites_names_on_the_server(dav: Dav, tmp_path: Path, local_source) -> None:
    src, files = local_source
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    rules = RuleSet()
    rules.set_mapping("users", "alice", "carol")
    rules.set_mapping("runs", "TS_001", "run1")
    s = job(src, dst, rules).run()
    assert not s.errors
    got = json.loads((dav.disk / "o" / picks_path("run1", "carol", "1", "ribosome")).read_bytes())
    assert got["user_id"] == "carol" and got["run_name"] == "run1" and got["extra_key"] == {"kept": True}
    assert not (dav.disk / "o/ExperimentRuns/TS_001").exists()
    plan = job(src, dst, rules).plan()
    assert plan.is_noop, [(e.target_path, e.reason) for e in plan.entities if e.action.writes]
    # the source moves on: the mapped file is an update, not a conflict
    source_file = tmp_path / "src/overlay" / picks_path("TS_001", "alice", "1", "ribosome")
    source_file.write_bytes(picks_json("ribosome", "alice", "1", "TS_001", n=7, seed=5))
    os.utime(source_file, (SRC_MTIME + 60, SRC_MTIME + 60))
    s = job(src, dst, rules).run()
    assert not s.errors and s.conflicts == 0 and s.files_written == 1
    got = json.loads((dav.disk / "o" / picks_path("run1", "carol", "1", "ribosome")).read_bytes())
    assert len(got["points"]) == 7


def test_webdav_to_local_then_noop(dav: Dav, tmp_path: Path) -> None:
    files = basic_source(("TS_9",))
    write_tree(dav.disk / "srv", files)
    src = dav_config(tmp_path / "src.json", dav, "srv", name="remote")
    dst = write_config(tmp_path / "local" / "config.json", tmp_path / "local" / "overlay", name="local")
    first = job(src, dst).run()
    assert not first.errors and first.files_written == len(files)
    assert read_tree(tmp_path / "local/overlay") == files  # zarr's dotfiles too, even from nginx
    for rel in files:  # the server's mtimes (whole seconds) came along
        assert int(os.stat(tmp_path / "local/overlay" / rel).st_mtime) == \
            int(os.stat(dav.disk / "srv" / rel).st_mtime)
    again = job(src, dst)
    assert again.plan().is_noop
    assert again.run().files_written == 0
    # the read lock was taken and released on the server
    assert not list((dav.disk / "srv" / ".synctui-lock").glob("*.json"))


def test_5xx_is_retried_and_the_sync_completes(dav_factory, tmp_path: Path, local_source) -> None:
    src, files = local_source
    mw: list[FailFirstPuts] = []
    _, dav = dav_factory(middleware=lambda app: mw.append(FailFirstPuts(app, 0, match="ExperimentRuns"))
                         or mw[0])
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    mw[0].remaining = 3  # within one PUT's tries in the store (4): the engine never sees them
    j = job(src, dst, max_workers=1)
    s = j.run()
    assert mw[0].failed == 3
    assert not s.errors and s.status == "ok"
    assert not [e for e in j.sink.drain() if isinstance(e, ItemRetry)]  # no second level on top
    assert read_tree(dav.disk / "o") == files
    assert not list((dav.disk / "o").rglob(".synctui-tmp-*"))
    assert job(src, dst).plan().is_noop


def test_write_lock_on_the_server_blocks_a_second_sync(dav: Dav, tmp_path: Path, local_source) -> None:
    src, _ = local_source
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    holder = dav.store("o")
    try:
        with Lock(holder, "write", ttl=60):
            with pytest.raises(LockHeldError, match="write lock held"):
                job(src, dst).run()
    finally:
        holder.close()
    assert not job(src, dst).run().errors


def test_leftover_temp_files_are_cleaned(dav_factory, tmp_path: Path, local_source) -> None:
    src, files = local_source
    _, dav = dav_factory()
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    job(src, dst).run()
    junk = dav.disk / "o" / "ExperimentRuns" / "TS_001" / ".synctui-tmp-x.json.0123456789ab"
    junk.write_bytes(b"half")
    assert not job(src, dst).run().errors
    assert not junk.exists()
    assert visible(read_tree(dav.disk / "o", hidden=True)) == files


def test_capabilities_reach_the_catalog(dav: Dav, tmp_path: Path, local_source) -> None:
    src, _ = local_source
    (dav.disk / "o").mkdir()  # a root that exists is listed (a missing one is not looked into)
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    j = job(src, dst)
    j.scan()
    assert j.target is not None
    store = j.target.stores["overlay"]
    line = store.capabilities.describe()
    assert "\n" not in line and ("depth∞" in line) == (dav.kind == "wsgidav")


@pytest.mark.parametrize("edit", ["resized", "replaced-same-size-and-mtime"])
def test_mapped_file_edited_on_the_server_is_a_conflict(dav: Dav, tmp_path: Path, local_source,
                                                        edit: str) -> None:
    """A picks file written under a name mapping: a second sync is a no-op; an edit on the
    server since synctui wrote it is a conflict, told by the recorded etag where there is one."""
    if edit != "resized" and dav.kind == "nginx":
        pytest.skip("nginx's dav module reports no etags: a same-size, same-mtime edit is invisible")
    src, files = local_source
    dst = dav_config(tmp_path / "dst.json", dav, "o")
    rules = RuleSet()
    rules.set_mapping("users", "alice", "carol")
    first = job(src, dst, rules).run()
    assert not first.errors and first.files_written == len(files)
    again = job(src, dst, rules)
    plan = again.plan()
    assert plan.is_noop, [(e.target_path, e.reason) for e in plan.entities if e.action.writes]
    second = again.run()
    assert second.files_written == 0 and second.nothing_to_do and not second.errors

    mapped = picks_path("TS_001", "carol", "1", "ribosome")
    target_file = dav.disk / "o" / mapped
    written = target_file.read_bytes()
    if edit == "resized":
        edited = written.replace(b'"score": 0.5', b'"score": 0.75')
        target_file.write_bytes(edited)
    else:  # an editor's save: a new file renamed over the old, same size, mtime kept
        edited = written.replace(b'"score": 0.5', b'"score": 0.7')
        assert len(edited) == len(written)
        old = target_file.stat()
        fresh = target_file.with_name("edit.tmp")
        fresh.write_bytes(edited)
        os.utime(fresh, ns=(old.st_atime_ns, old.st_mtime_ns))
        os.replace(fresh, target_file)
    assert edited != written
    plan = job(src, dst, rules).plan()
    ent = next(e for e in plan.entities if e.target_path == mapped)
    assert ent.action is Act.CONFLICT and ent.reason == "target changed since the last sync"
    assert [e.target_path for e in plan.entities if e.action.writes] == []
    s = job(src, dst, rules).run()
    assert s.conflicts == 1 and s.files_written == 0
    assert target_file.read_bytes() == edited
