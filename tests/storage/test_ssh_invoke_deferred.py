"""paramiko imports invoke (for ``Match exec`` in ~/.ssh/config) at start-up; synctui
defers it until used: 60 ms off every SSH command, and ``Match exec`` still works."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("invoke")


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_ssh_store_starts_without_loading_invoke() -> None:
    out = _run("import sys, synctui.storage.sftp, paramiko\n"
               "print(sorted(m for m in sys.modules if m.startswith('invoke.')))")
    assert out == "[]"


def test_match_exec_in_ssh_config_still_runs_its_command(tmp_path) -> None:
    config = tmp_path / "config"
    config.write_text('Match exec "true"\n  User matched\nHost *\n  Port 2222\n')
    out = _run("import synctui.storage.ssh_connect, paramiko\n"
               f"cfg = paramiko.SSHConfig.from_path({str(config)!r})\n"
               "print(cfg.lookup('somehost').get('user'))")
    assert out == "matched"
