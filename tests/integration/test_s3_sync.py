"""S3 roots from the command line, as copick configs write them (``s3://bucket/prefix`` with
fs_args ``endpoint_url``/``key``/``secret``), on moto and on SeaweedFS.

Both directions with a local project, the no-op second run, the errors a user meets
(bad credentials, a missing bucket, an unreachable endpoint, a server that ignores
``If-None-Match``: one line, the right exit code, nothing written), the consent flag and
where it shows, and secrets that never leave the config.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from s3_servers import S3Root, S3Server, free_port
from sync_helpers import (
    SRC_MTIME,
    assert_no_traceback,
    basic_source,
    read_tree,
    run_cli,
    write_config,
    write_tree,
)

from synctui.errors import EXIT_BAD_INPUT, EXIT_CONNECTION, EXIT_OK

pytestmark = pytest.mark.integration


def s3_config(path: Path, url: str, fs_args: dict[str, Any], *, name: str = "s3") -> Path:
    cfg = {"name": name, "pickable_objects": [
        {"name": "ribosome", "is_particle": True, "label": 1},
        {"name": "membrane", "is_particle": False, "label": 2}],
        "overlay_root": url, "overlay_fs_args": fs_args}
    path.write_text(json.dumps(cfg, indent=2))
    return path


def local_project(tmp_path: Path, name: str, files: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    root = tmp_path / name / "overlay"
    write_tree(root, files or {}, mtime=SRC_MTIME)
    return write_config(tmp_path / name / "config.json", root, name=name), root


def sync(src: Path, dst: Path, *extra: str) -> Any:
    proc = run_cli("sync", "--source", str(src), "--target", str(dst), "--no-fsync", *extra)
    assert_no_traceback(proc.stderr)
    return proc


def one_line_error(proc: Any) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("synctui: error")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_cli_syncs_both_ways_and_the_second_run_is_a_noop(s3: S3Root, tmp_path: Path) -> None:
    files = basic_source()
    src, _ = local_project(tmp_path, "src", files)
    remote = s3_config(tmp_path / "s3.json", s3.url("proj/overlay"), s3.fs_args())
    first = sync(src, remote)
    assert first.returncode == EXIT_OK, first.stderr
    assert read_tree(s3.path("proj/overlay")) == files
    assert s3.uploads() == [] and not [k for k in s3.path("proj/overlay").keys() if "synctui-tmp" in k]
    again = sync(src, remote, "--json")
    assert again.returncode == EXIT_OK, again.stderr
    assert json.loads(again.stdout)["files_written"] == 0  # size + recorded ETag: nothing to do
    back, back_root = local_project(tmp_path, "back")
    down = sync(remote, back)
    assert down.returncode == EXIT_OK, down.stderr
    assert read_tree(back_root) == files


def test_a_config_in_client_kwargs_form_and_from_a_profile(s3: S3Root, tmp_path: Path, aws_env: Path) -> None:
    """``client_kwargs.endpoint_url``/``region_name`` and keys from ``~/.aws`` (profile)."""
    (aws_env / ".aws").mkdir()
    (aws_env / ".aws" / "credentials").write_text(
        f"[lab]\naws_access_key_id = {s3.server.key}\naws_secret_access_key = {s3.server.secret}\n")
    src, _ = local_project(tmp_path, "src", {"ExperimentRuns/TS_1/.meta": b"meta"})
    remote = s3_config(tmp_path / "s3.json", s3.url("p"), {
        "profile": "lab", "client_kwargs": {"endpoint_url": s3.server.endpoint, "region_name": "us-east-1"}})
    proc = run_cli("sync", "--source", str(src), "--target", str(remote), env={"HOME": str(aws_env)})
    assert proc.returncode == EXIT_OK, proc.stderr
    assert s3.path("p/ExperimentRuns/TS_1/.meta").read_bytes() == b"meta"
    missing = s3_config(tmp_path / "s3b.json", s3.url("p"), {"profile": "nope", "endpoint_url": s3.server.endpoint})
    proc = run_cli("sync", "--source", str(src), "--target", str(missing), env={"HOME": str(aws_env)})
    assert proc.returncode == EXIT_CONNECTION and "'nope'" in one_line_error(proc)


def _nothing_written(server: S3Server, bucket: str) -> None:
    assert server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_bad_credentials_are_one_line_and_write_nothing(seaweedfs_s3: S3Server, aws_env: Path,
                                                        tmp_path: Path) -> None:
    """SeaweedFS checks signatures (moto accepts any key)."""
    bucket = seaweedfs_s3.new_bucket()
    src, _ = local_project(tmp_path, "src", basic_source(("TS_001",)))
    wrong = "not-the-secret-at-all-42"
    dst = s3_config(tmp_path / "s3.json", f"s3://{bucket}/p", seaweedfs_s3.fs_args(secret=wrong))
    proc = sync(src, dst, "--log", str(tmp_path / "debug.log"))
    line = one_line_error(proc)
    assert proc.returncode == EXIT_CONNECTION and "refused the credentials" in line, line
    assert wrong not in proc.stderr + proc.stdout + (tmp_path / "debug.log").read_text()
    _nothing_written(seaweedfs_s3, bucket)


@pytest.mark.parametrize("server", ["moto", "seaweedfs"])
def test_a_missing_bucket_and_an_unreachable_endpoint(server: str, request: pytest.FixtureRequest,
                                                      aws_env: Path, tmp_path: Path) -> None:
    s3 = request.getfixturevalue(f"{server}_s3")
    src, _ = local_project(tmp_path, "src", basic_source(("TS_001",)))
    dst = s3_config(tmp_path / "s3.json", "s3://no-such-bucket-here/p", s3.fs_args())
    proc = sync(src, dst)
    assert proc.returncode == EXIT_BAD_INPUT and "does not exist" in one_line_error(proc), proc.stderr
    gone = s3_config(tmp_path / "gone.json", "s3://bucket/p", s3.fs_args(endpoint_url=f"http://127.0.0.1:{free_port()}"))
    proc = sync(src, gone)
    assert proc.returncode == EXIT_CONNECTION and "cannot reach" in one_line_error(proc), proc.stderr


def test_a_server_that_ignores_if_none_match_is_refused_unless_accepted(
        stripping_s3: S3Server, moto_s3: S3Server, aws_env: Path, tmp_path: Path) -> None:
    bucket = moto_s3.new_bucket()
    src, _ = local_project(tmp_path, "src", basic_source(("TS_001",)))
    dst = s3_config(tmp_path / "s3.json", f"s3://{bucket}/p", stripping_s3.fs_args())
    proc = sync(src, dst)
    line = one_line_error(proc)
    assert proc.returncode == EXIT_CONNECTION, proc.stderr
    assert "ignores conditional writes" in line and f"127.0.0.1:{stripping_s3.port}" in line
    assert "a second create of one key succeeded" in line and "--allow-unguarded-writes" in line
    _nothing_written(moto_s3, bucket)
    # the user's explicit consent: it syncs, and the output and the history say so
    proc = sync(src, dst, "--allow-unguarded-writes")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "UNGUARDED WRITES" in proc.stderr + proc.stdout
    history = run_cli("history", "--source", str(src), "--target", str(dst))
    assert "UNGUARDED WRITES" in history.stdout, history.stdout


def test_secrets_never_reach_the_log_the_state_or_the_output(s3: S3Root, tmp_path: Path, state_dir: Path) -> None:
    src, _ = local_project(tmp_path, "src", basic_source(("TS_001",)))
    dst = s3_config(tmp_path / "s3.json", s3.url("p"), s3.fs_args())
    log = tmp_path / "debug.log"
    proc = sync(src, dst, "--log", str(log), "-v")
    assert proc.returncode == EXIT_OK, proc.stderr
    plan = run_cli("plan", "--source", str(src), "--target", str(dst), "--json")
    locks = run_cli("locks", "--source", str(src), "--target", str(dst))
    seen = proc.stdout + proc.stderr + plan.stdout + plan.stderr + locks.stdout + locks.stderr + log.read_text()
    for db in state_dir.rglob("*.db"):
        with sqlite3.connect(db) as conn:
            rows = [row for table in ("pairs", "manifest", "history") for row in _rows(conn, table)]
            assert rows
            seen += repr(rows)
    assert s3.server.secret not in seen
    from synctui.storage.s3 import S3Store

    store = S3Store(s3.location("p"))
    try:
        assert s3.server.secret not in repr(store) + repr(store.options) + repr(store.settings)
    finally:
        store.close()


def _rows(conn: sqlite3.Connection, table: str) -> list[Any]:
    return conn.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - fixed names


def ssh_project(remote: Any, tmp_path: Path, name: str,
                files: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    """A copick config whose overlay is ``ssh://`` on the test sshd (a folder we can read)."""
    root = remote.root / name
    write_tree(root, files or {}, mtime=SRC_MTIME)
    return remote.ssh_config(write_config(tmp_path / f"{name}.json", root, name=name), root=root), root


def test_cli_syncs_an_ssh_project_to_s3_and_back(s3: S3Root, remote: Any, tmp_path: Path) -> None:
    files = basic_source(("TS_001",))
    ssh_cfg, _ = ssh_project(remote, tmp_path, "proj", files)
    s3_cfg = s3_config(tmp_path / "s3.json", s3.url("proj"), s3.fs_args())
    back_cfg, back_root = ssh_project(remote, tmp_path, "back")
    for src, dst, tree in ((ssh_cfg, s3_cfg, lambda: read_tree(s3.path("proj"))),
                           (s3_cfg, back_cfg, lambda: read_tree(back_root))):
        first = sync(src, dst)
        assert first.returncode == EXIT_OK, first.stderr
        assert tree() == files
        again = sync(src, dst, "--json")
        assert again.returncode == EXIT_OK, again.stderr
        assert json.loads(again.stdout)["files_written"] == 0, again.stdout
    assert s3.uploads() == []


def test_an_ssh_project_to_s3_and_back_through_the_python_api(s3: S3Root, remote: Any, tmp_path: Path) -> None:
    from synctui.sync.api import JobOptions, SyncJob

    files = basic_source(("TS_001",))
    ssh_cfg, _ = ssh_project(remote, tmp_path, "proj", files)
    s3_cfg = s3_config(tmp_path / "s3.json", s3.url("proj"), s3.fs_args())
    back_cfg, back_root = ssh_project(remote, tmp_path, "back")
    for src, dst in ((ssh_cfg, s3_cfg), (s3_cfg, back_cfg)):
        with SyncJob(str(src), str(dst), job_options=JobOptions(fsync=False)) as job:
            summary = job.run()
        assert summary.errors == [] and summary.status == "ok", summary.errors
    assert read_tree(s3.path("proj")) == files
    assert read_tree(back_root) == files


def test_prune_to_the_trash_then_list_and_restore_it(s3: S3Root, tmp_path: Path) -> None:
    files = basic_source(("TS_001", "TS_002"))
    src, src_root = local_project(tmp_path, "src", files)
    remote = s3_config(tmp_path / "s3.json", s3.url("p"), s3.fs_args())
    assert sync(src, remote).returncode == EXIT_OK
    gone = "ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb"
    (src_root / gone).unlink()
    proc = sync(src, remote, "--prune", "--json")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert not (s3.path("p") / gone).exists()
    trashed = [k for k in s3.path("p/.synctui-trash").keys() if k.endswith(gone)]
    assert len(trashed) == 1  # a server-side copy into .synctui-trash/<sync id>/, then a delete
    listed = run_cli("trash", "list", "--target", str(remote))
    assert listed.returncode == EXIT_OK and trashed[0].split("/", 1)[0] in listed.stdout, listed.stdout
    restored = run_cli("trash", "restore", trashed[0].split("/", 1)[0], "--target", str(remote))
    assert restored.returncode == EXIT_OK, restored.stderr
    assert (s3.path("p") / gone).read_bytes() == files[gone]
