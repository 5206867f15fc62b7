"""A plan executed on a Dask cluster: LocalCluster(processes=True) on loopback (issue #19).

One cluster of two worker processes serves the whole module.  Its workers have
their own empty HOME and no agent, as a node of a real cluster would: they reach
the SSH server only with what the configs name (key file, known_hosts).

What a user would notice: the target equals what a plain sync writes (with maps,
over SSH either way), the history has one entry, the state records every file
once (the next plan is a no-op); a worker SIGKILLed mid-unit costs nothing but
time; a cancel stops every worker and leaves no partial file; a coordinator
SIGKILLed mid-sync (``synctui sync --cluster tcp://...``) leaves no unit writing
on, and the next sync converges; a saved plan's checks hold on the workers; a
worker without credentials fails its units with a cause that says so, never hangs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import SlowWrites
from server_fixtures import server_unavailable
from sync_helpers import Pair, basic_source, picks_path, read_tree
from transports import over

from synctui.errors import EXIT_PARTIAL
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.rules import RuleSet

RUNS = tuple(f"TS_{i:03d}" for i in range(1, 7))
SOURCE = basic_source(RUNS)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import distributed

    home = tmp_path_factory.mktemp("worker-home")
    (home / ".ssh").mkdir()
    env = {"HOME": str(home), "SSH_AUTH_SOCK": "", "SYNCTUI_SSH_CONFIG": ""}
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=":0", env=env,
                                           silence_logs=logging.ERROR)
    except Exception as exc:  # noqa: BLE001 - whatever stops it, the tests cannot run
        server_unavailable(f"no Dask LocalCluster on loopback: {exc}")
    c = distributed.Client(cluster)
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close()
    cluster.close()


def mapped() -> RuleSet:
    rules = RuleSet()
    rules.set_mapping("users", "alice", "carol")
    rules.set_mapping("runs", "TS_001", "run1")
    return rules


def on(client: Any, **kw: Any) -> JobOptions:
    return JobOptions(fsync=False, cluster=client, **kw)


def wait_until(what: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


def assert_recorded_once(job: SyncJob, tree: dict[str, bytes]) -> None:
    """One history entry, ok; a state record for every target file, none else; then a no-op."""
    db = job.state
    rows = db.history(target=job.pair_key[1])
    assert [r.status for r in rows] == ["ok"]
    assert sorted(db.baseline(db.pair_id(*job.pair_key))) == sorted(tree)
    assert job.plan().is_noop


@over(["local", "ssh-target", "ssh-source"])
def test_a_cluster_sync_writes_exactly_what_a_plain_sync_writes(client: Any, transport: Any,
                                                               tmp_path: Path) -> None:
    plain = Pair(tmp_path / "plain", SOURCE, transport=transport)
    spread = Pair(tmp_path / "cluster", SOURCE, transport=transport)
    with SyncJob(plain.src, plain.dst, mapped(), job_options=JobOptions(fsync=False)) as job:
        expected = job.run()
    with SyncJob(spread.src, spread.dst, mapped(), job_options=on(client)) as job:
        summary = job.run()
        tree = spread.target_tree()
        assert summary.errors == [] and summary.status == "ok"
        assert (summary.created, summary.files_written, summary.bytes) == \
            (expected.created, expected.files_written, expected.bytes)
        assert tree == plain.target_tree()
        assert picks_path("run1", "carol", "1", "ribosome") in tree  # the maps were applied
        progress = job.sink.progress
        assert progress.done_files == summary.files_written and progress.percent == 100.0
        assert sum(w.files for w in progress.workers.values()) == summary.files_written
        assert_recorded_once(job, tree)


def test_cancel_reaches_every_worker_and_leaves_no_partial_file(client: Any, tmp_path: Path) -> None:
    pair = Pair(tmp_path, SOURCE)
    client.register_plugin(SlowWrites())
    try:
        job = SyncJob(pair.src, pair.dst, job_options=on(client)).start()
        wait_until(lambda: sum(w.running for w in job.sink.progress.workers.values()) >= 2)
        job.cancel()
        assert job.wait(120)
    finally:
        client.unregister_worker_plugin(SlowWrites.name)
    summary = job.summary
    assert summary is not None and summary.cancelled and summary.status == "cancelled"
    written = pair.target_tree()
    assert 0 < len(written) < len(SOURCE)
    assert all(data == SOURCE[rel] for rel, data in written.items())  # whole files only
    time.sleep(1.0)
    assert pair.target_tree() == written  # every worker stopped: nothing lands after the sync ended
    with SyncJob(pair.src, pair.dst, job_options=on(client)) as again:
        assert again.run().errors == []
    assert pair.target_tree() == SOURCE
    job.close()


def test_a_worker_sigkilled_mid_unit_costs_only_time(client: Any, tmp_path: Path) -> None:
    pair = Pair(tmp_path, SOURCE)
    client.register_plugin(SlowWrites(0.1))  # a unit surely outlives the kill
    try:
        job = SyncJob(pair.src, pair.dst, job_options=on(client)).start()
        wait_until(lambda: any(w.running for w in list(job.sink.progress.workers.values())))
        victim = next(name for name, w in list(job.sink.progress.workers.items()) if w.running)
        names = {addr: str(info["name"]) for addr, info in client.scheduler_info()["workers"].items()}
        pids = client.run(os.getpid)
        os.kill(next(pids[a] for a, n in names.items() if n == victim), signal.SIGKILL)
        assert job.wait(180)
    finally:
        client.unregister_worker_plugin(SlowWrites.name)
    summary = job.summary
    assert job.error is None and summary is not None
    assert summary.errors == [] and summary.status == "ok"
    assert any("re-ran" in note for note in summary.notes), summary.notes
    assert job.sink.progress.workers[victim].lost >= 1
    tree = pair.target_tree()
    assert tree == SOURCE
    assert_recorded_once(job, tree)
    job.close()
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_a_sigkilled_coordinator_leaves_no_unit_writing_and_the_rerun_converges(
        client: Any, tmp_path: Path) -> None:
    pair = Pair(tmp_path, SOURCE)
    client.register_plugin(SlowWrites(0.1))  # a unit surely outlives the kill
    try:
        log = (tmp_path / "coordinator.log").open("w")
        coordinator = subprocess.Popen(
            [sys.executable, "-m", "synctui", "sync", "-s", pair.src, "-t", pair.dst, "--no-progress",
             "--no-fsync", "--cluster", client.scheduler.address], stdout=log, stderr=log)
        wait_until(lambda: len(pair.target_tree()) > 0 or coordinator.poll() is not None, timeout=180)
        assert coordinator.poll() is None, (tmp_path / "coordinator.log").read_text()
        coordinator.kill()
        coordinator.wait()
        before: dict[str, bytes] = {}
        while (now := pair.target_tree()) != before:  # until the workers have stopped
            before = now
            time.sleep(1.0)
    finally:
        client.unregister_worker_plugin(SlowWrites.name)
    assert len(before) < len(SOURCE)  # the released units stopped: nothing writes on unlocked
    assert all(data == SOURCE[rel] for rel, data in before.items())
    with SyncJob(pair.src, pair.dst, job_options=on(client)) as job:
        summary = job.run()
        assert summary.errors == [] and pair.target_tree() == SOURCE
        assert [r.status for r in job.state.history(target=job.pair_key[1])] == ["ok", "interrupted"]
        assert job.plan().is_noop


def test_a_saved_plans_checks_hold_on_the_workers(client: Any, tmp_path: Path) -> None:
    pair = Pair(tmp_path, SOURCE)
    changed = picks_path("TS_002", "alice", "1", "ribosome")
    with SyncJob(pair.src, pair.dst, job_options=on(client)) as job:
        plan = job.plan()
        (pair.src_root / changed).write_bytes(b"{}")  # after the preview: held back, not written
        summary = job.run(plan)
    assert [e.path for e in summary.skipped_changed] == [changed]
    assert changed not in pair.target_tree()
    assert len(pair.target_tree()) == len(SOURCE) - 1


@pytest.mark.integration
def test_a_worker_without_credentials_fails_its_units_clearly(client: Any, remote: Any, ssh_env: Path,
                                                              tmp_path: Path) -> None:
    # this process finds the key and the host in its ~/.ssh; the workers' HOME has neither
    shutil.copy(remote.server.user_key, ssh_env / ".ssh" / "id_ed25519")
    os.chmod(ssh_env / ".ssh" / "id_ed25519", 0o600)
    shutil.copy(remote.known_hosts, ssh_env / ".ssh" / "known_hosts")
    pair = Pair(tmp_path, SOURCE)
    cfg = json.loads(pair.target_config.read_text())
    args = remote.fs_args()
    cfg["overlay_root"] = f"ssh://{pair.dst_root}"
    cfg["overlay_fs_args"] = {k: args[k] for k in ("host", "port", "username")}
    pair.target_config.write_text(json.dumps(cfg))
    with SyncJob(pair.src, pair.dst, job_options=on(client)) as job:
        assert not job.plan().is_noop  # the coordinator itself gets in
        summary = job.run()
    assert summary.files_written == 0 and summary.status == "failed" and summary.exit_code == EXIT_PARTIAL
    assert summary.errors
    for err in summary.errors:
        assert err.message.startswith("worker "), err.message
        assert "cannot open the target" in err.message
        assert "a worker cannot answer prompts: it was asked for host-key" in err.message
    assert read_tree(pair.dst_root) == {}
