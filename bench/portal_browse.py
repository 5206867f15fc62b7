"""How the app feels on a portal dataset of many runs: key latency while browsing.

Starts the loopback portal (tests/integration/portal_server.py, in its own process so its
servers do not share the app's interpreter) with ``--runs`` extra runs in one dataset (one small tomogram and one points file each), opens the app in-process
(Textual's Pilot, 120x40) on a portal config of that dataset against an empty target, and:

1. presses ``down`` every ``--interval`` s while the portal is still being read (the scan
   runs in a worker thread), then
2. after the plan is shown, walks the tree: ``down`` x N with an ``enter`` every 10th key
   (expanding runs).

3. as a control, pulls the dataset into a filesystem project and walks the same tree with
   that project as the source (no portal at all): the difference is what the portal costs.

Each key's latency is the time from sending it until the app has handled it and repainted
(``pilot.press`` + ``pilot.pause``): an in-process measure, without a terminal's own cost.
Reports median, p90 and max for both phases.

    python bench/portal_browse.py [--runs 500] [--keys 200] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration"), str(ROOT / "tests" / "tui")]


def summary(name: str, ms: list[float]) -> str:
    if not ms:
        return f"{name}: no keys"
    ms = sorted(ms)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"{name}: {len(ms)} keys, median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, max {ms[-1]:.0f} ms"


async def drive(src: str, dst: str, keys: int, interval: float) -> tuple[list[float], list[float], float]:
    from tui_helpers import settle

    from synctui.tui.app import SyncTuiApp

    app = SyncTuiApp(src, dst)
    during: list[float] = []
    after: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.perf_counter()
        while any(w.name == "plan" and not w.is_finished for w in app.workers) or \
                time.perf_counter() - started < 0.5:
            t = time.perf_counter()
            await pilot.press("down")
            await pilot.pause()
            during.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(interval)
            if time.perf_counter() - started > 600:
                break
        scanned = time.perf_counter() - started
        await settle(pilot)
        for i in range(keys):
            t = time.perf_counter()
            await pilot.press("enter" if i % 10 == 9 else "down")
            await pilot.pause()
            after.append((time.perf_counter() - t) * 1000)
    return during, after, scanned


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    import subprocess

    import portal_server

    t = time.perf_counter()
    server = subprocess.Popen([sys.executable, portal_server.__file__, str(args.runs)], stdout=subprocess.PIPE,
                              text=True)
    info = json.loads(server.stdout.readline())
    print(f"loopback portal with {args.runs} bulk runs up in {time.perf_counter() - t:.1f} s")
    portal = portal_server.LoopbackPortal.__new__(portal_server.LoopbackPortal)  # for config() only
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(info["env"], SYNCTUI_STATE_DIR=f"{tmp}/state")
            Path(tmp, "overlay").mkdir()
            Path(tmp, "target").mkdir()
            src, dst = Path(tmp, "portal.json"), Path(tmp, "mine.json")
            src.write_text(json.dumps(portal.config(f"{tmp}/overlay", dataset_ids=[10442])))
            dst.write_text(json.dumps({"overlay_root": f"{tmp}/target", "pickable_objects": []}))
            during, after, scanned = asyncio.run(drive(str(src), str(dst), args.keys, args.interval))
            print(f"portal read and planned in {scanned:.1f} s (in a worker thread)")
            print(summary("keys while the portal is read", during))
            print(summary("keys browsing the planned tree", after))
            from synctui.cli import main as cli

            assert cli(["sync", "--no-progress", "--no-fsync", "--source", str(src), "--target", str(dst)]) == 0
            Path(tmp, "empty").mkdir()
            empty = Path(tmp, "empty.json")
            empty.write_text(json.dumps({"overlay_root": f"{tmp}/empty", "pickable_objects": []}))
            _, control, scanned = asyncio.run(drive(str(dst), str(empty), args.keys, args.interval))
            print(f"control: the pulled filesystem project scanned and planned in {scanned:.1f} s")
            print(summary("control: keys browsing the same tree, no portal", control))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
