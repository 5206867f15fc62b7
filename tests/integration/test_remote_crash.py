"""Crash safety over real servers: ``synctui sync`` SIGKILLed at random moments, then run again.

tests/integration/test_ssh_sync.py kills a sync to an SSH target; here the same for a
sync from an SSH source and to a WebDAV target (wsgidav and nginx + dav_ext), and to an SMB
target (Samba).  After
each kill no file at a final path is partial and no zarr store shows its metadata
before its chunks; the next run (breaking the dead sync's stale lock when it has to)
ends with the target equal to the source and no temp files left on either side.
The trees are checked on disk: the servers serve this machine's folders.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from sync_helpers import (
    TEMP_MARK,
    Pair,
    assert_consistent,
    assert_no_traceback,
    kill_during,
    read_tree,
    temp_files,
    tomo_path,
    update_moments_converge,
    update_versions,
)
from sync_helpers import crash_source as _crash_source
from transports import Transport, over

from synctui.errors import EXIT_LOCKED, EXIT_OK
from synctui.sync.plan import is_zarr_metadata

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIALS = 2


def crash_source() -> dict[str, bytes]:
    """~270 files, 4 MiB, three of them 512 KiB."""
    return _crash_source(11, runs=3, big=512 << 10)


def sync_cmd(pair: Pair, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", pair.src, "-t", pair.dst,
            "--max-workers", "2", *extra]


# -- what a killed sync leaves behind, shown deterministically ------------------------------------


def _half_written(transport: Transport, tmp_path: Path) -> tuple[Pair, dict[str, bytes], list[str]]:
    """A target as a sync killed half-way leaves it: some chunks of a zarr store written through
    the target store (temp + rename, the source's mtime asked for), none recorded in the state."""
    from synctui.project.catalog import open_project

    source = crash_source()
    pair = Pair(tmp_path, source_files=source, transport=transport)
    tomo = tomo_path("TS_001") + "/"
    chunks = sorted(rel for rel in source if rel.startswith(tomo) and not is_zarr_metadata(rel))[:20]
    store = open_project(pair.dst, fsync=False).stores["overlay"]
    try:
        for rel in chunks:
            store.write_atomic(rel, source[rel], mtime_ns=(pair.src_root / rel).stat().st_mtime_ns)
    finally:
        store.close()
    return pair, source, chunks


@over(["ssh-target", "dav-target", "nginx-target", "smb-target"])
def test_files_a_killed_sync_wrote_without_records_are_completed(transport: Transport,
                                                                 tmp_path: Path) -> None:
    from synctui.sync.api import SyncJob

    pair, source, _ = _half_written(transport, tmp_path)
    summary = SyncJob(pair.src, pair.dst).run()
    assert summary.errors == [] and summary.conflicts == 0, summary
    assert pair.target_tree() == source


@over(["ssh-target", "dav-target", "nginx-target", "smb-target"])
def test_temp_files_a_killed_sync_left_are_removed_by_the_next(transport: Transport, tmp_path: Path) -> None:
    """A killed sync can leave a finished temp upload that was never renamed (killed between
    the two requests); the next sync removes it under its write lock."""
    from synctui.sync.api import SyncJob

    pair, source, chunks = _half_written(transport, tmp_path)
    folder, name = chunks[-1].rsplit("/", 1)
    # the temp name the store uses there: visible where the server hides dotfiles (nginx)
    prefix = "synctui-tmp-" if transport.name == "nginx-target" else TEMP_MARK
    left = pair.dst_root / folder / f"{prefix}{name}.0123456789ab"
    left.write_bytes(source[chunks[-1]])
    assert SyncJob(pair.src, pair.dst).run().errors == []
    assert temp_files(pair.dst_root) == []


# -- SIGKILL at random moments ----------------------------------------------------------------------

@over(["ssh-source", "dav-target", "nginx-target", "moto-target", "weed-target", "smb-target"])
def test_sigkill_at_random_moments_never_leaves_a_partial_file(transport: Transport, tmp_path: Path) -> None:
    source = crash_source()
    rng = random.Random(f"{transport.name}-20261122")
    interrupted = 0
    for trial in range(TRIALS):
        pair = Pair(tmp_path / f"trial{trial}", source_files=source, transport=transport)
        env = dict(os.environ, SYNCTUI_STATE_DIR=str(pair.base / "state"))
        # once the first file is in place (batches make folders and temps long before), soon
        _, killed = kill_during(sync_cmd(pair), pair.dst_root, rng.uniform(0.0, 0.05), env, first_file=True)
        tree = assert_consistent(pair.dst_root, source)
        print(f"trial {trial}: killed={killed} files={len(tree)}/{len(source)}")
        if killed and 0 < len(tree) < len(source):
            interrupted += 1
        # run again: the dead sync's lock is stale, and is broken only on request
        res = subprocess.run(sync_cmd(pair), capture_output=True, text=True, env=env, timeout=180)
        assert_no_traceback(res.stderr)
        if res.returncode == EXIT_LOCKED:
            assert "stale" in res.stderr, res.stderr
            assert read_tree(pair.dst_root) == tree  # nothing was written while locked
            res = subprocess.run(sync_cmd(pair, "--break-lock"), capture_output=True, text=True, env=env,
                                 timeout=180)
        assert res.returncode == EXIT_OK, res.stderr
        # the resumed run leaves the target whole, equal to the source, and clean
        assert_consistent(pair.dst_root, source)
        missing = sorted(set(source) - set(pair.target_tree()))
        assert missing == [], f"{len(missing)} files missing, e.g. {missing[:2]}; {res.stdout}"
        left = temp_files(pair.dst_root) + temp_files(pair.src_root)
        assert left == [], left
        assert not (pair.dst_root / ".synctui-lock" / "write.json").exists()
    assert interrupted >= 1, "no trial killed the sync halfway: make the project bigger"
    # and the last one has nothing left to do
    res = subprocess.run(sync_cmd(pair, "--json"), capture_output=True, text=True, env=env, timeout=180)
    summary = json.loads(res.stdout)
    assert res.returncode == EXIT_OK and summary["files_written"] == 0 and summary["created"] == 0, summary



# -- killed during an UPDATE: a store rewritten in the source, the sync killed part-way -------------

UPDATE_TRANSPORTS = ["ssh-target", "dav-target", "nginx-target"]


@over(UPDATE_TRANSPORTS)
def test_a_store_half_updated_by_a_killed_sync_converges(transport: Transport, tmp_path: Path) -> None:
    """What a sync killed at each moment of an update leaves (new files in place, their records
    lost; wsgidav gives each a new etag): the rerun takes them as ours and completes the store."""
    pair = Pair(tmp_path, source_files=update_versions(3)[0], transport=transport)
    update_moments_converge(pair, update_versions(3))


@over(UPDATE_TRANSPORTS)
def test_sigkill_during_an_update_converges(transport: Transport, tmp_path: Path) -> None:
    """The same with real SIGKILLs at several moments of the update."""
    pair = Pair(tmp_path, source_files=update_versions(4)[0], transport=transport)
    update_moments_converge(pair, update_versions(4), sync_cmd(pair))
