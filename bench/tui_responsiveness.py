"""Measure how the synctui app feels in a real terminal while a big sync runs.

In one run, in real pseudo-terminals of 80x24 (``os.openpty`` + ``subprocess``):

1. first paint: from launching ``python -m synctui --source S --target T`` on the
   demo projects (``synctui demo --no-tui``) until the first visible text, and until
   the browse screen's footer ("Preview") is drawn; median of ``--paint-runs``;
2. during a sync of ``--files`` small files (4-16 KiB zarr chunks in a copick
   layout) into an empty target: the app is driven with the keys a user types
   (``s``, then ``y`` in the confirm dialog).  For the first ``--quiet`` seconds no
   key is sent (the pure progress-redraw output rate); then ``?`` is pressed every
   ``--interval`` s, toggling the help screen open/closed, and the time until the
   change shows in the pty output is measured ("synctui keys" for open, the run
   screen's footer "Cancel sync" for close).  A reader thread counts every byte the
   app writes to the terminal, in 1 s windows.

3. on a project of ``--big`` files (100,000 by default, 256-1024 B each) into an
   empty target: the first paint (browse screen drawn), then ``?`` toggles every
   ``--interval`` s through four phases, each key's latency recorded with its phase:
   the first scan (until the plan shows in the plan bar), a rescan (``R``, until the
   new plan shows), the sync (``s``, ``y``) and its end (from 1 s before the summary
   showed until ``--after-end`` s after).

Targets (from the issues): key latency median < 100 ms, terminal output < 30 KB/s
during the sync, first paint < 1.5 s; on the big project no key waits > 200 ms in
any phase and the browse screen is drawn < 1.5 s after launch.

    python bench/tui_responsiveness.py [--files N] [--paint-runs N] [--interval S]
                                       [--quiet S] [--max-sync S] [--keep]
                                       [--big N] [--after-end S] [--only-big]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_local import CHUNKS_PER_STORE, write_config  # noqa: E402

ROWS, COLS = 24, 80
ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP.*?\x1b\\|\x1b[()][0-9A-Za-z]|\x1b[@-_=>]",
                  re.S)

TARGET_KEY_MS = 100.0
TARGET_KBPS = 30.0
TARGET_PAINT_S = 1.5
#: the 100k-file cases: no key may wait longer than this
TARGET_WAIT_MS = 200.0


def visible(data: bytes) -> str:
    return ANSI.sub(b"", data).decode("utf-8", "replace")


# -- data -------------------------------------------------------------------------------------

def generate_small(root: Path, n_files: int, seed: int = 1, sizes: tuple[int, int] = (4 << 10, 16 << 10)
                   ) -> tuple[int, int]:
    """A copick overlay of zarr chunks of ``sizes`` bytes, 4-16 KiB by default (same layout as
    bench/sync_local.py: one tomogram of 512 chunks per run)."""
    rng = random.Random(seed)
    pool = memoryview(os.urandom(16 << 20))
    made = size = 0

    def put(rel: str, data: bytes | memoryview) -> None:
        nonlocal made, size
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        made += 1
        size += len(data)

    run = 0
    while made < n_files:
        run_dir = f"ExperimentRuns/TS_{run:04d}"
        store = f"{run_dir}/VoxelSpacing10.000/wbp.zarr"
        put(f"{store}/.zgroup", b'{"zarr_format": 2}')
        put(f"{store}/0/.zarray", b'{"zarr_format": 2, "chunks": [64, 64, 64], "dimension_separator": "/"}')
        for i in range(min(CHUNKS_PER_STORE, max(0, n_files - made))):
            n = rng.randint(*sizes)
            off = rng.randrange(0, len(pool) - n)
            put(f"{store}/0/{i // 64}/{(i // 8) % 8}/{i % 8}", pool[off:off + n])
        run += 1
    return made, size


# -- a program in a pty -----------------------------------------------------------------------

class PtyApp:
    """Runs a command in an 80x24 pty; a thread records every chunk it writes."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: str) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.master = master
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True, close_fds=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            now = time.perf_counter()
            with self.cond:
                if not data:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.chunks.append((now, data))
                self.cond.notify_all()

    def mark(self) -> int:
        with self.lock:
            return len(self.chunks)

    def send(self, keys: str) -> float:
        t = time.perf_counter()
        os.write(self.master, keys.encode())
        return t

    def wait_for(self, marker: str, start: int, timeout: float) -> tuple[float, int] | None:
        """Time of the chunk (at index >= start) in which ``marker`` first becomes visible."""
        deadline = time.perf_counter() + timeout
        buf = b""
        i = start
        with self.cond:
            while True:
                while i < len(self.chunks):
                    t, data = self.chunks[i]
                    buf += data
                    i += 1
                    if marker in visible(buf[-200_000:]):
                        return t, i
                left = deadline - time.perf_counter()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.05))

    def wait_for_any(self, markers: tuple[str, ...], start: int, timeout: float
                     ) -> tuple[float, int, str] | None:
        """As ``wait_for``, for the first of several markers; also says which one showed."""
        deadline = time.perf_counter() + timeout
        buf = b""
        i = start
        with self.cond:
            while True:
                while i < len(self.chunks):
                    t, data = self.chunks[i]
                    buf += data
                    i += 1
                    text = visible(buf[-200_000:])
                    for marker in markers:
                        if marker in text:
                            return t, i, marker
                left = deadline - time.perf_counter()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.05))

    def first_text(self, timeout: float) -> float | None:
        """Time of the first chunk that puts printable text on the screen."""
        deadline = time.perf_counter() + timeout
        buf = b""
        i = 0
        with self.cond:
            while True:
                while i < len(self.chunks):
                    t, data = self.chunks[i]
                    buf += data
                    i += 1
                    if visible(buf).strip():
                        return t
                left = deadline - time.perf_counter()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.05))

    def stop(self, timeout: float = 20.0) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.thread.join(timeout=2)
        try:
            os.close(self.master)
        except OSError:
            pass


def app_env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS),
               SYNCTUI_STATE_DIR=str(state_dir))
    for var in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL", "TEXTUAL_DEVTOOLS"):
        env.pop(var, None)
    return env


def app_cmd(src: Path, dst: Path) -> list[str]:
    return [sys.executable, "-m", "synctui", "--source", str(src), "--target", str(dst)]


# -- measurements -----------------------------------------------------------------------------

def first_paint(work: Path, runs: int, cwd: str) -> tuple[list[float], list[float]]:
    demo = work / "demo"
    res = subprocess.run([sys.executable, "-m", "synctui", "demo", "--no-tui", str(demo)],
                         capture_output=True, text=True, cwd=cwd)
    if res.returncode != 0:
        sys.exit(f"demo failed: {res.stdout}{res.stderr}")
    src = Path(re.search(r"source config: (.*)", res.stdout).group(1).strip())
    dst = Path(re.search(r"target config: (.*)", res.stdout).group(1).strip())
    texts, browse = [], []
    for i in range(runs):
        app = PtyApp(app_cmd(src, dst), app_env(work / f"paint-state-{i}"), cwd)
        t_text = app.first_text(timeout=20)
        hit = app.wait_for("Preview", 0, timeout=20)
        if t_text is not None:
            texts.append(t_text - app.t0)
        if hit is not None:
            browse.append(hit[0] - app.t0)
        time.sleep(0.3)
        app.send("q")
        app.stop()
    return texts, browse


def sync_run(work: Path, args: argparse.Namespace, cwd: str) -> dict:
    src_root, dst_root = work / "src", work / "dst"
    t = time.perf_counter()
    made, size = generate_small(src_root, args.files)
    gen_s = time.perf_counter() - t
    dst_root.mkdir()
    write_config(work / "source.json", src_root, "bench source")
    write_config(work / "target.json", dst_root, "bench target")
    print(f"generated {made} files, {size / (1 << 20):.1f} MiB in {gen_s:.1f} s", flush=True)

    app = PtyApp(app_cmd(work / "source.json", work / "target.json"), app_env(work / "sync-state"), cwd)
    out: dict = {"files": made, "bytes": size}
    try:
        if app.wait_for("Preview", 0, timeout=30) is None:
            raise RuntimeError("the browse screen never appeared")
        # `s` says "The plan is not ready yet." until planning is done: retry until the dialog opens
        t_plan0 = time.perf_counter()
        while True:
            m = app.mark()
            app.send("s")
            if app.wait_for("Sync (y)", m, timeout=1.0) is not None:
                break
            if time.perf_counter() - t_plan0 > 60:
                raise RuntimeError("the confirm dialog never opened (plan not ready after 60 s)")
        out["plan_ready_s"] = time.perf_counter() - app.t0
        time.sleep(0.2)
        m_sync = app.mark()
        t_sync0 = app.send("y")
        if app.wait_for("Cancel sync", m_sync, timeout=10) is None:
            raise RuntimeError("the run screen never appeared")
        deadline = t_sync0 + args.max_sync
        end_marker = "written, "  # the summary: "... · files N written, M moved to trash ..."
        # phase 1: no keys, only the progress redraws
        ended = app.wait_for(end_marker, m_sync, timeout=args.quiet)
        t_quiet_end = time.perf_counter()
        opens, closes, missed = [], [], 0
        t_end = ended[0] if ended else None
        help_open = False
        while t_end is None and time.perf_counter() < deadline:
            m = app.mark()
            t_press = app.send("?")
            hit = app.wait_for("Cancel sync" if help_open else "synctui keys", m, timeout=3.0)
            if hit is None:
                missed += 1
            else:
                (closes if help_open else opens).append((hit[0] - t_press) * 1000)
            help_open = not help_open
            nxt = t_press + args.interval
            # watch for the end while waiting for the next press
            ended = app.wait_for(end_marker, m, timeout=max(0.0, nxt - time.perf_counter()))
            if ended is not None:
                t_end = ended[0]
        if help_open:
            app.send("?")
        if t_end is None:
            ended = app.wait_for(end_marker, m_sync, timeout=max(0.0, deadline - time.perf_counter()))
            t_end = ended[0] if ended else None
        t_stop = t_end if t_end is not None else time.perf_counter()
        out.update(opens=opens, closes=closes, missed=missed, finished=t_end is not None,
                   sync_s=t_stop - t_sync0, quiet=(t_sync0, min(t_quiet_end, t_stop)),
                   keys=(min(t_quiet_end, t_stop), t_stop))
        with app.lock:
            chunks = [(ts, len(d)) for ts, d in app.chunks if t_sync0 <= ts <= t_stop]
        out["chunks"] = chunks
        out["window"] = (t_sync0, t_stop)
    finally:
        # quit: asks first while a sync runs (y = cancel sync and quit)
        try:
            app.send("q")
            time.sleep(0.5)
            if app.proc.poll() is None:
                app.send("y")
        except OSError:
            pass
        app.stop(timeout=25)
    return out


#: what the browse screen shows in its plan bar, once a plan is ready / while planning
PLAN_READY = ("to move", "nothing to do")
PLANNING = ("planning…",)
HELP_OPEN = "synctui keys"


def toggle_help(app: PtyApp, close_markers: tuple[str, ...], help_open: bool
                ) -> tuple[float | None, float, str | None]:
    """Press ``?`` once: (latency in ms or None when nothing showed within 3 s, press time,
    the close marker that showed)."""
    m = app.mark()
    t_press = app.send("?")
    if help_open:
        hit = app.wait_for_any(close_markers, m, timeout=3.0)
        return (None if hit is None else (hit[0] - t_press) * 1000), t_press, hit[2] if hit else None
    hit1 = app.wait_for(HELP_OPEN, m, timeout=3.0)
    return (None if hit1 is None else (hit1[0] - t_press) * 1000), t_press, None


def big_run(work: Path, args: argparse.Namespace, cwd: str) -> dict:
    """The 100k-file cases: first paint and first scan, a rescan, a sync and its end.

    From the first paint on, ``?`` toggles the help screen every ``--interval`` s and each
    toggle's key-to-screen time is recorded with the phase it fell in."""
    src_root, dst_root = work / "big-src", work / "big-dst"
    t = time.perf_counter()
    made, size = generate_small(src_root, args.big, seed=2, sizes=(args.big_min, args.big_max))
    dst_root.mkdir()
    write_config(work / "big-source.json", src_root, "big source")
    write_config(work / "big-target.json", dst_root, "big target")
    print(f"generated {made} files ({size / (1 << 20):.1f} MiB) for the big cases in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    app = PtyApp(app_cmd(work / "big-source.json", work / "big-target.json"), app_env(work / "big-state"), cwd)
    out: dict = {"files": made, "bytes": size, "lat": {}, "missed": {}}

    def record(phase: str, ms: float | None) -> None:
        if ms is None:
            out["missed"][phase] = out["missed"].get(phase, 0) + 1
        else:
            out["lat"].setdefault(phase, []).append(ms)

    def press_until(phase: str, close: tuple[str, ...], done: tuple[str, ...], limit: float
                    ) -> float | None:
        """Toggle help until a close repaint shows one of ``done``; when it first showed."""
        help_open = False
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            ms, t_press, marker = toggle_help(app, close + done, help_open)
            record(phase, ms)
            if help_open and marker in done:
                return t_press + (ms or 0) / 1000
            help_open = not help_open
            time.sleep(max(0.0, t_press + args.interval - time.perf_counter()))
        return None

    try:
        t_text = app.first_text(timeout=30)
        hit = app.wait_for("Preview", 0, timeout=30)
        if hit is None:
            raise RuntimeError("the browse screen never appeared")
        out["first_text_s"] = None if t_text is None else t_text - app.t0
        out["paint_s"] = hit[0] - app.t0
        # 1. the first scan: keys from the first paint until the plan is on screen
        ready = press_until("first scan", PLANNING, PLAN_READY, args.max_sync)
        if ready is None:
            raise RuntimeError("the first plan never showed")
        out["plan_s"] = ready - app.t0
        time.sleep(1.0)
        # 2. a rescan (R), keys until the new plan is on screen
        m = app.mark()
        t_r = app.send("R")
        if app.wait_for(PLANNING[0], m, timeout=10) is None:
            raise RuntimeError("R did not start a rescan")
        ready = press_until("rescan", PLANNING, PLAN_READY, args.max_sync)
        out["rescan_s"] = None if ready is None else ready - t_r
        time.sleep(1.0)
        # 3. the sync, and 4. its end: keys until --after-end s after the summary showed
        while True:
            m = app.mark()
            app.send("s")
            if app.wait_for("Sync (y)", m, timeout=2.0) is not None:
                break
        m_sync = app.mark()
        t_sync0 = app.send("y")
        if app.wait_for("Cancel sync", m_sync, timeout=10) is None:
            raise RuntimeError("the run screen never appeared")
        end_marker = "written, "
        help_open = False
        t_end: float | None = None
        presses: list[tuple[float, float | None]] = []
        deadline = t_sync0 + args.max_sync
        while time.perf_counter() < deadline:
            if t_end is not None and time.perf_counter() > t_end + args.after_end:
                break
            scan_from = app.mark()
            ms, t_press, marker = toggle_help(app, ("Cancel sync", end_marker), help_open)
            presses.append((t_press, ms))
            help_open = not help_open
            if t_end is None:
                # only what this press brought (rescanning all the sync's output is quadratic)
                ended = app.wait_for(end_marker, scan_from, timeout=0.0)
                if ended is not None:
                    t_end = ended[0]
            time.sleep(max(0.0, t_press + args.interval - time.perf_counter()))
        if help_open:
            app.send("?")
        out["sync_s"] = None if t_end is None else t_end - t_sync0
        for t_press, ms in presses:
            near_end = t_end is not None and t_press >= t_end - 1.0
            record("end of sync" if near_end else "sync", ms)
    finally:
        try:
            app.send("q")
            time.sleep(0.5)
            if app.proc.poll() is None:
                app.send("y")
        except OSError:
            pass
        app.stop(timeout=25)
    return out


def report_big(res: dict, args: argparse.Namespace) -> None:
    print()
    print(f"3. a project of {res['files']:,} files ({res['bytes'] / (1 << 20):.1f} MiB) into an empty target, "
          f"'?' every {args.interval} s")
    if res.get("first_text_s") is not None:
        print(f"   first visible text {res['first_text_s']:.2f} s, browse screen drawn {res['paint_s']:.2f} s"
              f"   target < {TARGET_PAINT_S} s: {ok(res['paint_s'] < TARGET_PAINT_S)}")
    if res.get("plan_s") is not None:
        print(f"   trees and plan on screen (first scan done) {res['plan_s']:.2f} s after launch")
    if res.get("rescan_s") is not None:
        print(f"   rescan (R -> new plan on screen) {res['rescan_s']:.2f} s")
    if res.get("sync_s") is not None:
        print(f"   sync (y -> summary on screen) {res['sync_s']:.2f} s")
    for phase in ("first scan", "rescan", "sync", "end of sync"):
        lat = res["lat"].get(phase, [])
        missed = res["missed"].get(phase, 0)
        if not lat and not missed:
            print(f"   {phase:12}: no press")
            continue
        worst_ms = max(lat) if lat else float("inf")
        print(f"   {phase:12}: {len(lat)} presses, median {statistics.median(lat) if lat else float('nan'):.0f} ms,"
              f" max {worst_ms:.0f} ms" + (f", {missed} showed nothing within 3 s" if missed else "")
              + f"   no key > {TARGET_WAIT_MS:.0f} ms: {ok(worst_ms <= TARGET_WAIT_MS and not missed)}")


def rates(chunks: list[tuple[float, int]], t0: float, t1: float) -> tuple[float, float, int]:
    """(average KB/s, max KB/s over full 1 s windows, total bytes) for chunks within [t0, t1]."""
    inside = [(t, n) for t, n in chunks if t0 <= t <= t1]
    total = sum(n for _, n in inside)
    span = max(t1 - t0, 1e-9)
    windows: dict[int, int] = {}
    for t, n in inside:
        windows[int((t - t0) // 1.0)] = windows.get(int((t - t0) // 1.0), 0) + n
    full = int(span // 1.0)
    peak = max((windows.get(i, 0) for i in range(full)), default=total / span)
    if not full:
        peak = total / span
    return total / span / 1000, peak / 1000, total


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def ok(flag: bool) -> str:
    return "MET" if flag else "MISSED"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20000, help="small files to sync (default 20000)")
    ap.add_argument("--paint-runs", type=int, default=3, help="first-paint launches (default 3)")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between key presses (default 0.5)")
    ap.add_argument("--quiet", type=float, default=3.0,
                    help="seconds of sync with no key pressed, to measure progress redraws alone (default 3)")
    ap.add_argument("--max-sync", type=float, default=120.0, help="give up on the sync after S s (default 120)")
    ap.add_argument("--big", type=int, default=100000,
                    help="files of the big-project cases (first scan, rescan, sync, end of sync); 0 skips them")
    ap.add_argument("--big-min", type=int, default=256, help="smallest file of the big project, bytes")
    ap.add_argument("--big-max", type=int, default=1024, help="largest file of the big project, bytes")
    ap.add_argument("--after-end", type=float, default=5.0,
                    help="seconds of key presses after the big sync's summary showed (default 5)")
    ap.add_argument("--only-big", action="store_true", help="run only the big-project cases")
    ap.add_argument("--dir", help="work directory (default: a temp dir, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    cwd = str(Path(__file__).resolve().parent.parent)
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="synctui-tui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    import textual
    print(f"synctui TUI responsiveness bench  (python {sys.version.split()[0]}, textual {textual.__version__}, "
          f"{os.cpu_count()} CPUs, pty {COLS}x{ROWS}, TERM=xterm-256color)")
    print("reproduce: python bench/tui_responsiveness.py " + shlex.join(sys.argv[1:]), flush=True)
    texts: list[float] = []
    browse: list[float] = []
    res: dict = {}
    big: dict = {}
    try:
        if not args.only_big:
            texts, browse = first_paint(work, args.paint_runs, cwd)
            res = sync_run(work, args, cwd)
        if args.big:
            big = big_run(work, args, cwd)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")

    if res:
        report_small(texts, browse, res, args)
    if big:
        report_big(big, args)
    return 0


def report_small(texts: list[float], browse: list[float], res: dict, args: argparse.Namespace) -> None:
    print()
    print(f"1. first paint (demo projects, {args.paint_runs} launches)")
    if texts:
        print(f"   first visible text : median {statistics.median(texts):.2f} s  "
              f"(runs: {', '.join(f'{x:.2f}' for x in texts)})")
    if browse:
        med = statistics.median(browse)
        print(f"   browse screen drawn: median {med:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in browse)})"
              f"   target < {TARGET_PAINT_S} s: {ok(med < TARGET_PAINT_S)}")
    else:
        print("   browse screen never drawn: MISSED")

    print()
    print(f"2. during a sync of {res['files']} files, {res['bytes'] / (1 << 20):.1f} MiB "
          f"(4-16 KiB each; app max_workers 4)")
    print(f"   app start -> plan ready (confirm dialog opened): {res['plan_ready_s']:.2f} s")
    state = "finished" if res["finished"] else f"NOT finished within --max-sync {args.max_sync:.0f} s (cancelled)"
    print(f"   sync duration (y -> summary drawn): {res['sync_s']:.2f} s, {state}")
    lat = res["opens"] + res["closes"]
    if lat:
        med = statistics.median(lat)
        print(f"   key latency ('?' -> change on screen), {len(lat)} presses: median {med:.1f} ms, "
              f"p90 {pct(lat, 0.9):.1f} ms, max {max(lat):.1f} ms   target < {TARGET_KEY_MS:.0f} ms: "
              f"{ok(med < TARGET_KEY_MS)}")
        if res["opens"] and res["closes"]:
            print(f"      help open : median {statistics.median(res['opens']):.1f} ms, p90 {pct(res['opens'], 0.9):.1f} ms"
                  f" ({len(res['opens'])})   < {TARGET_KEY_MS:.0f} ms: {ok(statistics.median(res['opens']) < TARGET_KEY_MS)}")
            print(f"      help close: median {statistics.median(res['closes']):.1f} ms, p90 {pct(res['closes'], 0.9):.1f} ms"
                  f" ({len(res['closes'])})   < {TARGET_KEY_MS:.0f} ms: {ok(statistics.median(res['closes']) < TARGET_KEY_MS)}")
    else:
        print("   key latency: no press measured (the sync ended during the quiet phase; use more --files)")
    if res["missed"]:
        print(f"   presses with no visible change within 3 s: {res['missed']}")
    chunks = res["chunks"]
    w0, w1 = res["window"]
    avg, peak, total = rates(chunks, w0, w1)
    print(f"   terminal output, whole sync : avg {avg:.1f} KB/s, max {peak:.1f} KB/s over 1 s windows, "
          f"{total / 1000:.0f} KB total   < {TARGET_KBPS:.0f} KB/s: {ok(round(peak, 1) < TARGET_KBPS)}")
    q0, q1 = res["quiet"]
    if q1 - q0 > 0.5:
        a, p, _ = rates(chunks, q0, q1)
        print(f"      no keys ({q1 - q0:.1f} s, progress redraws only): avg {a:.1f} KB/s, max {p:.1f} KB/s"
              f"   target < {TARGET_KBPS:.0f} KB/s: {ok(round(p, 1) < TARGET_KBPS)}")
    k0, k1 = res["keys"]
    if k1 - k0 > 0.5:
        a, p, _ = rates(chunks, k0, k1)
        print(f"      with '?' every {args.interval} s ({k1 - k0:.1f} s, full-screen help repaints included): "
              f"avg {a:.1f} KB/s, max {p:.1f} KB/s   < {TARGET_KBPS:.0f} KB/s: {ok(round(p, 1) < TARGET_KBPS)}")
        if q1 - q0 > 0.5 and lat:
            base, _, _ = rates(chunks, q0, q1)
            per = (a - base) * (k1 - k0) / max(1, len(lat) + res["missed"])
            print(f"      => each help open/close repaint adds about {per:.1f} KB on top of the progress redraws")
    print("   (KB = 1000 bytes written by the app to the pty; latency = key written to the pty master ->"
          " first output chunk in which the change is visible)")


if __name__ == "__main__":
    raise SystemExit(main())
