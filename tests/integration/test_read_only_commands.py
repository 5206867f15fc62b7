"""Read-only commands write nothing anywhere (issue #12, item 7).

``plan``, ``locks``, ``trash list``, ``history`` and the app's planning before a sync
starts only read a WebDAV root: the servers log every request's method, and no
PUT, MKCOL, MOVE, DELETE, LOCK, PROPPATCH or COPY may reach them (the capability
probe writes a hidden file: it waits for the first write or lock).  The trees on
disk, hidden files included, stay as they were.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sync_helpers import (
    OBJECTS,
    SRC_MTIME,
    basic_source,
    read_tree,
    run_cli,
    write_config,
    write_tree,
)
from webdav_servers import MethodLog, NginxDav, ServerUnavailable, unavailable

from synctui.sync.api import JobOptions, SyncJob

pytestmark = pytest.mark.integration

READS = {"OPTIONS", "PROPFIND", "GET", "HEAD"}


class LoggedServer:
    """A WebDAV server of ``kind`` serving ``disk``, and the methods it was asked for."""

    def __init__(self, kind: str, url: str, disk: Path, methods: Callable[[], list[str]]) -> None:
        self.kind, self.url, self.disk, self.methods = kind, url, disk, methods


@pytest.fixture(params=["wsgidav", "nginx"])
def logged(request: pytest.FixtureRequest, tmp_path: Path, dav_factory) -> Iterator[LoggedServer]:
    if request.param == "wsgidav":
        logs: list[MethodLog] = []

        def wrap(app):
            logs.append(MethodLog(app))
            return logs[-1]

        srv, dav = dav_factory(middleware=wrap)
        yield LoggedServer("wsgidav", srv.url, dav.disk, lambda: [m for m, _ in logs[0].seen])
        return
    root = tmp_path / "nginx-root"
    (root / "p").mkdir(parents=True)
    log = tmp_path / "access.log"
    try:
        srv = NginxDav(str(root), access_log=str(log)).start()
    except ServerUnavailable as exc:
        unavailable(f"nginx WebDAV server unavailable: {exc}")
    try:
        yield LoggedServer("nginx", srv.url, root / "p",
                           lambda: [line.split()[0] for line in log.read_text().splitlines() if line])
    finally:
        srv.stop()


def dav_project(path: Path, server: LoggedServer, sub: str, files: dict[str, bytes]) -> Path:
    write_tree(server.disk / sub, files, mtime=SRC_MTIME)
    cfg = {"name": sub, "pickable_objects": OBJECTS, "overlay_root": f"webdav://p/{sub}",
           "overlay_fs_args": {"base_url": server.url}}
    path.write_text(json.dumps(cfg, indent=2))
    return path


def test_read_only_commands_send_no_writing_request(logged: LoggedServer, tmp_path: Path) -> None:
    files = basic_source()
    dav_src = dav_project(tmp_path / "dav-src.json", logged, "src", files)
    # a target holding an older copy, a trash batch and a lock folder: things to list
    older = {rel: data + b"-old" for rel, data in list(files.items())[:6]}
    trash = {".synctui-trash/20260101T000000-abcdef/ExperimentRuns/TS_001/.meta": b"meta"}
    dav_dst = dav_project(tmp_path / "dav-dst.json", logged, "dst", {**older, **trash})
    local_src = write_config(tmp_path / "local-src.json", tmp_path / "local-src")
    write_tree(tmp_path / "local-src", files, mtime=SRC_MTIME + 60)
    local_dst = write_config(tmp_path / "local-dst.json", tmp_path / "local-dst")
    before = read_tree(logged.disk, hidden=True)
    env = {"SYNCTUI_STATE_DIR": os.environ["SYNCTUI_STATE_DIR"]}

    commands = [
        ["plan", "-s", str(dav_src), "-t", str(local_dst)],
        ["plan", "-s", str(local_src), "-t", str(dav_dst)],
        ["plan", "-s", str(dav_src), "-t", str(dav_dst), "--json"],
        ["locks", str(dav_dst)],
        ["trash", "list", "--target", str(dav_dst)],
        ["history", "--source", str(dav_src)],
    ]
    for args in commands:
        res = run_cli(*args, env=env)
        assert res.returncode == 0, (args, res.stderr)
    # what the app does before a sync starts: open both projects and plan
    for src, dst in ((dav_src, local_dst), (local_src, dav_dst)):
        job = SyncJob(str(src), str(dst), job_options=JobOptions(fsync=False))
        try:
            assert job.plan().entities
        finally:
            job.close_stores()

    methods = logged.methods()
    assert "PROPFIND" in methods, "the server does not log requests"
    writes = sorted(set(methods) - READS)
    assert writes == [], f"{logged.kind} was sent {writes}"
    assert read_tree(logged.disk, hidden=True) == before
    assert not (tmp_path / "local-dst" / "ExperimentRuns").exists()


def test_a_sync_still_probes_before_it_writes(logged: LoggedServer, tmp_path: Path) -> None:
    """The probe moved, it did not go: the first write (the lock) learns what the server does."""
    dav_dst = dav_project(tmp_path / "dav-dst.json", logged, "dst", {})
    local_src = write_config(tmp_path / "local-src.json", tmp_path / "local-src")
    write_tree(tmp_path / "local-src", basic_source(), mtime=SRC_MTIME)
    job = SyncJob(str(local_src), str(dav_dst), job_options=JobOptions(fsync=False))
    try:
        job.scan()
        store = job.target.stores["overlay"]  # type: ignore[union-attr]
        assert store.capabilities.writable is None  # nothing written yet
        summary = job.run()
        assert summary.errors == [] and summary.created > 0
        assert store.capabilities.writable is True
        assert store.features.set_mtime is (logged.kind == "nginx")
    finally:
        job.close_stores()
    assert read_tree(logged.disk / "dst") == basic_source()
