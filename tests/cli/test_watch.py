"""`synctui sync --watch`: keeps applying source changes; after SIGKILL, none lost, none twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sync_helpers import Pair, read_tree, run_cli, temp_files, zarr_files

pytestmark = pytest.mark.slow


def _watch(pair: Pair, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "synctui", "sync", "-s", pair.src, "-t", pair.dst, "--watch", "0.3",
         "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _wait_until(cond, timeout: float = 60) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def _in_sync(pair: Pair) -> bool:
    return read_tree(pair.dst_root) == read_tree(pair.src_root)


def test_watch_applies_changes_as_they_appear_and_stops_cleanly(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    proc = _watch(pair)
    try:
        assert _wait_until(lambda: _in_sync(pair)), "first sync"
        new = pair.src_root / "ExperimentRuns/TS_001/Picks/carol_1_ribosome.json"
        new.write_bytes(b'{"points": []}')
        changed = pair.src_root / "ExperimentRuns/TS_001/.meta"
        changed.write_bytes(b"meta v2")
        assert _wait_until(lambda: _in_sync(pair)), "changes applied while watching"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not (pair.dst_root / ".synctui-lock" / "write.json").exists(), "lock released on SIGTERM"


def _inodes(root: Path) -> dict[str, int]:
    out = {}
    for path in root.rglob("*"):
        rel = str(path.relative_to(root))
        if path.is_file() and not any(part.startswith(".synctui") for part in path.relative_to(root).parts):
            out[rel] = path.stat().st_ino
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_watch_killed_and_restarted_applies_each_change_exactly_once(tmp_path: Path, seed: int) -> None:
    files: dict[str, bytes] = {}
    for r in range(6):
        files.update(zarr_files(f"ExperimentRuns/TS_{r:03d}/VoxelSpacing10.000/wbp.zarr", chunks=200,
                                chunk_size=16 * 1024, seed=r))
    pair = Pair(tmp_path, files)
    proc = _watch(pair, "-j", "2")
    time.sleep(random.Random(seed).uniform(0.6, 1.8))
    proc.kill()
    proc.wait(10)
    src = read_tree(pair.src_root)
    done_before = {p: ino for p, ino in _inodes(pair.dst_root).items()}
    for rel in done_before:
        assert (pair.dst_root / rel).read_bytes() == src[rel], f"partial file at a final path: {rel}"
    # the dead process left its lock: a restart must see it as stale and break it only on request
    if (pair.dst_root / ".synctui-lock/write.json").exists():
        refused = run_cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
        assert refused.returncode == 3 and "stale" in refused.stderr
    proc = _watch(pair, "--break-lock")
    try:
        assert _wait_until(lambda: _in_sync(pair), 120), "nothing lost after the restart"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    after = _inodes(pair.dst_root)
    rewritten = [p for p, ino in done_before.items() if after.get(p) != ino]
    assert rewritten == [], f"applied twice: {rewritten[:5]}"
    assert temp_files(pair.dst_root) == []
