"""Crash safety: SIGKILL mid-sync never leaves a partial file at a final path.

Also the failures a real disk gives: a read-only target, a full disk, a source
file that vanishes between plan and run.  Each gives one-line per-item errors
with the cause and leaves the target consistent.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_helpers import (
    Pair,
    assert_no_traceback,
    crash_source,
    kill_during,
    picks_json,
    picks_path,
    read_tree,
    run_cli,
    temp_files,
    tomo_path,
    update_moments_converge,
    update_versions,
    write_tree,
    zarr_files,
)
from sync_helpers import assert_consistent as _consistent

from synctui.errors import EXIT_LOCKED, EXIT_OK, EXIT_PARTIAL
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.plan import is_zarr_metadata
from synctui.sync.rules import RuleSet

pytestmark = pytest.mark.slow

MAPPING = ["--target-users", "alice:carol", "--target-objects", "ribosome:ribo"]
USERS = {"alice": "carol"}
OBJECTS = {"ribosome": "ribo"}


def _map_name(fname: str, folder: str) -> str:
    if folder in ("Picks", "Meshes"):
        stem, ext = fname.rsplit(".", 1)
        user, session, obj = stem.split("_")
        return f"{USERS.get(user, user)}_{session}_{OBJECTS.get(obj, obj)}.{ext}"
    if folder == "Segmentations":
        vs, user, session, rest = fname.split("_", 3)
        return f"{vs}_{USERS.get(user, user)}_{session}_{rest}"
    return fname


def expected_target(src: dict[str, bytes]) -> dict[str, bytes]:
    """The source under MAPPING: renamed paths; picks with their names rewritten (parsed)."""
    out: dict[str, bytes] = {}
    for rel, content in src.items():
        parts = rel.split("/")
        if len(parts) >= 4 and parts[2] in ("Picks", "Meshes", "Segmentations"):
            parts[3] = _map_name(parts[3], parts[2])
        new = "/".join(parts)
        if parts[2:3] == ["Picks"]:
            data = json.loads(content)
            data["user_id"] = USERS.get(data["user_id"], data["user_id"])
            data["pickable_object_name"] = OBJECTS.get(data["pickable_object_name"],
                                                       data["pickable_object_name"])
            content = json.dumps(data).encode()
        out[new] = content
    return out


def same_file(rel: str, got: bytes, want: bytes) -> bool:
    if "/Picks/" in rel:
        try:
            return json.loads(got) == json.loads(want)
        except ValueError:
            return False  # a partial JSON file
    return got == want


def assert_consistent(root: Path, expected: dict[str, bytes]) -> dict[str, bytes]:
    return _consistent(root, expected, same_file)


def assert_equal_under_mapping(root: Path, expected: dict[str, bytes]) -> None:
    tree = read_tree(root)
    assert sorted(tree) == sorted(expected)
    bad = [rel for rel in tree if not same_file(rel, tree[rel], expected[rel])]
    assert not bad, bad[:5]


@pytest.fixture(scope="module")
def source_project(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    base = tmp_path_factory.mktemp("crash")
    return Pair(base, source_files=crash_source())


def _fresh_target(source: Pair, where: Path) -> Path:
    """A new target config (with its own empty overlay) for the shared source."""
    from sync_helpers import write_config

    overlay = where / "overlay"
    return write_config(where / "config.json", overlay, name="crash target", odd_key={"kept": True})


def _sync_cmd(source: Pair, target_config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", source.src, "-t",
            str(target_config), "--max-workers", "2", *MAPPING, *extra]





def test_sigkill_at_random_moments_never_leaves_a_partial_file(source_project: Pair, tmp_path: Path) -> None:
    expected = expected_target(source_project.src_files)
    rng = random.Random(20261122)
    interrupted = 0
    for trial in range(5):
        where = tmp_path / f"trial{trial}"
        config = _fresh_target(source_project, where)
        overlay = where / "overlay"
        env = dict(os.environ, SYNCTUI_STATE_DIR=str(where / "state"))
        code, killed = kill_during(_sync_cmd(source_project, config), overlay, rng.uniform(0.0, 0.5), env)
        tree = assert_consistent(overlay, expected)
        # the config is either the old one or the new one, never half written
        cfg = json.loads(config.read_text())
        assert cfg["odd_key"] == {"kept": True}
        print(f"trial {trial}: killed={killed} code={code} files={len(tree)}/{len(expected)}")
        if killed and 0 < len(tree) < len(expected):
            interrupted += 1
        # rerun: the dead sync's lock is stale, and is broken only on request
        res = subprocess.run(_sync_cmd(source_project, config), capture_output=True, text=True, env=env,
                             timeout=120)
        assert_no_traceback(res.stderr)
        if res.returncode == EXIT_LOCKED:
            assert "stale" in res.stderr, res.stderr
            assert read_tree(overlay) == tree  # nothing was written while locked
            res = subprocess.run(_sync_cmd(source_project, config, "--break-lock"), capture_output=True,
                                 text=True, env=env, timeout=120)
        assert res.returncode == EXIT_OK, res.stderr
        assert_equal_under_mapping(overlay, expected)
        assert temp_files(overlay) == []  # what the killed sync left was cleaned up
        assert "ribo" in [o["name"] for o in json.loads(config.read_text())["pickable_objects"]]
        # and a third run has nothing to do
        res = subprocess.run(_sync_cmd(source_project, config, "--json"), capture_output=True, text=True,
                             env=env, timeout=120)
        summary = json.loads(res.stdout)
        assert res.returncode == EXIT_OK and summary["files_written"] == 0 and summary["created"] == 0
    assert interrupted >= 1, "no trial killed the sync halfway: make the project bigger"


# -- killed during an UPDATE: a store rewritten in the source, the sync killed part-way -------------
# (the same over SSH, wsgidav and nginx: tests/integration/test_remote_crash.py)

def test_a_store_half_updated_by_a_killed_sync_converges(tmp_path: Path) -> None:
    """What a sync killed at each moment of an update leaves (new files in place, their records
    lost, the sync still marked running): the rerun completes the store and records it, so
    the next update is no false conflict."""
    pair = Pair(tmp_path, source_files=update_versions(5)[0])
    update_moments_converge(pair, update_versions(5))


def test_sigkill_during_an_update_converges(tmp_path: Path) -> None:
    pair = Pair(tmp_path, source_files=update_versions(6)[0])
    update_moments_converge(pair, update_versions(6), [
        sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", pair.src, "-t", pair.dst,
        "--max-workers", "1"])


# -- disk failures ------------------------------------------------------------------------------

def small_source() -> dict[str, bytes]:
    rng = random.Random(7)
    files: dict[str, bytes] = {"ExperimentRuns/TS_001/.meta": b"meta"}
    files.update(zarr_files(tomo_path("TS_001"), chunks=6, chunk_size=100_000, seed=1))
    files[picks_path("TS_001", "alice", "1", "ribosome")] = picks_json("ribosome", "alice", "1", "TS_001")
    files["ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"] = rng.randbytes(150_000)
    return files


def _mount(args: list[str]) -> str | None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "needs root to mount a tmpfs"
    res = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if res.returncode == 0 else f"mount {' '.join(args)} failed: {res.stderr.strip()}"


@pytest.fixture
def mounted() -> Iterator[list[Path]]:
    points: list[Path] = []
    yield points
    for p in reversed(points):
        subprocess.run(["umount", "-l", str(p)], capture_output=True)


def _failed_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("failed ")]


def test_read_only_target(tmp_path: Path, mounted: list[Path]) -> None:
    pair = Pair(tmp_path, source_files=small_source())
    existing = {"ExperimentRuns/TS_001/.meta": b"meta"}
    if os.geteuid() == 0:
        # chmod does not stop root: make the target a read-only tmpfs instead
        why = _mount(["-t", "tmpfs", "-o", "size=4m", "tmpfs", str(pair.dst_root)])
        if why:
            pytest.skip(f"running as root, chmod is ineffective and {why}")
        mounted.append(pair.dst_root)
        write_tree(pair.dst_root, existing)
        why = _mount(["-o", "remount,ro", str(pair.dst_root)])
        if why:
            pytest.skip(f"running as root, chmod is ineffective and {why}")
    else:
        write_tree(pair.dst_root, existing)
        for d in [pair.dst_root, *[p for p in pair.dst_root.rglob("*") if p.is_dir()]]:
            d.chmod(0o555)
    try:
        # the CLI: the write lock cannot be taken, so nothing is tried; one clear line, exit 1
        res = run_cli("sync", "--no-progress", "-s", pair.src, "-t", pair.dst)
        assert res.returncode == EXIT_PARTIAL, res.stderr
        assert_no_traceback(res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("synctui: error:"), lines
        assert "read-only file system" in lines[0] or "permission denied" in lines[0]
        # without locks, every item fails on its own, with its cause
        job = SyncJob(pair.src, pair.dst, job_options=JobOptions(use_locks=False, use_state=False))
        summary = job.run()
        assert summary.exit_code == EXIT_PARTIAL and summary.status == "failed"
        assert summary.files_written == 0
        to_write = set(pair.src_files) - set(existing)
        data = {p for p in to_write if not is_zarr_metadata(p)}
        assert {e.path for e in summary.errors} == data
        # zarr metadata waits for its chunks, so it is held back rather than tried
        assert summary.files_skipped == len(to_write - data)
        for e in summary.errors:
            assert "\n" not in e.message
            assert "read-only file system" in e.message or "permission denied" in e.message, e.message
        assert read_tree(pair.dst_root, hidden=True) == existing
    finally:
        if os.geteuid() != 0:
            for d in [pair.dst_root, *[p for p in pair.dst_root.rglob("*") if p.is_dir()]]:
                d.chmod(0o755)


def test_full_disk(tmp_path: Path, mounted: list[Path]) -> None:
    pair = Pair(tmp_path, source_files=small_source())
    why = _mount(["-t", "tmpfs", "-o", "size=512k", "tmpfs", str(pair.dst_root)])
    if why:
        pytest.skip(f"a full disk needs a tiny tmpfs: {why}")
    mounted.append(pair.dst_root)
    assert sum(len(b) for b in pair.src_files.values()) > 512 * 1024
    res = run_cli("sync", "--no-progress", "-s", pair.src, "-t", pair.dst, "--max-workers", "3")
    assert res.returncode == EXIT_PARTIAL, res.stdout + res.stderr
    assert_no_traceback(res.stdout + res.stderr)
    failed = _failed_lines(res.stderr)
    assert failed
    for line in failed:  # one line per item, naming the path and the cause
        assert "no space left on device" in line, line
        assert line.split()[1].startswith("ExperimentRuns/"), line
    assert "Summary (partial)" in res.stdout
    tree = assert_consistent(pair.dst_root, pair.src_files)
    assert 0 < len(tree) < len(pair.src_files)
    assert temp_files(pair.dst_root) == []  # failed writes cleaned up after themselves
    # with room again, a rerun completes
    subprocess.run(["mount", "-o", "remount,size=8m", str(pair.dst_root)], check=True)
    res = run_cli("sync", "--no-progress", "-s", pair.src, "-t", pair.dst)
    assert res.returncode == EXIT_OK, res.stderr
    assert read_tree(pair.dst_root) == pair.src_files


def test_source_file_vanishing_between_plan_and_run(tmp_path: Path) -> None:
    pair = Pair(tmp_path, source_files=small_source())
    gone = "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"
    gone_chunk = f"{tomo_path('TS_001')}/0/0/1/0"
    job = SyncJob(pair.src, pair.dst, RuleSet())
    plan = job.plan()
    (pair.src_root / gone).unlink()
    (pair.src_root / gone_chunk).unlink()
    summary = job.run(plan, verify=False)
    assert summary.exit_code == EXIT_PARTIAL and summary.status == "partial"
    errors = {e.path: e.message for e in summary.errors}
    assert set(errors) == {gone, gone_chunk}
    assert all("no longer exists" in m and "\n" not in m for m in errors.values())
    tree = assert_consistent(pair.dst_root, pair.src_files)
    assert picks_path("TS_001", "alice", "1", "ribosome") in tree
    assert temp_files(pair.dst_root) == []
    # a saved plan notices instead, and skips with the reason
    plan_file = tmp_path / "plan.json"
    (pair.dst_root / "ExperimentRuns").rename(tmp_path / "moved-away")
    res = run_cli("plan", "-s", pair.src, "-t", pair.dst, "--save-plan", str(plan_file))
    assert res.returncode == EXIT_OK
    (pair.src_root / picks_path("TS_001", "alice", "1", "ribosome")).unlink()
    res = run_cli("sync", "--plan", str(plan_file), "--json")
    assert res.returncode == EXIT_OK, res.stderr
    summary_json = json.loads(res.stdout)
    assert [s["path"] for s in summary_json["skipped_changed"]] == [picks_path("TS_001", "alice", "1", "ribosome")]
    assert "vanished since the plan" in summary_json["skipped_changed"][0]["reason"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_cancels_cleanly(source_project: Pair, tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C or SIGTERM: files in flight finish, nothing partial, exit 4, the lock is released."""
    expected = expected_target(source_project.src_files)
    rng = random.Random(int(sig))
    cancelled = 0
    for trial in range(3):
        where = tmp_path / f"t{trial}"
        config = _fresh_target(source_project, where)
        overlay = where / "overlay"
        env = dict(os.environ, SYNCTUI_STATE_DIR=str(where / "state"))
        proc = subprocess.Popen(_sync_cmd(source_project, config, "--max-workers", "1"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 30
        while proc.poll() is None and not (overlay / "ExperimentRuns").exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0 if trial == 0 else rng.uniform(0.0, 0.05))  # early: batched syncs are quick
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert_no_traceback(out + err)
        assert_consistent(overlay, expected)
        print(f"{sig.name} trial {trial}: exit {proc.returncode}")
        if proc.returncode == EXIT_OK:
            continue  # it had finished already
        assert proc.returncode == 4, (proc.returncode, err)
        assert "Summary (cancelled)" in out
        cancelled += 1
        # the lock was released: the next run needs no --break-lock
        res = subprocess.run(_sync_cmd(source_project, config), capture_output=True, text=True, env=env,
                             timeout=120)
        assert res.returncode == EXIT_OK, res.stderr
        assert_equal_under_mapping(overlay, expected)
        assert temp_files(overlay) == []
    assert cancelled >= 1
