"""Small files travel in batches over SSH (one tar stream), and a batch never loses
the per-file guarantees: each file atomic, mtimes kept, one failure reported alone,
transient trouble retried file by file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sshd_server import _comm
from sync_helpers import SRC_MTIME, Pair, basic_source, temp_files, tomo_path, zarr_files

from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.engine import BATCH_FILES

if TYPE_CHECKING:
    from server_fixtures import Remote

pytestmark = pytest.mark.integration


def many_small() -> dict[str, bytes]:
    files = basic_source(("TS_001",))
    files.update(zarr_files(tomo_path("TS_002"), chunks=300, chunk_size=2000, seed=4))
    return files


def ssh_pair(remote: Remote, base: Path, *, source: bool = False, **kw: Any) -> Pair:
    pair = Pair(base, **kw)
    if source:
        remote.ssh_config(pair.source_config, root=pair.src_root)
    else:
        remote.ssh_config(pair.target_config, root=pair.dst_root)
    return pair


class Spy:
    """Counts calls of one store method (the real one still runs)."""

    def __init__(self, store: Any, name: str) -> None:
        self.calls: list[int] = []
        real = getattr(store, name)

        def spy(items, *a, **kw):
            items = list(items)
            self.calls.append(len(items))
            return real(items, *a, **kw)

        setattr(store, name, spy)


def run_with(pair: Pair, side: str, method: str, **opts: Any):
    job = SyncJob(pair.src, pair.dst, job_options=JobOptions(max_workers=3, fsync=False, **opts))
    job.plan()
    assert job.source is not None and job.target is not None
    store = (job.target if side == "target" else job.source).stores["overlay"]
    spy = Spy(store, method)
    try:
        return job.run(), spy
    finally:
        for cat in (job.source, job.target):
            for s in cat.stores.values():
                s.close()


def test_small_files_go_to_an_ssh_target_in_batches(remote: Remote, tmp_path: Path) -> None:
    pair = ssh_pair(remote, tmp_path, source_files=many_small())
    summary, spy = run_with(pair, "target", "write_many")
    assert summary.errors == [] and summary.status == "ok"
    assert summary.files_written == len(pair.src_files)
    assert sum(spy.calls) == len(pair.src_files)
    assert len(spy.calls) < len(pair.src_files) / 10  # batches, not file by file
    assert max(spy.calls) <= BATCH_FILES
    assert pair.target_tree() == pair.source_tree()
    for rel in pair.src_files:
        assert (pair.dst_root / rel).stat().st_mtime_ns == SRC_MTIME * 10**9, rel
    assert temp_files(pair.dst_root) == []
    again, spy2 = run_with(pair, "target", "write_many")
    assert again.nothing_to_do and spy2.calls == []


def test_small_files_come_from_an_ssh_source_in_batches(remote: Remote, tmp_path: Path) -> None:
    pair = ssh_pair(remote, tmp_path, source=True, source_files=many_small())
    summary, spy = run_with(pair, "source", "read_many")
    assert summary.errors == []
    assert sum(spy.calls) == len(pair.src_files) and len(spy.calls) < len(pair.src_files) / 10
    assert pair.target_tree() == pair.source_tree()


def test_one_bad_file_in_a_batch_fails_alone_with_its_cause(remote: Remote, tmp_path: Path) -> None:
    files = many_small()
    blocker = "ExperimentRuns/TS_001/Picks"
    # a plain file on the target where a folder must go: the picks under it cannot be written
    pair = ssh_pair(remote, tmp_path, source_files=files)
    (pair.dst_root / "ExperimentRuns/TS_001").mkdir(parents=True)
    (pair.dst_root / blocker).write_bytes(b"in the way")
    summary, spy = run_with(pair, "target", "write_many")
    failed = {e.path for e in summary.errors}
    assert failed and all(p.startswith(blocker + "/") for p in failed), summary.errors
    assert all(e.message and "\n" not in e.message for e in summary.errors)
    assert summary.exit_code == 1
    tree = pair.target_tree()
    for rel, data in files.items():
        if not rel.startswith(blocker + "/"):
            assert tree.get(rel) == data, rel
    assert temp_files(pair.dst_root) == []


@pytest.mark.parametrize("verify", [False, True], ids=["unchecked", "saved-plan"])
def test_a_source_file_vanishing_fails_alone(remote: Remote, tmp_path: Path, verify: bool) -> None:
    pair = ssh_pair(remote, tmp_path, source=True, source_files=many_small())
    job = SyncJob(pair.src, pair.dst, job_options=JobOptions(max_workers=2, fsync=False))
    plan = job.plan()
    gone = tomo_path("TS_002") + "/0/0/0/1"
    (pair.src_root / gone).unlink()
    try:
        summary = job.run(plan, verify=verify)
    finally:
        for cat in (job.source, job.target):
            assert cat is not None
            for s in cat.stores.values():
                s.close()
    if verify:  # a reviewed plan: what changed since is held back with its reason
        assert summary.errors == []
        assert [(e.path, e.message) for e in summary.skipped_changed] == [
            (gone, "source file vanished since the plan was made")]
    else:
        assert [e.path for e in summary.errors] == [gone]
        assert "no longer exists" in summary.errors[0].message
    assert not (pair.dst_root / gone).exists()
    # the store it belongs to is held back (its metadata not written), the rest is complete
    assert not (pair.dst_root / tomo_path("TS_002") / ".zgroup").exists()
    assert (pair.dst_root / tomo_path("TS_001") / ".zgroup").exists()
    assert temp_files(pair.dst_root) == []


def test_job_store_options_reach_the_ssh_store(remote: Remote, tmp_path: Path) -> None:
    """An API caller answers the trust-this-host question through JobOptions.store_options."""
    pair = Pair(tmp_path, source_files=basic_source(("TS_001",)))
    known = tmp_path / "known_hosts_empty"
    known.write_text("")
    remote.ssh_config(pair.target_config, root=pair.dst_root, known_hosts=str(known))
    asked = []

    def prompt(req):
        asked.append(req)
        return req.kind == "host-key"

    job = SyncJob(pair.src, pair.dst, job_options=JobOptions(
        max_workers=2, fsync=False, store_options={"ssh_prompt": prompt, "webdav_prompt": None}))
    try:
        summary = job.run()
    finally:
        job.close_stores()
    assert [r.kind for r in asked] == ["host-key"] and asked[0].fingerprint.startswith("SHA256:")
    assert summary.errors == [] and pair.target_tree() == pair.source_tree()
    assert known.read_text().strip()  # trusted: written to known_hosts


def test_copick_style_functions_hang_up_when_done(remote: Remote, tmp_path: Path) -> None:
    from synctui.sync.api import sync_picks

    pair = ssh_pair(remote, tmp_path, source_files=basic_source(("TS_001",)))
    summary = sync_picks(pair.src, pair.dst, exist_ok=True)
    assert summary.errors == [] and summary.created == 2

    def sessions() -> int:
        return sum(1 for pid in remote.server.children() if _comm(pid).startswith("sshd"))

    deadline = time.monotonic() + 10
    while sessions() and time.monotonic() < deadline:  # the server sees the hang-ups soon
        time.sleep(0.1)
    assert sessions() == 0, "sync_picks left an SSH session open"
