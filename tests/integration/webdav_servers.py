"""Real WebDAV servers on loopback for the WebDAV store tests and the bench.

* ``WsgiDavServer``: wsgidav embedded in this process (cheroot in a thread) or
  in a child process (``process=True``, for benchmarks, so the server does not
  share our GIL).  Anonymous, basic or digest auth, optional ``X-OC-Mtime``
  support and an optional WSGI middleware (fault injection).
* ``NginxDav``: nginx with the dav_ext module (Debian's
  ``libnginx-mod-http-dav-ext``), the stricter server of DESIGN §7.

Test modules use the fixtures at the bottom through
the root conftest (``pytest_plugins``): ``dav`` is parametrised over both
servers and gives each test a fresh, empty collection.  A server that cannot
start skips its tests locally and fails them when ``SYNCTUI_REQUIRE_SERVERS=1``
or ``CI=true``.

``python tests/integration/webdav_servers.py wsgidav --root DIR --port N`` runs
a wsgidav server in the foreground (what ``process=True`` starts).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server_tools import free_port

NGINX_MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules",
                     "/usr/lib64/nginx/modules", "/usr/local/nginx/modules")
DAV_EXT_MODULE = "ngx_http_dav_ext_module.so"


class ServerUnavailable(RuntimeError):
    """A server that cannot start here; the message says why and what to install."""


def wait_port(port: int, timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerUnavailable(f"server exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerUnavailable(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


# ---------------------------------------------------------------------------
# wsgidav


def wsgidav_config(root: str, *, users: dict[str, str] | None = None, digest: bool = False,
                   honor_mtime: bool = False) -> dict[str, Any]:
    """A quiet wsgidav config serving ``root`` at ``/``."""
    if users:
        mapping: Any = {"*": {u: {"password": p} for u, p in users.items()}}
        auth = {"accept_basic": not digest, "accept_digest": digest, "default_to_digest": digest}
    else:
        mapping = {"*": True}
        auth = {"accept_basic": True, "accept_digest": False, "default_to_digest": False}
    return {
        "host": "127.0.0.1",
        "provider_mapping": {"/": root},
        "simple_dc": {"user_mapping": mapping},
        "http_authenticator": {"domain_controller": None, "trusted_auth_header": None, **auth},
        "verbose": 0,
        "logging": {"enable": False, "enable_loggers": []},
        "dir_browser": {"enable": False},
        "lock_storage": True,
        "property_manager": True,
        "honor_mtime_header": honor_mtime,
    }


class WsgiDavServer:
    """wsgidav on 127.0.0.1; ``url`` once started."""

    kind = "wsgidav"

    def __init__(self, root: str, *, users: dict[str, str] | None = None, digest: bool = False,
                 honor_mtime: bool = False, middleware: Callable[[Any], Any] | None = None,
                 process: bool = False, threads: int = 32, tls: tuple[str, str] | None = None) -> None:
        self.root = root
        self.tls = tls
        self.users = users
        self.digest = digest
        self.honor_mtime = honor_mtime
        self.middleware = middleware
        self.process = process
        self.threads = threads
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> WsgiDavServer:
        try:
            import cheroot.wsgi  # noqa: F401
            import wsgidav.wsgidav_app  # noqa: F401
        except ImportError as exc:
            raise ServerUnavailable(f"wsgidav/cheroot not installed ({exc}): pip install -e '.[test]'") from None
        if self.process:
            if self.users or self.middleware or self.tls:
                raise ValueError("process mode is anonymous and plain")
            self.port = free_port()
            cmd = [sys.executable, os.path.abspath(__file__), "wsgidav", "--root", self.root,
                   "--port", str(self.port), "--threads", str(self.threads)]
            if self.honor_mtime:
                cmd.append("--honor-mtime")
            self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait_port(self.port, proc=self._proc)
            return self
        self._server = make_wsgidav_server(self.root, 0, users=self.users, digest=self.digest,
                                           honor_mtime=self.honor_mtime, middleware=self.middleware,
                                           threads=self.threads)
        if self.tls:
            from cheroot.ssl.builtin import BuiltinSSLAdapter

            self._server.ssl_adapter = BuiltinSSLAdapter(*self.tls)
        self._server.prepare()
        self.port = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, name="wsgidav", daemon=True)
        self._thread.start()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def __enter__(self) -> WsgiDavServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_wsgidav_server(root: str, port: int, *, users: dict[str, str] | None = None,
                        digest: bool = False, honor_mtime: bool = False,
                        middleware: Callable[[Any], Any] | None = None, threads: int = 32) -> Any:
    import logging

    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    app: Any = WsgiDAVApp(wsgidav_config(root, users=users, digest=digest, honor_mtime=honor_mtime))
    logging.getLogger("wsgidav").setLevel(logging.ERROR)
    if middleware is not None:
        app = middleware(app)
    server = wsgi.Server(("127.0.0.1", port), app, numthreads=threads)
    server.stats["Enabled"] = False
    return server


def self_signed_cert(directory: str, host: str = "127.0.0.1") -> tuple[str, str]:
    """A throw-away self-signed certificate for ``host``: (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return cert_path, key_path


class MethodLog:
    """WSGI middleware: remembers each request's method and path (``seen``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str]] = []

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        self.seen.append((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
        return self.app(environ, start_response)


class FailFirstPuts:
    """WSGI middleware: the first ``n`` PUTs (whose path contains ``match``) get ``status``."""

    def __init__(self, app: Any, n: int, status: str = "503 Service Unavailable",
                 match: str = "") -> None:
        self.app = app
        self.remaining = n
        self.status = status
        self.match = match
        self.failed = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("REQUEST_METHOD") == "PUT" and self.match in environ.get("PATH_INFO", ""):
            with self._lock:
                fail = self.remaining > 0
                if fail:
                    self.remaining -= 1
                    self.failed += 1
            if fail:
                stream = environ.get("wsgi.input")
                if stream is not None:  # drain the body so keep-alive stays sane
                    while stream.read(1 << 16):
                        pass
                start_response(self.status, [("Content-Type", "text/plain"), ("Content-Length", "12")])
                return [b"injected 5xx"]
        return self.app(environ, start_response)


# ---------------------------------------------------------------------------
# nginx + dav_ext


def find_nginx() -> tuple[str, str | None]:
    """(nginx binary, path of the dav_ext module or None when built in / enabled)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        raise ServerUnavailable("nginx not installed (apt-get install nginx libnginx-mod-http-dav-ext)")
    for d in NGINX_MODULE_DIRS:
        mod = os.path.join(d, DAV_EXT_MODULE)
        if os.path.exists(mod):
            return nginx, mod
    try:
        out = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=10).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerUnavailable(f"cannot run {nginx} -V: {exc}") from None
    if "dav-ext" in out or "dav_ext" in out:
        return nginx, None
    raise ServerUnavailable("nginx has no dav_ext module (apt-get install libnginx-mod-http-dav-ext)")


NGINX_CONF = """\
{load_module}
daemon off;
master_process on;
worker_processes {workers};
{user}
pid {state}/nginx.pid;
error_log {state}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    {access_log}
    sendfile on;
    keepalive_requests 100000;
    client_max_body_size 0;
    client_body_temp_path {state}/body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            create_full_put_path on;
            dav_access user:rw group:rw all:r;
        }}
    }}
}}
"""


class NginxDav:
    """nginx serving ``root`` over WebDAV on 127.0.0.1 (its own prefix in a temp dir)."""

    kind = "nginx"

    def __init__(self, root: str, *, workers: int = 1, access_log: str | None = None) -> None:
        self.root = root
        self.workers = workers
        #: a file to log each request's method and path to ("METHOD /path" lines)
        self.access_log = access_log
        self.port = 0
        self.state = ""
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NginxDav:
        nginx, module = find_nginx()
        self.state = tempfile.mkdtemp(prefix="synctui-nginx-")
        self.port = free_port()
        conf = NGINX_CONF.format(
            load_module=f"load_module {module};" if module else "",
            user="user root;" if os.geteuid() == 0 else "",
            workers=self.workers, state=self.state, port=self.port, root=self.root,
            access_log=(f"log_format methods '$request_method $uri'; access_log {self.access_log} methods;"
                        if self.access_log else "access_log off;"))
        conf_path = os.path.join(self.state, "nginx.conf")
        with open(conf_path, "w") as fh:
            fh.write(conf)
        cmd = [nginx, "-p", self.state, "-c", conf_path, "-e", os.path.join(self.state, "error.log")]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)
        try:
            wait_port(self.port, proc=self._proc)
        except ServerUnavailable as exc:
            err = self._stderr() or self.error_log()
            self.stop()
            raise ServerUnavailable(f"nginx did not start: {exc}: {err.strip()[-300:]}") from None
        return self

    def _stderr(self) -> str:
        if self._proc is not None and self._proc.poll() is not None and self._proc.stderr:
            return self._proc.stderr.read().decode(errors="replace")
        return ""

    def error_log(self) -> str:
        try:
            with open(os.path.join(self.state, "error.log")) as fh:
                return fh.read()
        except OSError:
            return ""

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGQUIT)  # graceful: master and workers
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self.state:
            shutil.rmtree(self.state, ignore_errors=True)
            self.state = ""

    def __enter__(self) -> NginxDav:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------
# pytest fixtures

try:
    import pytest
except ImportError:  # the bench imports this module without pytest
    pytest = None  # type: ignore[assignment]


def servers_required() -> bool:
    return os.environ.get("SYNCTUI_REQUIRE_SERVERS") == "1" or os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip locally; fail where servers are required (CI)."""
    if servers_required():
        pytest.fail(f"{reason} (servers are required: SYNCTUI_REQUIRE_SERVERS=1 or CI=true)")
    pytest.skip(reason)


@dataclass
class Dav:
    """One test's empty collection on a running server."""

    kind: str  # "wsgidav" or "nginx"
    server_url: str
    prefix: str  # the collection's URL path, e.g. "/t3"
    disk: Path  # the same collection on disk (to check what the server did)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server_url + self.prefix

    def location(self, sub: str = "", **fs_args: Any):
        from synctui.storage.url import parse_location

        path = f"{self.prefix}/{sub}".rstrip("/") if sub else self.prefix
        return parse_location(self.server_url + path, fs_args or None)

    def store(self, sub: str = "", **options: Any):
        from synctui.storage.webdav import WebDAVStore

        fs_args = options.pop("fs_args", {})
        return WebDAVStore(self.location(sub, **fs_args), **options)


_counter = itertools.count()


class _Started:
    """A session's server (or why it could not start) and its root folder."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        self.server: Any = None
        self.error: str | None = None
        self.root = tempfile.mkdtemp(prefix="synctui-dav-")
        try:
            self.server = make(self.root).start()
        except ServerUnavailable as exc:
            self.error = str(exc)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)


if pytest is not None:

    @pytest.fixture(scope="session")
    def _wsgidav_server() -> Iterator[_Started]:
        started = _Started(lambda root: WsgiDavServer(root))
        yield started
        started.close()

    @pytest.fixture(scope="session")
    def _nginx_server() -> Iterator[_Started]:
        started = _Started(lambda root: NginxDav(root))
        yield started
        started.close()

    def _fresh(started: _Started, kind: str) -> Dav:
        if started.error is not None:
            unavailable(f"{kind} WebDAV server unavailable: {started.error}")
        name = f"t{next(_counter)}"
        disk = Path(started.root) / name
        disk.mkdir()
        return Dav(kind, started.server.url, "/" + name, disk)

    @pytest.fixture(params=["wsgidav", "nginx"])
    def dav(request: pytest.FixtureRequest) -> Dav:
        """A fresh empty collection on each real server (the test runs once per server)."""
        kind = request.param
        started = request.getfixturevalue(f"_{kind}_server")
        return _fresh(started, kind)

    @pytest.fixture
    def wsgidav_dav(_wsgidav_server: _Started) -> Dav:
        return _fresh(_wsgidav_server, "wsgidav")

    @pytest.fixture
    def nginx_dav(_nginx_server: _Started) -> Dav:
        return _fresh(_nginx_server, "nginx")

    @pytest.fixture
    def dav_factory(tmp_path: Path) -> Iterator[Callable[..., tuple[Any, Dav]]]:
        """Start a dedicated wsgidav (auth, mtime, middleware ...); stopped after the test."""
        servers: list[Any] = []

        def make(**kwargs: Any) -> tuple[Any, Dav]:
            root = tmp_path / f"davroot{len(servers)}"
            root.mkdir()
            try:
                srv = WsgiDavServer(str(root), **kwargs).start()
            except ServerUnavailable as exc:
                unavailable(f"wsgidav WebDAV server unavailable: {exc}")
            servers.append(srv)
            (root / "p").mkdir()
            return srv, Dav("wsgidav", srv.url, "/p", root / "p")

        yield make
        for srv in servers:
            srv.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wsgidav", help="run wsgidav in the foreground")
    w.add_argument("--root", required=True)
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--threads", type=int, default=32)
    w.add_argument("--honor-mtime", action="store_true")
    n = sub.add_parser("nginx", help="run nginx + dav_ext in the foreground")
    n.add_argument("--root", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "wsgidav":
        server = make_wsgidav_server(args.root, args.port, honor_mtime=args.honor_mtime,
                                     threads=args.threads)
        signal.signal(signal.SIGTERM, lambda *a: server.stop())
        try:
            server.start()
        except KeyboardInterrupt:
            server.stop()
        return 0
    srv = NginxDav(args.root).start()
    print(srv.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
