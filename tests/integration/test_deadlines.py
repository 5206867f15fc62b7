"""Never a hang (issue #12, item 13): every remote wait has a deadline, and SIGTERM ends a sync
within seconds even mid-request.

Real loopback servers that misbehave (tests/integration/slow_servers.py): a proxy that
trickles wsgidav's answers at one byte per second, wsgidav reading one upload at one
byte per second, and a proxy in front of sshd that stops forwarding once a connection
has uploaded a few MiB.  A sync against them ends within a bound, reports the stalled
items (each with its cause) and does the rest; SIGTERM mid-stall exits 4 within a few
seconds, with the locks released and no partial file at a final path.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from slow_servers import SlowProxy, Trickle
from sync_helpers import (
    SRC_MTIME,
    assert_no_traceback,
    basic_source,
    read_tree,
    write_config,
    write_tree,
)

from synctui.errors import ConfigError
from synctui.storage.deadline import timeout_option

pytestmark = pytest.mark.integration

BIG = "ExperimentRuns/TS_009/Meshes/alice_1_ribosome.glb"
#: bigger than loopback socket buffers, so an upload the server stops reading blocks
BIG_SIZE = 24 << 20
#: a sync against a stalling server must end well within this (the deadline is 3 s)
BOUND = 60
#: SIGTERM ends a sync within this, whatever its deadline (the slow server gives up after 12 s)
SIGTERM_BOUND = 6


def source_with_big(base: Path) -> tuple[Path, dict[str, bytes]]:
    files = basic_source()
    files["ExperimentRuns/TS_009/.meta"] = b"meta"
    files[BIG] = random.Random(9).randbytes(BIG_SIZE)
    root = base / "src"
    write_tree(root, files, mtime=SRC_MTIME)
    return write_config(base / "src.json", root, name="source"), files


def remote_config(path: Path, root: str, fs_args: dict[str, Any]) -> Path:
    cfg = json.loads(write_config(path, path.parent / "unused", name="target").read_text())
    cfg["overlay_root"], cfg["overlay_fs_args"] = root, fs_args
    path.write_text(json.dumps(cfg, indent=2))
    return path


def sync(src: Path, dst: Path, *extra: str, timeout: float = BOUND) -> tuple[int, dict, str, float]:
    """``synctui sync --json`` with a hard bound: (exit status, summary, stderr, seconds)."""
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "synctui", "sync", "--no-progress", "--json", "-s", str(src),
                          "-t", str(dst), "--max-workers", "2", *extra], capture_output=True, text=True,
                         timeout=timeout)
    assert_no_traceback(res.stderr)
    try:
        summary = json.loads(res.stdout)
    except ValueError:
        summary = {}
    return res.returncode, summary, res.stderr, time.monotonic() - t0


def sigterm_when(cmd: list[str], ready, *, within: float = 10.0) -> tuple[int, str, float]:
    """Start ``cmd``, SIGTERM it once ``ready()`` holds: (exit status, stderr, seconds it took to end)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + BOUND
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sync ended before it stalled"
    time.sleep(0.5)  # well inside the stalled request
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=within + 20)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - t0
    assert_no_traceback(out + err)
    return proc.returncode, err, took


def assert_nothing_partial(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in read_tree(root).items():
        assert data == files[rel], f"partial file at final path {rel}"


def assert_no_lock(root: Path) -> None:
    lock_dir = root / ".synctui-lock"
    left = sorted(p.name for p in lock_dir.iterdir()) if lock_dir.exists() else []
    assert left == [], f"locks left: {left}"


def test_timeout_option_is_strict() -> None:
    assert timeout_option(None) == 60.0 and timeout_option(3) == 3.0 and timeout_option("2.5") == 2.5
    for bad in ("abc", "", True, 0, -1, float("nan"), [3]):
        with pytest.raises(ConfigError):
            timeout_option(bad)
    # both remote stores parse it with it, before they dial anything
    from synctui.storage.ssh_connect import settings_for_location
    from synctui.storage.url import parse_location
    from synctui.storage.webdav import WebDAVStore

    with pytest.raises(ConfigError, match="timeout"):
        WebDAVStore(parse_location("webdav://p", {"base_url": "http://127.0.0.1:9", "timeout": "abc"}))
    with pytest.raises(ConfigError, match="timeout"):
        settings_for_location(parse_location("ssh:///data", {"host": "127.0.0.1", "timeout": "false"}))
    st = settings_for_location(parse_location("ssh:///data", {"host": "127.0.0.1", "timeout": 3}))
    assert (st.timeout, st.idle_timeout) == (3.0, 3.0)


# -- WebDAV ----------------------------------------------------------------------------------------

def test_a_webdav_server_trickling_every_answer_ends_the_sync(wsgidav_dav, tmp_path: Path) -> None:
    """The issue's server: one byte a second for everything, fs_args timeout 3."""
    proxy = SlowProxy(int(wsgidav_dav.server_url.rsplit(":", 1)[1]), rate=1.0).start()
    try:
        src, _ = source_with_big(tmp_path)
        dst = remote_config(tmp_path / "dst.json", f"webdav://{wsgidav_dav.prefix.strip('/')}/dst",
                            {"base_url": f"http://127.0.0.1:{proxy.port}", "timeout": 3})
        code, _, err, took = sync(src, dst)
    finally:
        proxy.close()
    assert took < BOUND and code != 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "3 s" in lines[0], lines


def test_a_stalled_webdav_upload_is_an_item_error_and_the_rest_is_done(dav_factory, tmp_path: Path) -> None:
    mw: list[Trickle] = []
    _, dav = dav_factory(middleware=lambda app: mw.append(Trickle(app, "TS_009/Meshes")) or mw[0])
    src, files = source_with_big(tmp_path)
    dst = remote_config(tmp_path / "dst.json", f"webdav://{dav.prefix.strip('/')}/dst",
                        {"base_url": dav.server_url, "timeout": 3})
    code, summary, err, took = sync(src, dst)
    assert mw[0].started.is_set()
    assert code == 1 and took < BOUND, (code, err)
    assert [e["path"] for e in summary["errors"]] == [BIG], summary["errors"]
    assert "fs_args timeout" in summary["errors"][0]["message"]
    tree = read_tree(dav.disk / "dst")
    assert tree == {rel: data for rel, data in files.items() if rel != BIG}
    assert_no_lock(dav.disk / "dst")


def test_sigterm_ends_a_sync_stalled_on_webdav_within_seconds(dav_factory, tmp_path: Path) -> None:
    """Even with the default deadline (60 s), SIGTERM does not wait for it."""
    mw: list[Trickle] = []
    _, dav = dav_factory(middleware=lambda app: mw.append(Trickle(app, "TS_009/Meshes")) or mw[0])
    src, files = source_with_big(tmp_path)
    dst = remote_config(tmp_path / "dst.json", f"webdav://{dav.prefix.strip('/')}/dst",
                        {"base_url": dav.server_url})
    cmd = [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", str(src), "-t", str(dst),
           "--max-workers", "2"]
    code, err, took = sigterm_when(cmd, mw[0].started.is_set)
    assert code == 4, err
    assert took < SIGTERM_BOUND, f"SIGTERM took {took:.1f} s"
    assert_nothing_partial(dav.disk / "dst", files)
    assert_no_lock(dav.disk / "dst")


# -- SSH -------------------------------------------------------------------------------------------

def ssh_through(proxy: SlowProxy, remote, tmp_path: Path, **extra: Any) -> Path:
    server = remote.server
    known = tmp_path / "known_proxy"
    known.write_text(f"[{server.host}]:{proxy.port} {server.host_key_type} {server.host_key_pub}\n")
    root = remote.root / "dst"
    return remote_config(tmp_path / "dst.json", f"ssh://{root}",
                         server.fs_args(known, port=proxy.port, **extra))


def test_a_stalled_ssh_upload_is_an_item_error_and_the_rest_is_done(remote, tmp_path: Path) -> None:
    proxy = SlowProxy(remote.server.port, stall_after=4 << 20).start()
    try:
        src, files = source_with_big(tmp_path)
        dst = ssh_through(proxy, remote, tmp_path, timeout=3)
        code, summary, err, took = sync(src, dst)
    finally:
        proxy.close()
    assert proxy.stalled.is_set()
    assert code == 1 and took < BOUND, (code, err)
    assert [e["path"] for e in summary["errors"]] == [BIG], summary["errors"]
    assert "did not answer" in summary["errors"][0]["message"]
    tree = read_tree(remote.root / "dst")
    assert tree == {rel: data for rel, data in files.items() if rel != BIG}


def test_sigterm_ends_a_sync_stalled_on_ssh_within_seconds(remote, tmp_path: Path) -> None:
    proxy = SlowProxy(remote.server.port, stall_after=4 << 20).start()
    try:
        src, files = source_with_big(tmp_path)
        dst = ssh_through(proxy, remote, tmp_path)
        cmd = [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", str(src), "-t", str(dst),
               "--max-workers", "2"]
        code, err, took = sigterm_when(cmd, proxy.stalled.is_set)
    finally:
        proxy.close()
    assert code == 4, err
    assert took < SIGTERM_BOUND, f"SIGTERM took {took:.1f} s"
    assert_nothing_partial(remote.root / "dst", files)
    assert_no_lock(remote.root / "dst")
