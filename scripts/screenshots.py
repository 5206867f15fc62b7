#!/usr/bin/env python
"""Write an SVG of every screen of the app, on the demo projects, into screenshots/.

    python scripts/screenshots.py [--out screenshots] [--only NAME ...]

Each shot starts from a fresh copy of the demo (``synctui demo``), drives the
app headless with Pilot, waits for its workers and saves the screen.  Roots are
shown relative to a temporary working folder, durations and sync ids are fixed,
so re-running gives the same files.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import DataTable, Input  # noqa: E402

from synctui.project.demo import demo_paths, write_demo  # noqa: E402
from synctui.tui.app import SyncTuiApp  # noqa: E402

BOB = "ent:ExperimentRuns/TS_001/Picks/bob_1_ribosome.json"
Steps = Callable[[Pilot], Awaitable[None]]


async def settle(pilot: Pilot) -> None:
    for _ in range(5):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def start(pilot: Pilot) -> None:
    await settle(pilot)


async def entity(pilot: Pilot) -> None:
    await settle(pilot)
    tree = pilot.app.screen.query_one("#source-tree")
    tree.focus()
    tree.focus_key(BOB)  # type: ignore[attr-defined]
    await settle(pilot)


def keys(*pressed: str, after: Steps = start) -> Steps:
    async def steps(pilot: Pilot) -> None:
        await after(pilot)
        await pilot.press(*pressed)
        await settle(pilot)

    return steps


async def map_bad_name(pilot: Pilot) -> None:
    await entity(pilot)
    await pilot.press("m")
    await pilot.pause()
    pilot.app.screen.query_one("#map-dest", Input).value = "ribo_some"
    await pilot.pause()


async def preview(pilot: Pilot) -> None:
    await keys("p")(pilot)
    pilot.app.screen.query_one(DataTable).move_cursor(row=7)
    await pilot.pause()


async def compare(pilot: Pilot) -> None:
    await keys("p")(pilot)
    screen = pilot.app.screen
    row = next(i for i, r in enumerate(screen.rows)  # type: ignore[attr-defined]
               if r.entity and r.entity.source_path == BOB[4:])
    screen.query_one(DataTable).move_cursor(row=row)
    await pilot.press("enter")
    await settle(pilot)


async def synced(pilot: Pilot) -> None:
    await keys("s", "y")(pilot)
    app = pilot.app
    app.session.summary = dataclasses.replace(app.session.summary, duration=0.5,  # type: ignore[attr-defined]
                                              trash=".synctui-trash/20260101T000000-abcdef")
    app.screen.show_summary(app.session.summary)  # type: ignore[attr-defined]
    await pilot.pause()


async def after_sync(pilot: Pilot) -> None:
    await synced(pilot)
    await pilot.press("b")
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


async def error(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.show_error("Sync failed", "target ./demo/target/overlay is locked: write lock "  # type: ignore[attr-defined]
                         "held by alice@elsewhere (pid 4242, sync other) for 5m00s")
    await pilot.pause()


async def history(pilot: Pilot) -> None:
    await synced(pilot)
    await pilot.press("b")
    await settle(pilot)
    pilot.app.clear_notifications()
    fix_history_times()
    await pilot.press("h")
    await settle(pilot)


def fix_history_times() -> None:
    """The history shows when syncs ran and how long they took: give them a fixed past
    (2026-01-01 00:00 UTC, 2 s each), so the shot is the same whenever it is taken."""
    from synctui.sync.state import StateDB

    db = StateDB()
    try:
        with db._conn:
            db._conn.execute("UPDATE history SET started=1767225600.0, ended=1767225602.0")
    finally:
        db.close()


async def conflict(pilot: Pilot) -> None:
    await keys("p")(pilot)
    screen = pilot.app.screen
    row = next(i for i, r in enumerate(screen.rows)  # type: ignore[attr-defined]
               if r.level == 1 and r.entity and r.entity.action.value == "conflict")
    screen.query_one(DataTable).move_cursor(row=row)
    await pilot.press("c")
    await settle(pilot)


async def break_lock(pilot: Pilot) -> None:
    await settle(pilot)
    from synctui.errors import LockHeldError

    detail = ("target ./demo/target/overlay: write lock held by ghost@elsewhere (pid 1, sync ghost) "
              "for 1h00m, stale: no heartbeat for 3600 s (TTL 60 s)")
    pilot.app.offer_break_lock(LockHeldError(  # type: ignore[attr-defined]
        detail + " — use --break-lock to break it", owner="ghost@elsewhere", pid=1, age=3600.0,
        stale=True, stale_reason="no heartbeat for 3600 s (TTL 60 s)", detail=detail))
    await pilot.pause()


async def watching(pilot: Pilot) -> None:
    await synced(pilot)
    await pilot.press("w")
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


async def palette(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("ctrl+p")
    await pilot.pause(0.3)


#: name -> (terminal size, steps)
SHOTS: dict[str, tuple[tuple[int, int], Steps]] = {
    "browse": ((80, 24), start),
    "browse-entity": ((80, 24), entity),
    "browse-120x36": ((120, 36), entity),
    "browse-200x60": ((200, 60), entity),
    "exclude-scope": ((80, 24), keys("X", after=entity)),
    "map-name": ((80, 24), map_bad_name),
    "preview": ((80, 24), preview),
    "preview-200x60": ((200, 60), preview),
    "preview-filtered": ((80, 24), keys("p", "a", "slash", *"picks", "enter")),
    "compare": ((80, 24), compare),
    "rules": ((80, 24), keys("r")),
    "rules-filter": ((80, 24), keys("r", "e")),
    "confirm-sync": ((80, 24), keys("s")),
    "run-finished": ((80, 24), synced),
    "browse-after-sync": ((80, 24), after_sync),
    "help": ((80, 24), keys("question_mark")),
    "error": ((80, 24), error),
    "palette": ((80, 24), palette),
    "history": ((80, 24), history),
    "conflict": ((80, 24), conflict),
    "break-lock": ((80, 24), break_lock),
    "run-watch": ((80, 24), watching),
}


def fresh_demo(template: Path, where: Path):
    """A copy of the demo (mtimes kept) with its configs pointing at the copy."""
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(template, where)
    for name in ("source.json", "target.json"):
        path = where / name
        data = json.loads(path.read_text())
        for key in ("overlay_root", "static_root"):
            if key in data:
                data[key] = data[key].replace(str(template), str(where))
        path.write_text(json.dumps(data, indent=4))
    return demo_paths(str(where))


async def shoot(name: str, size: tuple[int, int], steps: Steps, template: Path, work: Path,
                out: Path) -> Path:
    paths = fresh_demo(template, work / "demo")
    app = SyncTuiApp(paths.source_config, paths.target_config, paths.rules_file,
                     honour_no_color=False)
    async with app.run_test(size=size) as pilot:
        await steps(pilot)
        await pilot.pause()
        return Path(app.save_screenshot(f"{name}.svg", str(out)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="folder for the SVGs")
    parser.add_argument("--only", nargs="*", help="shot names (default: all)", choices=list(SHOTS))
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)  # save_screenshot does not create it
    os.environ.pop("NO_COLOR", None)
    with tempfile.TemporaryDirectory(prefix="synctui-shots-") as tmp:
        work = Path(tmp)
        state = work / "state"
        state.mkdir()
        os.environ["SYNCTUI_STATE_DIR"] = str(state)  # never touch the user's state database
        os.environ["TZ"] = "UTC"  # times shown are the fixed ones, in one zone
        time.tzset()
        template = work / "template"
        write_demo(str(template))
        previous = os.getcwd()
        os.chdir(work)  # headers show ./demo/...
        try:
            for name in args.only or SHOTS:
                size, steps = SHOTS[name]
                if state.exists():
                    shutil.rmtree(state)
                state.mkdir()
                path = asyncio.run(shoot(name, size, steps, template, work, out))
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            os.chdir(previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
