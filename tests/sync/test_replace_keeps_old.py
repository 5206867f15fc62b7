"""No target file that differs from what synctui last wrote is replaced without a trash copy.

"Take the source" on a conflict, an update over a file synctui never wrote: the
target's version goes into ``.synctui-trash/<sync id>/`` first and ``synctui trash
restore --replace`` brings it back.  A file exactly as synctui wrote it is replaced
in place (nothing of anyone's would be lost).
"""

from __future__ import annotations

import os
from pathlib import Path

from safety_helpers import plan_job, run_job, run_main

from synctui.errors import EXIT_OK
from synctui.sync import trash
from synctui.sync.api import SyncJob
from synctui.sync.plan import Act, Plan, resolve_conflict

PICKS = "ExperimentRuns/TS_1/Picks/alice_1_ribosome.json"
MESH = "ExperimentRuns/TS_1/Meshes/alice_1_ribosome.glb"
TRASH = ".synctui-trash"


def _touch(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def _batches(root: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in (root / TRASH).rglob("*") if (root / TRASH).exists() else []:
        if f.is_file():
            rel = f.relative_to(root / TRASH).as_posix()
            sync_id, _, original = rel.partition("/")
            out.setdefault(sync_id, set()).add(original)
    return out


def test_take_source_keeps_the_edited_target_in_the_trash_and_restore_brings_it_back(
        make_project, capsys) -> None:
    src = make_project({PICKS: '{"v": 1}', MESH: b"glb-1"}, where="src")
    dst = make_project({}, where="dst")
    sroot, troot = src.parent / "overlay", dst.parent / "overlay"
    first = run_job(SyncJob(src, dst))
    assert first.files_set_aside == 0 and not _batches(troot)  # nothing was there: nothing kept
    # both sides change: the target's edit is newer, so the plan calls it a conflict
    _touch(sroot / PICKS, '{"v": 2}', 2_000_000_000)
    _touch(troot / PICKS, '{"edited": "by hand"}', 2_000_000_100)
    job = SyncJob(src, dst)
    plan = plan_job(job)
    ep = next(e for e in plan.entities if e.target_path == PICKS)
    assert ep.action is Act.CONFLICT
    resolve_conflict(ep, "take-source")
    summary = run_job(SyncJob(src, dst), plan)
    assert summary.updated == 1 and summary.files_set_aside == 1
    assert (troot / PICKS).read_text() == '{"v": 2}'
    assert _batches(troot) == {summary.sync_id: {PICKS}}
    assert summary.trash == f"{TRASH}/{summary.sync_id}"
    # the CLI lists it and swaps it back; the version it displaces is kept in turn
    code, out, _ = run_main(capsys, "trash", "list", "--target", str(dst))
    assert code == EXIT_OK and summary.sync_id in out
    code, _, err = run_main(capsys, "trash", "restore", summary.sync_id, "--target", str(dst))
    assert code == EXIT_OK and "--replace" in err and (troot / PICKS).read_text() == '{"v": 2}'
    code, out, _ = run_main(capsys, "trash", "restore", summary.sync_id, "--target", str(dst), "--replace")
    assert code == EXIT_OK and f"restored {PICKS}" in out
    assert (troot / PICKS).read_text() == '{"edited": "by hand"}'
    assert _batches(troot) == {f"{summary.sync_id}{trash.REPLACED}": {PICKS}}


def test_updates_over_files_synctui_never_wrote_keep_the_old_version(make_project) -> None:
    src = make_project({PICKS: '{"v": 2}', MESH: b"glb-2"}, where="src")
    dst = make_project({PICKS: '{"theirs": 1}', MESH: b"glb-1"}, where="dst")
    sroot, troot = src.parent / "overlay", dst.parent / "overlay"
    for rel in (PICKS, MESH):  # the source is newer: a plain update, no conflict
        os.utime(sroot / rel, (2_000_000_000, 2_000_000_000))
        os.utime(troot / rel, (1_000_000_000, 1_000_000_000))
    plan = plan_job(SyncJob(src, dst))
    assert {e.action for e in plan.entities} == {Act.UPDATE}
    assert all(fa.keep_old for _, fa in plan.file_actions())
    plan.save(str(src.parent / "plan.json"))  # a saved plan keeps the promise too
    plan = Plan.load(str(src.parent / "plan.json"))
    assert all(fa.keep_old for _, fa in plan.file_actions())
    summary = run_job(SyncJob(src, dst), plan)
    assert summary.files_set_aside == 2
    assert _batches(troot) == {summary.sync_id: {PICKS, MESH}}
    assert (troot / TRASH / summary.sync_id / PICKS).read_text() == '{"theirs": 1}'
    # now synctui wrote them: the next update replaces them in place, nothing to keep
    _touch(sroot / PICKS, '{"v": 3}', 2_000_000_500)
    again = run_job(SyncJob(src, dst))
    assert again.updated == 1 and again.files_set_aside == 0
    assert set(_batches(troot)) == {summary.sync_id}


def test_a_failed_replacement_puts_the_old_version_back(make_project, monkeypatch) -> None:
    from synctui.errors import StoreError
    from synctui.storage import local

    src = make_project({PICKS: '{"v": 2}'}, where="src")
    dst = make_project({PICKS: '{"theirs": 1}'}, where="dst")
    os.utime(src.parent / "overlay" / PICKS, (2_000_000_000, 2_000_000_000))
    os.utime(dst.parent / "overlay" / PICKS, (1_000_000_000, 1_000_000_000))

    def refuse(self, *args, **kwargs):
        raise StoreError("disk says no")

    for name in ("write_atomic", "copy_from"):
        monkeypatch.setattr(local.LocalStore, name, refuse)
    summary = run_job(SyncJob(src, dst))
    assert summary.errors and summary.files_set_aside == 0
    assert (dst.parent / "overlay" / PICKS).read_text() == '{"theirs": 1}'
    assert not _batches(dst.parent / "overlay")
