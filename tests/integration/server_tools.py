"""What every loopback server launcher needs: a free port, a daemon's path, and
apt-get installing its Debian packages when we are root (CI's fresh machines)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_daemon(name: str) -> str | None:
    """``name`` on PATH or in the sbin folders daemons live in (not on a user's PATH)."""
    for cand in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/local/sbin/{name}"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def apt_install(*packages: str) -> bool:
    """apt-get install ``packages`` when root and apt is there; whether it worked."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                       env=env, check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, and SIGKILL after ``grace`` seconds: a server that hangs never hangs the run."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
