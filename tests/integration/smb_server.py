"""A throwaway Samba ``smbd`` on 127.0.0.1, for the SMB tests and bench/smb_sync.py.

A generated ``smb.conf`` (``smb ports`` = a free port, ``interfaces = lo``, ``bind
interfaces only``, every private, lock, state, cache and pid folder under the temp
dir), one share ``data`` on a temp folder and a generated user with a random password
in a private passdb (``smbpasswd -c smb.conf -a -s``).  smbd runs in the foreground
(``--foreground --no-process-group --debug-stdout``).  Files are created as that OS
user (root in CI), so the tests can read and write the share's folder directly.

Samba cannot map an SMB user to nobody: as root we use ``root`` itself (``smbpasswd``
adds it to the temp passdb only); otherwise the current user (smbd then runs without
root, which Samba supports for a single-user share on a high port).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from server_tools import apt_install, find_daemon, free_port, stop_process

SHARE = "data"


class ServerUnavailable(Exception):
    """smbd is missing or would not start (the message says why)."""


def _tool(name: str) -> str:
    for cand in (shutil.which(name), f"/usr/bin/{name}", f"/usr/sbin/{name}"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ServerUnavailable(f"{name} is not installed (Debian package samba-common-bin)")


@dataclass
class SMBServer:
    """A running smbd serving ``share_dir`` as ``//127.0.0.1:<port>/data``."""

    base: Path
    port: int
    user: str
    password: str
    share_dir: Path
    conf: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    host = "127.0.0.1"
    share = SHARE

    def fs_args(self, **extra: object) -> dict[str, object]:
        """copick's fs_args for this server (fsspec's smb vocabulary)."""
        args: dict[str, object] = {"host": self.host, "port": self.port, "username": self.user,
                                   "password": self.password, "auto_mkdir": True}
        args.update(extra)
        return args

    def url(self, disk_path: Path) -> str:
        """The ``smb://`` root of a folder inside the share (host and port in fs_args)."""
        rel = disk_path.resolve().relative_to(self.share_dir.resolve()).as_posix()
        return f"smb://{self.host}/{SHARE}/{rel}".rstrip("/")

    def session_pids(self) -> list[int]:
        """The smbd children serving client sessions (not the parent, not its helpers)."""
        assert self.proc is not None
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and comm == "smbd":  # not smbd-notifyd, cleanupd
                out.append(int(entry.name))
        return out

    def log_tail(self, chars: int = 3000) -> str:
        """The end of smbd's own log (its children's too): what a failed test shows."""
        try:
            return (self.base / "smbd.out").read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no smbd log: {exc})"

    def kill_sessions(self) -> int:
        """SIGKILL every session child: each client's connection drops at once."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None
        if self._log is not None:
            self._log.close()

    _log = None


def _conf(base: Path, port: int, share: Path, user: str) -> str:
    dirs = {k: base / k for k in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    return f"""[global]
    server role = standalone server
    workgroup = WORKGROUP
    netbios name = SYNCTUITEST
    smb ports = {port}
    interfaces = lo
    bind interfaces only = yes
    private dir = {dirs['private']}
    lock directory = {dirs['lock']}
    state directory = {dirs['state']}
    cache directory = {dirs['cache']}
    pid directory = {dirs['pid']}
    ncalrpc dir = {dirs['ncalrpc']}
    log file = {dirs['log']}/log.%m
    passdb backend = tdbsam:{dirs['private']}/passdb.tdb
    server min protocol = SMB2_10
    disable netbios = yes
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    map to guest = never
    restrict anonymous = 2
    server signing = auto
    server smb encrypt = if_required
    rpc server dynamic port range = 49152-65535
    winbind enum users = no
    logging = file
    log level = 1

[{SHARE}]
    path = {share}
    read only = no
    valid users = {user}
    force user = {user}
    create mask = 0644
    directory mask = 0755
    store dos attributes = no
    map archive = no
    map hidden = no
    map system = no
    map readonly = no
    ea support = no
    hide dot files = no
    veto files =
    strict sync = no
"""


def make_server(base: Path, *, timeout: float = 20.0) -> SMBServer:
    """Start smbd (installing samba first when missing and root); raise ServerUnavailable."""
    smbd = find_daemon("smbd") or (find_daemon("smbd") if apt_install("samba", "smbclient") else None)
    if smbd is None:
        raise ServerUnavailable("smbd is not installed (Debian package samba)")
    base.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.geteuid()).pw_name
    password = "Pw-" + secrets.token_urlsafe(12)
    share = base / "share"
    share.mkdir(exist_ok=True)
    port = free_port()
    conf = base / "smb.conf"
    conf.write_text(_conf(base, port, share, user))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
    try:
        subprocess.run([_tool("smbpasswd"), "-c", str(conf), "-a", "-s", user],
                       input=f"{password}\n{password}\n", text=True, check=True,
                       capture_output=True, timeout=30, env=env)
    except subprocess.CalledProcessError as exc:
        raise ServerUnavailable(f"smbpasswd failed: {(exc.stderr or exc.stdout).strip()[:300]}") from None
    log = open(base / "smbd.out", "wb")
    proc = subprocess.Popen([smbd, "--foreground", "--no-process-group", "--debug-stdout",
                             "-s", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    server = SMBServer(base, port, user, password, share, conf, proc)
    server._log = log
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            server.stop()
            raise ServerUnavailable(f"smbd exited with {proc.returncode}: {server.log_tail(600).strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise ServerUnavailable(f"smbd did not listen on port {port} within {timeout:.0f} s")


# -- pytest fixtures (a plugin: registered by tests/conftest.py) ---------------------------

try:
    import pytest
except ImportError:  # the bench imports this module without pytest
    pytest = None  # type: ignore[assignment]


@dataclass
class Share:
    """A fresh, empty folder inside the test share: ``disk`` on this disk, ``url()`` and
    ``fs_args()`` in copick's form, ``store()`` an SMBStore closed when the test ends."""

    server: SMBServer
    disk: Path
    _stores: list = field(default_factory=list)

    def url(self, path: Path | None = None) -> str:
        """copick's ``smb:///share/path`` (host, port, user and password in fs_args)."""
        rel = (path or self.disk).resolve().relative_to(self.server.share_dir.resolve()).as_posix()
        return f"smb:///{SHARE}/{rel}"

    def fs_args(self, **extra: object) -> dict[str, object]:
        return self.server.fs_args(**extra)

    def config(self, path: Path, disk: Path, *, name: str = "smb", **fs_args: object) -> Path:
        """A copick config whose overlay is ``disk`` (a folder in the share), in copick's
        form: ``smb:///share/path`` with host, port, username, password, temppath and
        auto_mkdir in overlay_fs_args (an fs_arg given as None is left out)."""
        import json

        args = {k: v for k, v in self.fs_args(temppath="/" + SHARE, **fs_args).items() if v is not None}
        cfg = {"name": name, "pickable_objects": [
            {"name": "ribosome", "is_particle": True, "label": 1},
            {"name": "membrane", "is_particle": False, "label": 2}],
            "overlay_root": self.url(disk), "overlay_fs_args": args}
        path.write_text(json.dumps(cfg, indent=2))
        return path

    def location(self, path: Path | None = None, **extra: object):
        from synctui.storage.url import parse_location

        return parse_location(self.url(path), self.fs_args(**extra))

    def store(self, path: Path | None = None, **extra: object):
        from synctui.storage.smb import SMBStore

        store = SMBStore(self.location(path, **extra))
        self._stores.append(store)
        return store

    def close(self) -> None:
        for store in self._stores:
            store.close()


if pytest is not None:
    import itertools

    _shares = itertools.count()

    @pytest.fixture(scope="session")
    def smbd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SMBServer]:
        from server_fixtures import server_unavailable

        try:
            server = make_server(tmp_path_factory.mktemp("smbd"))
        except ServerUnavailable as exc:
            server_unavailable(f"no smbd for the SMB tests: {exc}")
        yield server
        server.stop()

    @pytest.fixture
    def smb(smbd: SMBServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Share]:
        monkeypatch.delenv("SYNCTUI_SMB_PASSWORD", raising=False)
        disk = smbd.share_dir / f"t{next(_shares)}"
        disk.mkdir()
        share = Share(smbd, disk)
        yield share
        share.close()
