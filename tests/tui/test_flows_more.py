"""History, conflict choices, breaking a stale lock and watch mode, through Pilot at 80x24."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Static
from tui_helpers import make_app, settle, text_of

from synctui.sync.plan import Act
from synctui.tui.app import SyncTuiApp
from synctui.tui.commands import screen_commands
from synctui.tui.screens.browse import BrowseScreen
from synctui.tui.screens.confirm import ConfirmScreen
from synctui.tui.screens.conflict import ConflictScreen
from synctui.tui.screens.error import ErrorScreen
from synctui.tui.screens.help import binding_sections
from synctui.tui.screens.history import HistoryScreen
from synctui.tui.screens.preview import PreviewScreen
from synctui.tui.screens.run import RunScreen

pytestmark = pytest.mark.anyio

SIZE = (80, 24)
CONFLICT = "ExperimentRuns/TS_002/Picks/alice_1_ribosome.json"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "state"
    monkeypatch.setenv("SYNCTUI_STATE_DIR", str(where))
    return where


async def wait_for(pilot, predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


async def open_conflict(pilot) -> PreviewScreen:
    await settle(pilot)
    await pilot.press("p")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, PreviewScreen)
    row = next(i for i, r in enumerate(screen.rows)
               if r.level == 1 and r.entity is not None and r.entity.target_path == CONFLICT)
    screen.query_one(DataTable).move_cursor(row=row)
    await pilot.pause()
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ConflictScreen)
    return screen


async def sync_from_preview(pilot) -> None:
    await pilot.press("s")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ConfirmScreen)
    await pilot.press("y")
    await settle(pilot)
    assert isinstance(pilot.app.screen, RunScreen)


# -- bindings, palette, help ------------------------------------------------------------------


def test_new_actions_have_bindings_palette_and_help() -> None:
    ids = {b.id: b for _, bindings in binding_sections(SyncTuiApp) for b in bindings if b.id}
    for bid in ("browse.history", "run.history", "run.watch", "preview.conflict", "history.back",
                "conflict.take_source", "conflict.keep_both", "conflict.keep_target"):
        assert bid in ids and ids[bid].tooltip, bid


async def test_palette_offers_history_and_watch(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        actions = {b.action for _, b in screen_commands(app.screen, app)}
        assert "history" in actions
        await pilot.press("s", "y")
        await settle(pilot)
        actions = {b.action for _, b in screen_commands(app.screen, app)}
        assert {"watch", "history"} <= actions


# -- history ---------------------------------------------------------------------------------


async def test_history_lists_the_syncs_of_this_pair(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert app.screen.query_one(DataTable).row_count == 0
        assert "no syncs" in text_of(app.screen.query_one("#history-status", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)
        await pilot.press("s", "y")
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        cells = [c.plain for c in table.get_row_at(0)]
        assert cells[1] == "ok" and cells[2] == "12" and cells[3] == "2"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)


# -- conflicts -------------------------------------------------------------------------------


async def test_take_source_overwrites_the_target(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        preview = await open_conflict(pilot)
        plan = app.session.plan
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)
        ep = next(e for e in app.session.plan.entities if e.target_path == CONFLICT)
        assert app.session.plan is plan and ep.action is Act.UPDATE and "(your choice)" in ep.reason
        row = preview.current_row()
        assert row is not None and row.entity is ep and row.status == "update"
        await sync_from_preview(pilot)
        assert app.session.summary is not None and app.session.summary.status == "ok"
        src = Path(demo.source_overlay, CONFLICT).read_bytes()
        assert Path(demo.target_overlay, CONFLICT).read_bytes() == src


async def test_keep_both_leaves_the_old_target_beside_it(demo) -> None:
    old = Path(demo.target_overlay, CONFLICT).read_bytes()
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await open_conflict(pilot)
        await pilot.press("o")
        await pilot.pause()
        ep = next(e for e in app.session.plan.entities if e.target_path == CONFLICT)
        assert ep.keep_both and ep.action is Act.UPDATE
        await sync_from_preview(pilot)
        assert app.session.summary is not None and app.session.summary.status == "ok"
        target = Path(demo.target_overlay, CONFLICT)
        assert target.read_bytes() == Path(demo.source_overlay, CONFLICT).read_bytes()
        assert Path(f"{target}.conflict").read_bytes() == old


async def test_keep_target_survives_a_replan(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await open_conflict(pilot)
        await pilot.press("k")
        await pilot.pause()
        app.session.replan(rescan=True)
        await settle(pilot)
        ep = next(e for e in app.session.plan.entities if e.target_path == CONFLICT)
        assert ep.action is Act.EXISTS and "(your choice)" in ep.reason


async def test_keep_both_is_refused_for_zarr(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ep = next(e for e in app.session.plan.entities if e.target_path == CONFLICT)
        ep.action = Act.CONFLICT
        zarr = next(e for e in app.session.plan.entities if e.kind.is_zarr)
        zarr.action, zarr.reason = Act.CONFLICT, "both changed"
        app.push_screen(ConflictScreen(zarr))
        await pilot.pause()
        assert app.screen.query_one("#keep-both", Button).disabled
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ConflictScreen)  # refused, still asking
        await pilot.press("escape")
        await pilot.pause()
        assert not app.session.resolve(zarr, "keep-both")
        assert zarr.action is Act.CONFLICT


async def test_conflict_key_on_a_plain_row_only_says_so(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)


# -- locks -----------------------------------------------------------------------------------


def fake_lock(overlay: str, *, heartbeat: float, host: str = "elsewhere", pid: int = 1) -> Path:
    path = Path(overlay, ".synctui-lock", "write.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"owner": "ghost@elsewhere", "host": host, "pid": pid, "version": "0.0",
                                "sync_id": "ghost", "mode": "write", "started": heartbeat - 10,
                                "heartbeat": heartbeat, "ttl": 60}))
    return path


async def test_a_stale_lock_is_offered_for_breaking(demo) -> None:
    lock = fake_lock(demo.target_overlay, heartbeat=time.time() - 3600)
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await settle(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.question
        assert "Break the stale lock held by ghost@elsewhere (pid 1)?" in str(question)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: app.session.summary is not None and not app.session.sync_running)
        assert app.session.summary is not None and app.session.summary.status == "ok"
        assert app.session.job.job_options.break_lock is False
        assert not lock.exists()
        assert isinstance(app.screen, RunScreen)


async def test_a_live_lock_is_never_offered(demo) -> None:
    fake_lock(demo.target_overlay, heartbeat=time.time() + 3600, host="elsewhere")
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await settle(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
        assert "held by ghost@elsewhere" in str(app.screen.message)
        assert app.session.summary is None


# -- watch -----------------------------------------------------------------------------------


async def test_watch_syncs_what_changes_in_the_source(demo) -> None:
    app = make_app(demo, watch_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert text_of(screen.query_one("#run-watch", Static)).startswith("watch: off")
        await pilot.press("w")
        await pilot.pause()
        assert app.session.watching
        assert text_of(screen.query_one("#run-watch", Static)).startswith("watch: on")
        # the demo keeps a conflict, so an idle check says so rather than "up to date"
        await wait_for(pilot, lambda: "nothing to write (conflicts held back)" in app.session.watch.last)
        path = Path(demo.source_overlay, "ExperimentRuns/TS_001/Picks/bob_1_ribosome.json")
        data = json.loads(path.read_text())
        data["watch_test"] = True
        path.write_text(json.dumps(data))
        future = time.time() + 5
        os.utime(path, (future, future))
        target = Path(demo.target_overlay, "ExperimentRuns/TS_001/Picks/bob_1_ribosome.json")
        await wait_for(pilot, lambda: target.exists() and b"watch_test" in target.read_bytes())
        await wait_for(pilot, lambda: not app.session.sync_running)
        await pilot.press("w")
        await pilot.pause()
        assert not app.session.watching and not app.session.watch_scheduled
        assert text_of(screen.query_one("#run-watch", Static)).startswith("watch: off")
        await settle(pilot)


# -- the session -----------------------------------------------------------------------------


async def test_screens_hear_the_session_by_typed_messages(demo) -> None:
    """A rule change reaches every screen in the stack as a PlanChanged, then the new plan."""
    from synctui.tui.messages import PlanChanged

    seen: list[bool] = []

    def hook(message) -> None:
        if isinstance(message, PlanChanged):
            seen.append(message.ready)

    app = make_app(demo)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        seen.clear()
        rules = app.session.rules.copy()
        rules.overwrite = "always"
        assert app.session.apply_rules(rules, "overwrite: always")
        await settle(pilot)
        assert app.session.job.rules.overwrite == "always"  # adopted once it planned
    # the app, the browse screen and the preview on top each got "planning", then "ready"
    assert seen.count(False) == 3 and seen.count(True) == 3


async def test_the_header_tooltip_says_what_a_server_can_do(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = app.screen.query_one("#header-target", Static)
        assert header.tooltip is None  # a local root: nothing to say
        app.session.sides["target"].server = "wsgidav · DAV 1,2 · etags"
        app.screen.refresh_header()
        assert header.tooltip == "server: wsgidav · DAV 1,2 · etags"
