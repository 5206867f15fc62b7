"""The opt-in listing cache over SSH: run folders whose server-side digest is
unchanged are not listed again, and what the scan returns is always exactly what a
plain listing returns."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sync_helpers import Pair, basic_source, tomo_path

from synctui.sync.api import JobOptions, SyncJob

if TYPE_CHECKING:
    from server_fixtures import Remote

pytestmark = pytest.mark.integration


def tree(root: Path) -> None:
    files = {f"ExperimentRuns/TS_{i:03d}/VoxelSpacing10.000/wbp.zarr/0/{j}": bytes([i, j]) * 10
             for i in range(6) for j in range(5)}
    files.update({"ExperimentRuns/TS_000/.meta": b"m", "ExperimentRuns/loose.txt": b"x",
                  "ExperimentRuns/.hidden/inside": b"h", "top.json": b"{}"})
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def listing(remote: Remote, cache: bool):
    store = remote.store(listing_cache=cache)
    got = sorted((f.path, f.size, f.mtime_ns, f.kind) for f in store.scan(dirs=True))
    return got, dict(store.listing_stats)


def test_digests_skip_unchanged_runs_and_never_change_the_answer(remote: Remote) -> None:
    tree(remote.root)
    plain, _ = listing(remote, False)
    cold, stats = listing(remote, True)
    assert cold == plain
    assert stats == {"subtrees": 6, "cached": 0, "fetched": 6}
    warm, stats = listing(remote, True)
    assert warm == plain and stats == {"subtrees": 6, "cached": 6, "fetched": 0}
    # hidden folders and loose files are always listed; symlinks stay skipped
    assert any(p == "ExperimentRuns/.hidden/inside" for p, *_ in warm)
    os.symlink(remote.root / "ExperimentRuns/TS_001", remote.root / "ExperimentRuns/TS_link")
    # a change of contents, a removal and a new run: only those runs are fetched again
    (remote.root / "ExperimentRuns/TS_002/VoxelSpacing10.000/wbp.zarr/0/1").write_bytes(b"changed, longer")
    (remote.root / "ExperimentRuns/TS_003/VoxelSpacing10.000/wbp.zarr/0/4").unlink()
    (remote.root / "ExperimentRuns/TS_009").mkdir()
    (remote.root / "ExperimentRuns/TS_009/.meta").write_bytes(b"new")
    plain, _ = listing(remote, False)
    again, stats = listing(remote, True)
    assert again == plain
    assert stats == {"subtrees": 7, "cached": 4, "fetched": 3}
    assert not any("TS_link/" in p for p, *_ in again)


def test_same_size_touch_is_seen(remote: Remote) -> None:
    tree(remote.root)
    listing(remote, True)
    f = remote.root / "ExperimentRuns/TS_004/VoxelSpacing10.000/wbp.zarr/0/0"
    os.utime(f, (1_600_000_000, 1_600_000_000))
    got, stats = listing(remote, True)
    assert stats["fetched"] == 1
    assert ("ExperimentRuns/TS_004/VoxelSpacing10.000/wbp.zarr/0/0", 20, 1_600_000_000 * 10**9, "file") in got


def test_a_sync_with_the_cache_is_exactly_a_sync_without(remote: Remote, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCTUI_LISTING_CACHE", "1")
    pair = Pair(tmp_path, source_files=basic_source(("TS_001", "TS_002", "TS_003")))
    remote.ssh_config(pair.target_config, root=pair.dst_root)

    def run():
        job = SyncJob(pair.src, pair.dst, job_options=JobOptions(max_workers=2, fsync=False))
        try:
            return job.run()
        finally:
            job.close_stores()

    assert run().files_written == len(pair.src_files)
    assert run().nothing_to_do
    # edited on the server between syncs: a conflict, found through the digest
    edited = pair.dst_root / tomo_path("TS_002") / "0/0/0/1"
    edited.write_bytes(b"edited on the cluster")
    second = run()
    assert second.conflicts == 1 and edited.read_bytes() == b"edited on the cluster"
