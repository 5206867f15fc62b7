"""Shared by the safety tests (locks, journal, state batches, conflicts, prune) that run on
local, SSH and WebDAV targets: close what a job opened, watch a target fill up on disk,
kill a sync when it is part-way.

On loopback every remote root is also a folder of this machine (the sshd serves this
filesystem, a wsgidav collection is a folder), so trees, inodes and lock files are
inspected on disk directly.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synctui.sync.api import SyncJob
from synctui.sync.plan import Plan
from synctui.sync.state import default_db_path


def run_job(job: SyncJob, plan: Plan | None = None):
    """``job.run()``, then close its stores (remote connections) whatever happens."""
    try:
        return job.run(plan)
    finally:
        job.close_stores()


def plan_job(job: SyncJob) -> Plan:
    try:
        return job.plan()
    finally:
        job.close_stores()


def open_target(config: str | os.PathLike) -> Any:
    """A store on a project's overlay root (local, SSH or WebDAV): the caller closes it."""
    from synctui.project.config import load_config
    from synctui.storage.open import open_store

    return open_store(load_config(str(config)).overlay)


def wait_until(cond: Callable[[], bool], timeout: float = 60, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def data_files(root: Path) -> list[Path]:
    """Files below ``root`` outside our own hidden folders and temp files."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".synctui")]
        out += [Path(dirpath, f) for f in filenames if not f.startswith(".synctui")]
    return out


def inodes(root: Path) -> dict[str, int]:
    """relative path -> inode of every data file: a file written again gets a new inode
    (every store writes a temp file and renames it into place)."""
    return {str(p.relative_to(root)): p.stat().st_ino for p in data_files(root)}


def kill_when(proc: subprocess.Popen, cond: Callable[[], bool], timeout: float = 60) -> bool:
    """SIGKILL ``proc`` as soon as ``cond()`` holds; True if it was still running then."""
    wait_until(lambda: proc.poll() is not None or cond(), timeout, step=0.005)
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return running


def manifest_count(db_path: str | None = None) -> int:
    """Records committed to the state database's manifest (all pairs)."""
    path = db_path or default_db_path()
    if not os.path.exists(path):
        return 0
    conn = sqlite3.connect(path, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM manifest").fetchone()[0]
    except sqlite3.OperationalError:  # being created: no table yet
        return 0
    finally:
        conn.close()


def run_main(capsys: Any, *args: str) -> tuple[int, str, str]:
    """``synctui ARGS`` in this process (cheaper than a subprocess): (exit code, stdout, stderr).

    Undoes what ``main`` sets up for a real process: its log handler and signal handlers."""
    import logging

    from synctui.cli import main

    logger = logging.getLogger("synctui")
    handlers = list(logger.handlers)
    signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    capsys.readouterr()
    try:
        code = main(list(args))
    finally:
        for h in logger.handlers[:]:
            if h not in handlers:
                logger.removeHandler(h)
                h.close()
        for s, h in signals.items():
            signal.signal(s, h)
    out, err = capsys.readouterr()
    return code, out, err
