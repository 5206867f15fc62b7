"""End to end in a real terminal: ``synctui --source --target`` under tmux at 80x24.

Keys go in with ``send-keys``, the screen comes back with ``capture-pane``
(polled, with a deadline), and the result is checked on disk.  A private tmux
server (``-S socket``) keeps the user's sessions out of it.  Skipped when tmux
is missing; CI installs it (scripts/test.sh).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (CI installs it)")

REPO = Path(__file__).resolve().parents[2]


class Terminal:
    """One detached tmux session running a command."""

    def __init__(self, workdir: Path, command: str, size: tuple[int, int] = (80, 24)) -> None:
        self.socket = str(workdir / "tmux.sock")
        self.session = "synctui-e2e"
        self.pidfile = workdir / "app.pid"
        env = {"PYTHONPATH": str(REPO), "SYNCTUI_STATE_DIR": os.environ.get("SYNCTUI_STATE_DIR", "")}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if v)
        script = (f"cd {shlex.quote(str(workdir))} && echo $$ > {shlex.quote(str(self.pidfile))} && "
                  f"exec env {exports} {command}")
        self.tmux("new-session", "-d", "-s", self.session, "-x", str(size[0]), "-y", str(size[1]),
                  f"sh -c {shlex.quote(script)}")
        self.tmux("set-option", "-t", self.session, "remain-on-exit", "on")

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True,
                             timeout=10, check=False)
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.session, key)
            time.sleep(0.1)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen was:\n{screen}")

    @property
    def pid(self) -> int:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.pidfile.exists() and self.pidfile.read_text().strip():
                return int(self.pidfile.read_text())
            time.sleep(0.1)
        raise AssertionError("the app never started")

    def wait_exit(self, timeout: float = 40.0) -> bool:
        pid = self.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.tmux("kill-server")


def _alive(pid: int) -> bool:
    """Running, and not a zombie its parent (the tmux server) has yet to reap."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def app_command(demo) -> str:
    return (f"{shlex.quote(sys.executable)} -m synctui --source {shlex.quote(demo.source_config)} "
            f"--target {shlex.quote(demo.target_config)}")


@pytest.mark.slow
def test_preview_then_sync_in_a_real_terminal(demo, tmp_path: Path) -> None:
    term = Terminal(tmp_path, app_command(demo))
    try:
        term.wait_for("to move")  # the first plan is in the bottom bar
        term.keys("p")
        screen = term.wait_for("Dry run")
        assert "create" in screen and "page 1/1" in screen
        term.keys("s")
        term.wait_for("Sync (y)")
        term.keys("y")
        screen = term.wait_for("target   finished", timeout=60)  # the title says the sync ended
        assert "OK" in screen and "failures: 0" in screen
        term.keys("b")  # back to browse (the sync started from the preview), re-planned
        term.wait_for("nothing to do")
        term.keys("q")
        assert term.wait_exit(), f"the app did not exit on q; the screen was:\n{term.screen()}"
    finally:
        term.close()
    target = Path(demo.target_overlay)
    assert (target / "ExperimentRuns/TS_001/Filaments/alice_1_microtubule.json").is_file()
    assert (target / "ExperimentRuns/TS_003/Picks/alice_1_ribosome.json").is_file()
    assert (target / "ExperimentRuns/TS_001/Picks/bot_0_ribosome.json").is_file()  # no rules file
    names = [o["name"] for o in json.loads(Path(demo.target_config).read_text())["pickable_objects"]]
    assert "proteasome" in names
    assert "lab_notes" in json.loads(Path(demo.target_config).read_text())  # unknown keys kept


@pytest.mark.slow
def test_exits_when_the_terminal_goes_away(demo, tmp_path: Path) -> None:
    term = Terminal(tmp_path, app_command(demo))
    try:
        term.wait_for("to move")
        pid = term.pid
        term.tmux("kill-session", "-t", term.session)  # the pty closes: SIGHUP
        assert term.wait_exit(), f"pid {pid} still running after its terminal went away"
    finally:
        term.close()


@pytest.mark.slow
def test_bad_config_prints_one_line_and_no_screen(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    proc = subprocess.run([sys.executable, "-m", "synctui", "--source", str(bad), "--target", str(bad)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2
    assert "malformed JSON" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "\x1b[?1049h" not in proc.stdout + proc.stderr  # never entered the alternate screen
