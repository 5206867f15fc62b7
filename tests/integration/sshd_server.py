"""A throwaway OpenSSH sshd on 127.0.0.1, for the integration tests and bench/ssh_sync.py.

Generated host and user keys, a temp sshd_config (UsePAM no, StrictModes no,
AuthorizedKeysFile in the temp dir), run in the foreground as the current user
(``sshd -D -e -f cfg``).  Nothing outside the temp dir is touched except
``/run/sshd`` (the privilege-separation folder sshd insists on), created when
running as root.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from server_tools import apt_install, find_daemon, free_port, stop_process

SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server",
                "/usr/libexec/sftp-server", "/usr/lib/ssh/sftp-server")


class ServerUnavailable(Exception):
    """sshd is missing or would not start (the message says why)."""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def keygen(path: Path, *, passphrase: str = "", kind: str = "ed25519") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "synctui-test",
                    "-f", str(path)], check=True, capture_output=True)
    return path


@dataclass
class SSHServer:
    """A running sshd.  ``known_hosts_line`` is what a client should trust."""

    base: Path
    port: int
    sshd: str
    user: str
    host_key: Path
    user_key: Path
    enc_key: Path
    enc_passphrase: str
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    extra_config: list[str] = field(default_factory=list)
    #: "internal" (sshd's own, no login shell per SFTP session) or "external" (sftp-server,
    #: started through the user's shell as on most clusters)
    sftp: str = "internal"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def host_key_pub(self) -> str:
        return (self.host_key.with_suffix(".pub")).read_text().split()[1]

    @property
    def host_key_type(self) -> str:
        return (self.host_key.with_suffix(".pub")).read_text().split()[0]

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key_type} {self.host_key_pub}\n"

    def write_known_hosts(self, path: Path) -> Path:
        path.write_text(self.known_hosts_line)
        return path

    def fs_args(self, known_hosts: Path, **extra: object) -> dict:
        """copick-style fs_args for a root on this server (key auth)."""
        args = {"host": self.host, "port": self.port, "username": self.user,
                "client_keys": [str(self.user_key)], "known_hosts": str(known_hosts)}
        args.update(extra)
        return args

    def url(self, path: str | os.PathLike) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}{os.fspath(path)}"

    def children(self, pid: int | None = None) -> list[int]:
        """pids of the sshd processes serving connections now (``pgrep -P``, recursively)."""
        if pid is None:
            if self.proc is None:
                return []
            pid = self.proc.pid
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        kids = [int(p) for p in out.stdout.split()]
        return kids + [g for k in kids for g in self.children(k)]

    def kill_sessions(self) -> int:
        """Kill every connection (the listener stays): a dropped network, as clients see it.

        Only the sshd processes are SIGKILLed; the shells and commands they started
        get a hangup and exit cleanly (a SIGKILLed login shell can leave stale lock
        files behind, e.g. pyenv's rehash lock, and stall every later login).
        """
        pids = [p for p in self.children() if _comm(p).startswith("sshd")]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    # -- lifecycle ----------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> SSHServer:
        cfg = self.base / "sshd_config"
        sftp = "internal-sftp"
        if self.sftp == "external":
            sftp = next((p for p in SFTP_SERVERS if os.access(p, os.X_OK)), "internal-sftp")
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.base / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.base / 'authorized_keys'}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "AllowTcpForwarding yes",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "MaxAuthTries 10",
            "LogLevel ERROR",
            f"Subsystem sftp {sftp}",
            *self.extra_config,
        ]
        cfg.write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.log_path = self.base / "sshd.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen([self.sshd, "-D", "-e", "-f", str(cfg)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerUnavailable(f"sshd exited with status {self.proc.returncode}: "
                                        f"{self.log_path.read_text(errors='replace').strip()[:500]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServerUnavailable(f"sshd did not accept connections on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill_sessions()
            stop_process(self.proc, 5)
        self.proc = None


def make_server(base: Path, *, install: bool = True, extra_config: list[str] | None = None,
                sftp: str = "internal") -> SSHServer:
    """Generate keys and a config under ``base`` and start sshd (raises ServerUnavailable)."""
    sshd = find_daemon("sshd") or (find_daemon("sshd") if install and apt_install(
        "openssh-server", "openssh-client") else None)
    if sshd is None:
        raise ServerUnavailable("OpenSSH sshd is not installed (apt-get install openssh-server)")
    if not shutil.which("ssh-keygen"):
        raise ServerUnavailable("ssh-keygen is not installed (apt-get install openssh-client)")
    base.mkdir(parents=True, exist_ok=True)
    host_key = keygen(base / "host_ed25519")
    user_key = keygen(base / "user_ed25519")
    passphrase = "correct horse battery"
    enc_key = keygen(base / "user_encrypted", passphrase=passphrase)
    (base / "authorized_keys").write_text(
        user_key.with_suffix(".pub").read_text() + enc_key.with_suffix(".pub").read_text())
    import getpass

    server = SSHServer(base=base, port=free_port(), sshd=sshd, user=getpass.getuser(),
                       host_key=host_key, user_key=user_key, enc_key=enc_key,
                       enc_passphrase=passphrase, extra_config=list(extra_config or []), sftp=sftp)
    last: Exception | None = None
    for _ in range(3):  # the free port may be taken between probe and bind
        try:
            return server.start()
        except ServerUnavailable as exc:
            last = exc
            server.port = free_port()
    raise ServerUnavailable(str(last))
