"""SMB roots end to end against the loopback Samba server: copick's config form through the
CLI both ways, the errors a user meets (wrong password, unknown share, no password, a
hostile name on the server), passwords from the environment, and a connection dropped
mid-transfer (smbd's session processes SIGKILLed) that the sync rides out.

The engine and API test sets run over SMB through tests/transports.py (smb-target,
smb-source) and the store contract through tests/storage/test_store_contract.py.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import pytest
from smb_server import Share
from sync_helpers import (
    SRC_MTIME,
    assert_no_traceback,
    basic_source,
    picks_path,
    read_tree,
    run_cli,
    run_dropping_sessions,
    temp_files,
    write_config,
    write_tree,
    zarr_files,
)

from synctui.errors import EXIT_BAD_INPUT, EXIT_CONNECTION, EXIT_OK, ConnectionFailed
from synctui.storage.smb_connect import HostileNameError, name_problem
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.events import ItemRetry

pytestmark = pytest.mark.integration


def smb_config(path: Path, share: Share, disk: Path, **fs_args: Any) -> Path:
    return share.config(path, disk, **fs_args)


def local_project(tmp_path: Path, files: dict[str, bytes], name: str = "local") -> tuple[Path, Path]:
    root = tmp_path / name / "overlay"
    write_tree(root, files, mtime=SRC_MTIME)
    return write_config(tmp_path / name / "config.json", root, name=name), root


def cli_sync(src: Path, dst: Path, *extra: str, env: dict[str, str] | None = None):
    res = run_cli("sync", "--no-progress", "--json", "-s", str(src), "-t", str(dst), *extra,
                  env={"SYNCTUI_STATE_DIR": os.environ["SYNCTUI_STATE_DIR"], **(env or {})})
    assert_no_traceback(res.stderr)
    return res


# -- the CLI, both ways -------------------------------------------------------------------------

def test_cli_syncs_a_local_project_to_smb_and_back(smb: Share, tmp_path: Path) -> None:
    files = basic_source()
    src, src_root = local_project(tmp_path, files)
    remote = smb_config(tmp_path / "smb.json", smb, smb.disk / "proj")
    res = cli_sync(src, remote)
    assert res.returncode == EXIT_OK, res.stderr
    assert read_tree(smb.disk / "proj") == files and temp_files(smb.disk / "proj") == []
    for rel in files:  # the source's mtimes, kept by the server
        assert (smb.disk / "proj" / rel).stat().st_mtime_ns // 100 == (src_root / rel).stat().st_mtime_ns // 100
    again = cli_sync(src, remote)
    summary = json.loads(again.stdout)
    assert again.returncode == EXIT_OK and summary["files_written"] == 0, summary
    # and back: the SMB project is the source of a new local one
    back_root = tmp_path / "back" / "overlay"
    back_root.mkdir(parents=True)
    back = write_config(tmp_path / "back" / "config.json", back_root, name="back")
    res = cli_sync(remote, back)
    assert res.returncode == EXIT_OK, res.stderr
    assert read_tree(back_root) == files
    summary = json.loads(cli_sync(remote, back).stdout)
    assert summary["files_written"] == 0, summary


# -- errors: one line, the connection exit status, nothing written ------------------------------

@pytest.mark.parametrize("case", ["wrong password", "unknown share", "no password"])
def test_login_and_share_errors_are_one_line_and_write_nothing(smb: Share, tmp_path: Path,
                                                               case: str) -> None:
    src, _ = local_project(tmp_path, basic_source())
    disk = smb.disk / "proj"
    if case == "wrong password":
        dst = smb_config(tmp_path / "smb.json", smb, disk, password="not-the-password")
        words = "wrong user name or password"
    elif case == "unknown share":
        dst = smb_config(tmp_path / "smb.json", smb, disk)
        cfg = json.loads(dst.read_text())
        cfg["overlay_root"] = cfg["overlay_root"].replace(f"/{smb.server.share}/", "/noshare/", 1)
        dst.write_text(json.dumps(cfg))
        words = "no share"
    else:
        dst = smb_config(tmp_path / "smb.json", smb, disk, password=None)
        words = "no password"
    res = cli_sync(src, dst)
    assert res.returncode == EXIT_CONNECTION, res.stderr
    errors = [line for line in res.stderr.splitlines() if words in line]
    assert errors and "smb://" in errors[0], res.stderr
    assert smb.server.password not in res.stderr + res.stdout
    assert not disk.exists()  # nothing was written


def test_the_password_can_come_from_the_environment(smb: Share, tmp_path: Path) -> None:
    files = basic_source()
    src, _ = local_project(tmp_path, files)
    dst = smb_config(tmp_path / "smb.json", smb, smb.disk / "proj", password=None)
    res = cli_sync(src, dst, env={"SYNCTUI_SMB_PASSWORD": smb.server.password})
    assert res.returncode == EXIT_OK, res.stderr
    assert read_tree(smb.disk / "proj") == files


def test_the_prompt_is_asked_once_when_no_password_is_set(smb: Share) -> None:
    from synctui.storage.smb import SMBStore

    asked: list[Any] = []

    def prompt(req: Any) -> str:
        asked.append(req)
        return smb.server.password

    store = SMBStore(smb.location(password=None), prompt=prompt)
    try:
        store.write_atomic("a/b", b"1")
        assert [f.path for f in store.scan()] == ["a/b"]  # listing threads: no second prompt
    finally:
        store.close()
    assert len(asked) == 1 and asked[0].kind == "password" and smb.server.password not in repr(asked[0])


def test_required_encryption_is_honoured(smb: Share) -> None:
    """``encrypt: true`` (an fs_arg) gives an encrypted session (Samba agrees to it)."""
    store = smb.store(encrypt=True)
    store.write_atomic("x", b"secret")
    assert store.read_bytes("x") == b"secret"
    [(_, cache)] = store._sessions._caches
    [conn] = cache.values()
    assert all(s.encrypt_data for s in conn.session_table.values())


# -- names from the server ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["..", ".", "a\\b", "x/y", "CON", "nul.txt", "LPT1", "com3.json",
                                  "bad:colon", "trailing.", "tab\there"])
def test_hostile_names_are_named_with_their_problem(name: str) -> None:
    assert name_problem(name) is not None


@pytest.mark.parametrize("name", ["TS_001", "alice_1_ribosome.json", ".zattrs", "10.000", "CONSOLE",
                                  "ünïcode"])
def test_ordinary_names_pass(name: str) -> None:
    assert name_problem(name) is None


def _dir_entry(name: str, attrs: int = 0x80, last: bool = False) -> bytes:
    """One FileDirectoryInformation record as a server sends it (8-byte aligned)."""
    import struct

    raw = name.encode("utf-16-le")
    size = (64 + len(raw) + 7) // 8 * 8
    head = struct.pack("<IIqqqqqqII", 0 if last else size, 0, 0, 0, 133_000_000_000_000_000, 0, 1,
                       8, attrs, len(raw))
    return (head + raw).ljust(size, b"\0")


@pytest.mark.parametrize("name", ["..\\..\\etc", "a\\b", "CON", "x/y"])
def test_a_hostile_name_in_a_server_answer_refuses_the_listing(smb: Share, name: str) -> None:
    """Samba itself never sends these (it mangles such names to 8.3 forms): the answer of a
    hostile server is built here, and fed to the store's parser of directory answers."""
    store = smb.store()
    answer = _dir_entry(".", 0x10) + _dir_entry("..", 0x10) + _dir_entry("ok.json") + \
        _dir_entry(name, last=True)
    with pytest.raises(HostileNameError, match="refusing the listing"):
        store._entries("ExperimentRuns", [answer])
    ok = store._entries("ExperimentRuns", [_dir_entry("ok.json", last=True)])
    assert [(f.path, f.size) for f in ok] == [("ExperimentRuns/ok.json", 1)]


def test_reserved_names_are_never_written(smb: Share) -> None:
    store = smb.store()
    for bad in ("ExperimentRuns/AUX/.meta", "Objects/con.zarr/.zattrs", "a/b:c"):
        with pytest.raises(HostileNameError):
            store.write_atomic(bad, b"meta")
    assert list(smb.disk.iterdir()) == []


def test_paths_stay_inside_the_root(smb: Share) -> None:
    from synctui.errors import PathEscapeError

    (smb.disk / "inner").mkdir()
    (smb.disk / "outside.txt").write_text("no")
    store = smb.store(smb.disk / "inner")
    for bad in ("../outside.txt", "/etc/passwd", "a/../../outside.txt", "..\\outside.txt"):
        with pytest.raises(PathEscapeError):
            store.read_bytes(bad)
    assert (smb.disk / "outside.txt").read_text() == "no"


# -- a dropped connection mid-transfer ----------------------------------------------------------

def big_source() -> dict[str, bytes]:
    rng = random.Random(7)
    files = basic_source()
    files.update(zarr_files("ExperimentRuns/TS_002/VoxelSpacing10.000/wbp.zarr", chunks=120,
                            chunk_size=24_000, seed=5))
    files["ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb"] = rng.randbytes(16 << 20)
    return files


def test_a_connection_that_died_between_calls_is_redialled_with_its_own_client_guid(
        smb: Share) -> None:
    """smbclient, handed a dead connection, dials a new one with its single process-wide
    client GUID, which Samba takes for another channel of one client: the store dials its
    own instead, and a failed write's clean-up never dials at all."""
    import time

    from smbclient._pool import ClientConfig

    store = smb.store()
    store.write_atomic("a/one.bin", b"1" * 100)
    assert smb.server.kill_sessions() >= 1
    cache = store._sessions._local.cache
    deadline = time.monotonic() + 10
    while all(c.transport.connected for c in cache.values()) and time.monotonic() < deadline:
        time.sleep(0.01)  # the receiver thread sees the hang-up
    store.write_atomic("a/two.bin", b"2" * 100_000)
    guids = {c.client_guid for c in store._sessions._local.cache.values()}
    assert guids and ClientConfig().client_guid not in guids
    assert store.connections_opened == 2
    assert (smb.disk / "a" / "two.bin").read_bytes() == b"2" * 100_000


@pytest.mark.parametrize("direction", ["to-smb", "from-smb"])
def test_a_dropped_connection_mid_sync_is_retried_and_the_sync_completes(
        smb: Share, tmp_path: Path, direction: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="synctui")  # each retry, should it fail
    files = big_source()
    if direction == "to-smb":
        src, _ = local_project(tmp_path, files)
        dst_root = smb.disk / "proj"
        dst = smb_config(tmp_path / "smb.json", smb, dst_root)
    else:
        write_tree(smb.disk / "proj", files, mtime=SRC_MTIME)
        src = smb_config(tmp_path / "smb.json", smb, smb.disk / "proj")
        dst_root = tmp_path / "dst" / "overlay"
        dst_root.mkdir(parents=True)
        dst = write_config(tmp_path / "dst" / "config.json", dst_root, name="dst")
    j = SyncJob(str(src), str(dst), job_options=JobOptions(max_workers=3, retries=5, fsync=False))
    j.plan()
    assert j.source is not None and j.target is not None
    smb_store = (j.target if direction == "to-smb" else j.source).stores["overlay"]
    try:
        summary, killed, before, reconnected = run_dropping_sessions(j, smb_store, smb.server.kill_sessions)
    finally:
        for side in (j.source, j.target):
            for store in side.stores.values():
                store.close()
    assert killed > 0
    assert summary.errors == [], (summary.errors, caplog.text[-6000:], smb.server.log_tail())
    retries = [e for e in j.sink.drain() if isinstance(e, ItemRetry)]
    assert retries or reconnected > before
    assert read_tree(dst_root) == files
    # the next sync has nothing to copy, and sweeps any temp a dead session left
    again = SyncJob(str(src), str(dst), job_options=JobOptions(fsync=False))
    try:
        assert again.plan().is_noop
        again.run()
    finally:
        for side in (again.source, again.target):
            for store in side.stores.values():
                store.close()
    assert temp_files(dst_root) == []


def test_errors_name_the_root_without_its_password(smb: Share) -> None:
    from synctui.storage.url import parse_location

    loc = parse_location(f"smb://{smb.server.user}:hunter2@127.0.0.1:{smb.server.port}/"
                         f"{smb.server.share}/x")
    assert "hunter2" not in loc.display and "hunter2" not in repr(loc)
    from synctui.storage.smb import SMBStore

    with pytest.raises(ConnectionFailed) as err:
        SMBStore(loc).check_root()
    assert "hunter2" not in str(err.value) and err.value.exit_code == EXIT_CONNECTION


def test_a_bad_fs_arg_stops_before_connecting(tmp_path: Path, smb: Share) -> None:
    src, _ = local_project(tmp_path, basic_source())
    dst = smb_config(tmp_path / "smb.json", smb, smb.disk / "proj", encrypt="maybe")
    res = cli_sync(src, dst)
    assert res.returncode == EXIT_BAD_INPUT and "encrypt" in res.stderr, res.stderr
    assert not (smb.disk / "proj").exists()


def test_picks_written_over_smb_read_back_equal(smb: Share, tmp_path: Path) -> None:
    files = basic_source()
    src, _ = local_project(tmp_path, files)
    dst = smb_config(tmp_path / "smb.json", smb, smb.disk / "proj")
    assert cli_sync(src, dst).returncode == EXIT_OK
    rel = picks_path("TS_001", "alice", "1", "ribosome")
    assert json.loads((smb.disk / "proj" / rel).read_bytes()) == json.loads(files[rel])
