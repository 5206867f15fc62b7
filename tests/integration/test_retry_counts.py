"""How often a request is sent against a server that fails every time (issue #14, item 3).

The store retries a request that is safe to send again, the engine a file whose
transfer the store cannot resend, and never both (storage/retry.py): so a file
costs ``ATTEMPTS`` (4) sends of the failing request, small or large, up or down,
not 4×4×4.  A WSGI middleware in front of wsgidav answers 503 to every GET or PUT
below ``ExperimentRuns`` and counts them per file; for SFTP a TCP proxy in front of
sshd hangs up every connection once armed and counts the connects.
"""

from __future__ import annotations

import posixpath
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import SRC_MTIME, picks_json, picks_path, write_config, write_tree
from test_webdav_sync import dav_config, job

from synctui.errors import StoreError
from synctui.storage.base import TEMP_PREFIX
from synctui.storage.retry import ATTEMPTS
from synctui.sync.engine import SMALL_FILE

pytestmark = pytest.mark.integration

SMALL = picks_path("TS_001", "alice", "1", "ribosome")
LARGE = "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"  # streamed (>= SMALL_FILE)
FILES = {SMALL: picks_json("ribosome", "alice", "1", "TS_001"), LARGE: b"m" * (SMALL_FILE + 1)}


class FailAll:
    """WSGI middleware: once ``armed``, every GET and PUT whose path contains ``match``
    gets 503 (the body drained), counted per (method, final file name)."""

    def __init__(self, app: Any, match: str = "ExperimentRuns") -> None:
        self.app = app
        self.match = match
        self.armed = False
        self.sent: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        if not (self.armed and method in ("GET", "PUT") and self.match in path):
            return self.app(environ, start_response)
        with self._lock:
            self.sent[method, _final_name(path)] += 1
        stream = environ.get("wsgi.input")
        while stream is not None and stream.read(1 << 16):
            pass
        start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"busy"]


def _final_name(path: str) -> str:
    """The file a request is about: a PUT goes to ``.synctui-tmp-<name>.<tag>``."""
    name = posixpath.basename(path)
    return name[len(TEMP_PREFIX):].rsplit(".", 1)[0] if name.startswith(TEMP_PREFIX) else name


def _source(tmp_path: Path) -> Path:
    root = tmp_path / "src" / "overlay"
    write_tree(root, FILES, mtime=SRC_MTIME)
    return write_config(tmp_path / "src" / "config.json", root, name="source")


def test_the_engine_default_matches_the_store_attempts() -> None:
    from synctui.sync.api import JobOptions

    assert JobOptions().retries == ATTEMPTS - 1  # so the documented number holds by default


def test_every_put_failing_costs_each_file_the_documented_sends(dav_factory, tmp_path: Path) -> None:
    mw: list[FailAll] = []
    _, dav = dav_factory(middleware=lambda app: mw.append(FailAll(app)) or mw[0])
    j = job(_source(tmp_path), dav_config(tmp_path / "dst.json", dav, "o"), max_workers=1,
            retries=ATTEMPTS - 1)  # the engine's default: 1 + 3 tries of a file
    j.plan()
    mw[0].armed = True
    summary = j.run()
    assert sorted(e.path for e in summary.errors) == sorted(FILES)
    # the small file's PUT (bytes) is retried by the store, the large one's (a stream) by
    # the engine: 4 each, the same number either way
    assert mw[0].sent == {("PUT", posixpath.basename(SMALL)): ATTEMPTS,
                          ("PUT", posixpath.basename(LARGE)): ATTEMPTS}


def test_every_get_failing_costs_each_file_the_documented_sends(dav_factory, tmp_path: Path) -> None:
    mw: list[FailAll] = []
    _, dav = dav_factory(middleware=lambda app: mw.append(FailAll(app)) or mw[0])
    write_tree(dav.disk / "o", FILES, mtime=SRC_MTIME)
    src = dav_config(tmp_path / "src.json", dav, "o", name="source")
    dst_root = tmp_path / "dst" / "overlay"
    dst_root.mkdir(parents=True)
    j = job(src, write_config(tmp_path / "dst" / "config.json", dst_root), max_workers=1,
            retries=ATTEMPTS - 1)
    j.plan()
    mw[0].armed = True
    summary = j.run()
    assert sorted(e.path for e in summary.errors) == sorted(FILES)
    assert mw[0].sent == {("GET", posixpath.basename(SMALL)): ATTEMPTS,
                          ("GET", posixpath.basename(LARGE)): ATTEMPTS}


# -- SFTP -------------------------------------------------------------------------------------


class HangUp:
    """127.0.0.1:``port`` forwards to sshd; once ``armed``, it cuts every open connection
    and hangs up each new one at once, counting them (``connects``)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.armed = False
        self.connects = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        with self._lock:
            self.armed, self.connects = True, 0
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self.armed:
                    self.connects += 1
                    client.close()
                    continue
                server = socket.create_connection(("127.0.0.1", self.upstream))
                self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._listener.close()
        self.arm()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.mark.parametrize("call", ["read_bytes", "stat", "write_atomic", "scan"])
def test_sftp_dials_each_idempotent_call_the_documented_times(remote, tmp_path: Path, call: str) -> None:
    from synctui.storage.retry import RetryPolicy
    from synctui.storage.sftp import SFTPStore
    from synctui.storage.url import parse_location

    (remote.root / "f.bin").write_bytes(b"x")
    server = remote.server
    proxy = HangUp(server.port)
    known = tmp_path / "known_proxy"
    known.write_text(f"[{server.host}]:{proxy.port} {server.host_key_type} {server.host_key_pub}\n")
    store = SFTPStore(parse_location(f"ssh://{remote.root}", server.fs_args(known, port=proxy.port)),
                      max_idle=1)
    try:
        store.retry_policy = RetryPolicy(backoff=0.01)
        assert store.stat("f.bin") is not None  # connected once: later failures are transient
        proxy.arm()
        deadline = time.monotonic() + 10
        while any(c.alive() for c in store._pool._idle) and time.monotonic() < deadline:
            time.sleep(0.01)  # the pooled connection is seen dead: every try dials
        run = {"read_bytes": lambda: store.read_bytes("f.bin"), "stat": lambda: store.stat("f.bin"),
               "write_atomic": lambda: store.write_atomic("g.bin", b"data"),
               "scan": lambda: list(store.scan())}[call]
        with pytest.raises(StoreError) as err:
            run()
        assert err.value.transient and err.value.retried
        assert proxy.connects == ATTEMPTS
    finally:
        store.close()
        proxy.close()
