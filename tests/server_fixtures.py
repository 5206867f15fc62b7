"""Server fixtures for every test folder: OpenSSH ``sshd`` (here) and WebDAV (webdav_servers).

Registered by the root conftest (``pytest_plugins``), so tests/sync, tests/cli and
tests/tui can run the same tests against real servers, and ``from server_fixtures
import Remote`` names one module wherever it runs.

``sshd`` (session scope) starts one server for the whole run (installing
openssh-server first when it is missing and we are root).  A server that cannot
start skips its tests locally and FAILS them when ``SYNCTUI_REQUIRE_SERVERS=1``
or ``CI=true``: CI must never skip these silently.

``remote`` gives each test a fresh remote root (a folder the server serves,
which on loopback we can also inspect directly), a known_hosts file that trusts
the server, and an isolated ``HOME`` so ``~/.ssh`` is never the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integration"))

from sshd_server import ServerUnavailable, SSHServer, make_server  # noqa: E402

SSH_ENV = ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY",
           "SYNCTUI_SSH_PASSWORD", "SYNCTUI_SSH_PASSPHRASE", "SYNCTUI_SSH_ACCEPT_NEW",
           "SYNCTUI_SSH_CONFIG")


def servers_required() -> bool:
    return os.environ.get("SYNCTUI_REQUIRE_SERVERS") == "1" or os.environ.get("CI") == "true"


def server_unavailable(reason: str) -> None:
    if servers_required():
        pytest.fail(f"{reason} (servers are required: SYNCTUI_REQUIRE_SERVERS=1 or CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    try:
        server = make_server(tmp_path_factory.mktemp("sshd"))
    except ServerUnavailable as exc:
        server_unavailable(f"no sshd for the SSH tests: {exc}")
    yield server
    server.stop()


@pytest.fixture
def ssh_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty HOME (so ~/.ssh is ours) and no SSH secrets or agent from outside."""
    from synctui.storage import ssh_connect

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for var in SSH_ENV:
        monkeypatch.delenv(var, raising=False)
    old = ssh_connect.set_default_prompter(None)
    yield home
    ssh_connect.set_default_prompter(old)


class Remote:
    """A fresh root on the test server, and how to reach it."""

    def __init__(self, server: SSHServer, base: Path) -> None:
        self.server = server
        self.base = base
        self.root = base / "remote"
        self.root.mkdir(parents=True, exist_ok=True)
        self.known_hosts = server.write_known_hosts(base / "known_hosts")
        self._stores: list[Any] = []

    def fs_args(self, **extra: Any) -> dict[str, Any]:
        known = extra.pop("known_hosts", self.known_hosts)
        return self.server.fs_args(known, **extra)

    def location(self, sub: str = "", *, root: Path | None = None, **extra: Any):
        from synctui.storage.url import parse_location

        path = (root or self.root) / sub if sub else (root or self.root)
        return parse_location(f"ssh://{path}", self.fs_args(**extra))

    def store(self, sub: str = "", *, root: Path | None = None, fs_args: dict | None = None,
              **options: Any):
        from synctui.storage.sftp import SFTPStore

        loc = self.location(sub, root=root, **(fs_args or {}))
        store = SFTPStore(loc, **options)
        self._stores.append(store)
        return store

    def ssh_config(self, config_path: Path, *, root: Path, **extra: Any) -> Path:
        """Rewrite a local copick config so its overlay root is this server (copick's form)."""
        cfg = json.loads(config_path.read_text())
        cfg["overlay_root"] = f"ssh://{root}"
        cfg["overlay_fs_args"] = self.fs_args(**extra)
        config_path.write_text(json.dumps(cfg, indent=4))
        return config_path

    def close(self) -> None:
        for store in self._stores:
            store.close()


@pytest.fixture
def remote(sshd: SSHServer, ssh_env: Path, tmp_path: Path) -> Iterator[Remote]:
    r = Remote(sshd, tmp_path)
    yield r
    r.close()


@pytest.fixture
def system_user(tmp_path: Path):
    """A throwaway login with a password, for password logins: root, and opt-in or CI."""
    allowed = os.environ.get("SYNCTUI_TEST_SYSTEM_USER") == "1" or os.environ.get("CI") == "true" \
        or os.environ.get("SYNCTUI_REQUIRE_SERVERS") == "1"
    if os.geteuid() != 0 or not shutil.which("useradd") or not allowed:
        pytest.skip("password logins need a throwaway system user: run as root with "
                    "SYNCTUI_TEST_SYSTEM_USER=1 (set automatically in CI)")
    import secrets

    name = "synctui" + secrets.token_hex(3)
    password = secrets.token_urlsafe(12)
    home = Path("/tmp") / name
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True,
                   capture_output=True)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}", text=True, check=True,
                       capture_output=True)
        home.mkdir(mode=0o755)
        shutil.chown(home, name)
        yield name, password, home
    finally:
        subprocess.run(["userdel", "-f", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def loopback_portal():
    """The loopback CryoET Data Portal (GraphQL from the real schema + moto S3), one per run."""
    import portal_server

    gen = None
    try:
        gen = portal_server.portal_session()
        portal = next(gen)
    except portal_server.ServerUnavailable as exc:
        server_unavailable(f"no loopback portal: {exc}")
    yield portal
    next(gen, None)


@pytest.fixture
def portal_env(loopback_portal, monkeypatch: pytest.MonkeyPatch):
    """The environment variables that point synctui at the loopback portal."""
    for key, value in loopback_portal.env.items():
        monkeypatch.setenv(key, value)
    return loopback_portal
