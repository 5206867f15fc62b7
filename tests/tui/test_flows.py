"""Every user flow of the app, driven by keys through Pilot at 80x24.

Tests wait on workers (``settle``), never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Log, OptionList, Select, Static
from tui_helpers import make_app, settle, text_of

from synctui.sync.plan import Act
from synctui.sync.rules import RuleSet
from synctui.tui.screens.browse import BrowseScreen
from synctui.tui.screens.compare import CompareScreen
from synctui.tui.screens.confirm import ConfirmScreen
from synctui.tui.screens.error import ErrorScreen
from synctui.tui.screens.file_prompt import FilePromptScreen
from synctui.tui.screens.filter_edit import FilterEditScreen
from synctui.tui.screens.help import HelpScreen
from synctui.tui.screens.map_name import MapNameScreen
from synctui.tui.screens.preview import PreviewScreen
from synctui.tui.screens.rules import RulesScreen
from synctui.tui.screens.run import RunScreen
from synctui.tui.screens.scope import ScopeScreen
from synctui.tui.widgets.project_tree import ProjectTree

pytestmark = pytest.mark.anyio

SIZE = (80, 24)
BOB = "ent:ExperimentRuns/TS_001/Picks/bob_1_ribosome.json"
FILAMENT = "ExperimentRuns/TS_001/Filaments/alice_1_microtubule.json"


def entity_plan(app, path: str):
    return next(e for e in app.session.plan.entities if e.source_path == path)


async def focus_entity(pilot, key: str, side: str = "source") -> ProjectTree:
    tree = pilot.app.screen.query_one(f"#{side}-tree", ProjectTree)
    tree.focus()
    assert tree.focus_key(key), key
    await settle(pilot)
    return tree


# -- browse -------------------------------------------------------------------------------


async def test_opens_on_demo_with_both_projects(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        header = text_of(app.screen.query_one("#header-source", Static))
        assert "demo-source" in header and "local" in header and "lock free" in header
        assert "demo-target" in text_of(app.screen.query_one("#header-target", Static))
        source = app.screen.query_one("#source-tree", ProjectTree)
        target = app.screen.query_one("#target-tree", ProjectTree)
        assert {"run:TS_001", "run:TS_002", "run:TS_003"} <= set(source._by_key)
        assert "run:TS_003" not in target._by_key
        assert "nothing to do" not in text_of(app.screen.query_one("#plan-bar", Static))
        assert "+ 12 create" in text_of(app.screen.query_one("#plan-bar", Static))


async def test_expand_a_run_and_inspect_an_entity(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.screen.query_one("#source-tree", ProjectTree)
        assert tree.node_for("group:TS_001:picks") is None  # children load on expand
        await pilot.press("down", "enter")
        await settle(pilot)
        picks = tree.node_for("group:TS_001:picks")
        assert picks is not None and str(picks.label).startswith("~ Picks (4)")
        await focus_entity(pilot, BOB)
        plan_line = text_of(app.screen.query_one("#detail-plan", Static))
        assert plan_line.startswith("~ update") and "size differs" in plan_line
        source = text_of(app.screen.query_one("#detail-source", Static))
        target = text_of(app.screen.query_one("#detail-target", Static))
        assert "Points" in source and "8" in source
        assert "Points" in target and "6" in target


async def test_target_only_entity_is_marked_only_here(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = await focus_entity(pilot, "ent:ExperimentRuns/TS_001/Picks/carol_1_ribosome.json", "target")
        assert str(tree.cursor_node.label).startswith("· carol_1_ribosome")
        assert "only in the target" in text_of(app.screen.query_one("#detail-plan", Static))
        await pilot.press("x")  # rules act on source entities: refused with a message
        await settle(pilot)
        assert app.session.rules.exclude.get("paths") is None


async def test_exclude_an_entity_replans_and_include_it_back(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert entity_plan(app, FILAMENT).action is Act.CREATE
        tree = await focus_entity(pilot, f"ent:{FILAMENT}")
        assert str(tree.cursor_node.label).startswith("+ ")
        await pilot.press("x")
        await settle(pilot)
        assert app.session.rules.exclude["paths"] == [FILAMENT]
        assert entity_plan(app, FILAMENT).action is Act.EXCLUDED
        assert str(tree.cursor_node.label).startswith("- ")
        await pilot.press("x")
        await settle(pilot)
        assert "paths" not in app.session.rules.exclude
        assert entity_plan(app, FILAMENT).action is Act.CREATE


async def test_exclude_a_whole_user_through_the_scope_dialog(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_entity(pilot, BOB)
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ScopeScreen)
        labels = [s.label for s in app.screen.scopes]
        assert labels[0].startswith("path ") and "user bob" in labels and "run TS_001" in labels
        options = app.screen.query_one(OptionList)
        for _ in range(labels.index("user bob")):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        assert app.session.rules.exclude["users"] == ["bot", "bob"]
        assert entity_plan(app, BOB[4:]).action is Act.EXCLUDED
        assert options is not None


async def test_include_only_one_run(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_entity(pilot, "run:TS_003")
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ScopeScreen)
        assert [s.label for s in app.screen.scopes] == ["path ExperimentRuns/TS_003", "run TS_003"]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.session.rules.include["runs"] == ["TS_003"]
        writes = {e.run for e in app.session.plan.entities if e.action.writes}
        assert writes == {"TS_003"}


async def test_map_a_run_refuses_invalid_names_inline(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_entity(pilot, "run:TS_003")
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MapNameScreen)
        dest = screen.query_one("#map-dest", Input)
        assert dest.value == "TS_003"
        dest.value = ""
        await pilot.press(*"bad/name")
        await pilot.pause()
        assert "forbidden" in text_of(screen.query_one("#map-problem", Static))
        assert dest.has_class("-invalid")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # refused: still open
        dest.value = "TS_001"  # the source keeps its own TS_001: a collision
        await pilot.pause()
        assert "both would land on 'TS_001'" in text_of(screen.query_one("#map-problem", Static))
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        dest.value = "TS_009"
        await pilot.pause()
        assert text_of(screen.query_one("#map-problem", Static)) == "✓ TS_003 → TS_009"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        assert app.session.rules.maps["runs"] == {"TS_003": "TS_009"}
        targets = {e.target.run for e in app.session.plan.entities if e.source and e.source.run == "TS_003"}
        assert targets == {"TS_009"}
        label = str(app.screen.query_one("#source-tree", ProjectTree).node_for("run:TS_003").label)
        assert label.startswith("+ TS_003")


async def test_map_an_object_name_of_picks(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_entity(pilot, BOB)
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MapNameScreen)
        assert screen.query_one("#map-choice", Select).value == 0  # object ribosome first
        dest = screen.query_one("#map-dest", Input)
        dest.value = "ribo_some"
        await pilot.pause()
        assert "'_'" in text_of(screen.query_one("#map-problem", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        assert app.session.rules.maps == {"objects": {"apoferritin": "ferritin"}}


# -- rules screen -----------------------------------------------------------------------------


async def test_rules_screen_add_delete_save_and_load(demo, tmp_path: Path) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RulesScreen)
        filters = screen.query_one("#filters-table", DataTable)
        maps = screen.query_one("#maps-table", DataTable)
        assert filters.row_count == 1 and maps.row_count == 1
        # add: exclude run TS_002
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, FilterEditScreen)
        app.screen.query_one("#filter-dim", Select).value = "runs"
        await pilot.press(*"TS_002", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert app.session.rules.exclude["runs"] == ["TS_002"]
        assert filters.row_count == 2
        assert not any(e.action.writes for e in app.session.plan.entities if e.run == "TS_002")
        # delete it again
        filters.focus()
        filters.move_cursor(row=1)
        await pilot.press("d")
        await settle(pilot)
        assert "runs" not in app.session.rules.exclude and filters.row_count == 1
        # a mapping, added in the mappings table
        maps.focus()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, MapNameScreen)
        app.screen.query_one("#map-source", Input).value = "TS_002"
        app.screen.query_one("#map-dest", Input).value = "TS_020"
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.rules.maps["runs"] == {"TS_002": "TS_020"}
        # save
        out = tmp_path / "saved-rules.json"
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, FilePromptScreen)
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await settle(pilot)
        saved = RuleSet.load(str(out))
        assert saved.maps["runs"] == {"TS_002": "TS_020"} and saved.exclude["users"] == ["bot"]
        assert app.session.rules_file == str(out)
        # load a different file
        other = tmp_path / "other-rules.json"
        RuleSet(exclude={"kinds": ["meshes"]}).save(str(other))
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one(Input).value = str(other)
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.rules.exclude == {"kinds": ["meshes"]} and not app.session.rules.maps
        assert filters.row_count == 1 and maps.row_count == 0
        assert all(e.action is Act.EXCLUDED for e in app.session.plan.entities if e.kind.value == "mesh")


async def test_rules_screen_refuses_a_bad_rules_file(demo, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r", "l")
        await pilot.pause()
        app.screen.query_one(Input).value = str(bad)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RulesScreen)
        assert app.session.rules.exclude == {"users": ["bot"]}  # unchanged
        assert any("malformed JSON" in str(n.message) for n in app._notifications)


async def test_a_mistyped_fs_arg_is_an_app_notice(demo) -> None:
    cfg = json.loads(Path(demo.target_config).read_text())
    cfg["overlay_fs_args"] = {"insecrue": True}
    Path(demo.target_config).write_text(json.dumps(cfg))
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert [n.title for n in app._notifications if "unknown setting 'insecrue'" in str(n.message)] \
            == ["Config"]


# -- preview ----------------------------------------------------------------------------------


def many_picks(runs: int, per_run: int) -> dict[str, str]:
    files: dict[str, str] = {}
    for r in range(runs):
        files[f"ExperimentRuns/run{r:03d}/.meta"] = "meta"
        for i in range(per_run):
            files[f"ExperimentRuns/run{r:03d}/Picks/user{i:03d}_1_ribosome.json"] = json.dumps(
                {"pickable_object_name": "ribosome", "user_id": f"user{i:03d}", "session_id": "1",
                 "points": []})
    return files


async def test_preview_filters_and_pages(make_project) -> None:
    from synctui.tui.app import SyncTuiApp

    source = make_project(many_picks(3, 150), where="src", name="big")
    target = make_project({}, where="dst", name="empty")
    app = SyncTuiApp(str(source), str(target))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        table = screen.query_one(DataTable)
        assert len(screen.rows) == 3 + 3 * 151 and table.row_count == 200
        page = screen.query_one("#preview-page", Static)
        assert text_of(page) == "page 1/3 · 1-200 of 456"
        await pilot.press("right_square_bracket")
        assert text_of(page) == "page 2/3 · 201-400 of 456"
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert text_of(page) == "page 3/3 · 401-456 of 456" and table.row_count == 56
        await pilot.press("left_square_bracket")
        assert text_of(page).startswith("page 2/3")
        # text filter
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"run001/picks/user01")
        await pilot.pause()
        assert text_of(page) == "page 1/1 · 1-11 of 11"  # the run row and user010..019
        await pilot.press("enter")
        assert app.focused is table
        # action filter: skip shows nothing here, then back round to all
        screen.query_one("#preview-filter", Input).value = ""
        await pilot.pause()
        await pilot.press("a")
        assert "changes" in text_of(screen.query_one("#preview-action", Static))
        assert len(screen.rows) == 456
        for _ in range(9):
            await pilot.press("a")
        assert "skip" in text_of(screen.query_one("#preview-action", Static))
        assert screen.rows == [] and text_of(page) == "no rows"
        await pilot.press("escape")
        assert isinstance(app.screen, BrowseScreen)


async def test_preview_collapse_expand_exclude_and_details(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        table = screen.query_one(DataTable)
        keys = [r.key for r in screen.rows]
        i = next(n for n, r in enumerate(screen.rows) if r.entity and r.entity.source_path == FILAMENT)
        table.move_cursor(row=i)
        await pilot.pause()
        assert FILAMENT in text_of(screen.query_one("#preview-why", Static))
        # o shows the entity's files
        before = len(screen.rows)
        await pilot.press("o")
        assert len(screen.rows) == before + 1 and screen.rows[i + 1].level == 2
        await pilot.press("o")
        assert len(screen.rows) == before
        # exclude from here
        await pilot.press("x")
        await settle(pilot)
        assert app.session.rules.exclude["paths"] == [FILAMENT]
        assert screen.current_row().entity.action is Act.EXCLUDED
        assert [r.key for r in screen.rows] == keys
        # enter: both sides in detail
        bob = next(n for n, r in enumerate(screen.rows) if r.entity and r.entity.source_path == BOB[4:])
        table.move_cursor(row=bob)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert "Points" in text_of(app.screen.query_one("#detail-source", Static))
        assert "Points" in text_of(app.screen.query_one("#detail-target", Static))
        await pilot.press("escape")
        assert app.screen is screen
        # collapse a run
        table.move_cursor(row=next(n for n, r in enumerate(screen.rows) if r.key == "r:TS_001"))
        await pilot.press("o")
        assert not any(r.run == "TS_001" and r.level for r in screen.rows)


# -- sync -------------------------------------------------------------------------------------


async def test_sync_to_the_end_then_nothing_left_to_do(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert app.session.summary is not None and app.session.summary.status == "ok"
        assert "finished" in text_of(screen.query_one("#run-title", Static))
        status = text_of(screen.query_one("#run-status", Static))
        # the same rows `synctui sync` prints (one summary formatter)
        assert status.startswith("OK  checked 27 entities · created 12 entities · updated 2 entities")
        assert "files 128 written" in status and "errors 0" in status
        assert text_of(screen.query_one("#files-text", Static)) == "129 done / 129"
        assert text_of(screen.query_one("#run-errors-title", Static)) == "failures: 0"
        target = Path(demo.target_overlay)
        assert (target / FILAMENT).exists()
        assert (target / "ExperimentRuns/TS_002/Picks/alice_1_ferritin.json").exists()
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        assert app.session.plan.is_noop
        assert "nothing to do" in text_of(app.screen.query_one("#plan-bar", Static))
        await pilot.press("s")  # nothing to do: no dialog
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch):
    """Target writes after the first three wait for ``gate.set()`` (set again at teardown)."""
    from synctui.storage import local

    event = threading.Event()
    done = [0]
    lock = threading.Lock()
    for name in ("write_atomic", "copy_from", "write_many"):
        original = getattr(local.LocalStore, name, None)
        if original is None:
            continue

        def wrapper(self, *args, _original=original, **kwargs):
            with lock:
                done[0] += 1
                wait = done[0] > 3
            if wait:
                event.wait(30)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(local.LocalStore, name, wrapper)
    yield event
    event.set()


def failing_store(monkeypatch: pytest.MonkeyPatch, fail: str) -> None:
    """Target writes of paths containing ``fail`` raise a (non-transient) StoreError."""
    from synctui.errors import StoreError
    from synctui.storage import local

    for name in ("write_atomic", "copy_from", "write_many"):
        original = getattr(local.LocalStore, name, None)
        if original is None:
            continue

        def wrapper(self, *args, _original=original, **kwargs):
            if any(fail in str(a) for a in args):
                raise StoreError(f"disk says no: {fail}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(local.LocalStore, name, wrapper)


async def wait_for_files(app, n: int) -> None:
    deadline = time.monotonic() + 10
    while app.session.job.sink.progress.done_files < n and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def test_cancel_asks_first_then_stops(demo, gate: threading.Event) -> None:
    app = make_app(demo, max_workers=1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen) and app.session.sync_running
        await wait_for_files(app, 3)
        await pilot.pause()
        assert "in flight (" in text_of(app.screen.query_one("#run-status", Static))  # a file or a batch
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep going
        await pilot.pause()
        assert app.session.sync_running and not app.session.job._cancel.is_set()
        await pilot.press("c", "y")
        await pilot.pause()
        assert app.session.job._cancel.is_set()
        assert "cancelling" in text_of(app.screen.query_one("#run-title", Static))
        gate.set()
        await settle(pilot)
        assert not app.session.sync_running
        assert app.session.summary is not None and app.session.summary.cancelled
        assert app.session.summary.files_written < 129
        assert "cancelled" in text_of(app.screen.query_one("#run-title", Static))
        assert text_of(app.screen.query_one("#run-status", Static)).startswith("CANCELLED")


async def test_a_failing_item_shows_in_the_error_log(demo, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_store(monkeypatch, "bob_1_ribosome")
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert app.session.error_count == 1
        log = screen.query_one("#run-log", Log)
        assert any("bob_1_ribosome.json" in line and "disk says no" in line for line in log.lines)
        assert text_of(screen.query_one("#run-errors-title", Static)) == "failures: 1"
        assert text_of(screen.query_one("#run-status", Static)).startswith("PARTIAL")


async def test_leaving_the_run_screen_keeps_the_sync_going(demo, gate: threading.Event) -> None:
    app = make_app(demo, max_workers=2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await pilot.pause()
        await pilot.press("b")  # back to browse while it runs
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen) and app.session.sync_running
        assert "a sync is running" in text_of(app.screen.query_one("#plan-bar", Static))
        await pilot.press("s")  # shows the running sync again
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await pilot.press("b")
        await pilot.pause()
        gate.set()
        await settle(pilot)  # finishes unwatched: the app re-plans by itself
        assert app.session.summary is not None and app.session.summary.status == "ok"
        assert app.session.plan.is_noop


async def test_a_lock_held_by_someone_else_shows_its_owner(demo) -> None:
    lock_dir = Path(demo.target_overlay) / ".synctui-lock"
    lock_dir.mkdir()
    now = time.time()
    (lock_dir / "write.json").write_text(json.dumps({
        "owner": "alice@elsewhere", "host": "elsewhere", "pid": 4242, "version": "0.1.0",
        "sync_id": "other", "mode": "write", "started": now - 300, "heartbeat": now,
        "ttl": 3600.0}))
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = text_of(app.screen.query_one("#header-target", Static))
        assert "lock held by alice@elsewhere (write, 5m00s)" in header
        assert "lock free" in text_of(app.screen.query_one("#header-source", Static))
        await pilot.press("s", "y")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "alice@elsewhere" in text_of(app.screen.query_one("#error-message", Static))
        await pilot.press("escape")
        assert not app.session.sync_running


async def test_quit_while_syncing_asks_first(demo, gate: threading.Event) -> None:
    app = make_app(demo, max_workers=1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.session.sync_running
        await pilot.press("q", "y")
        await pilot.pause()
        assert app.session.job._cancel.is_set()
        assert app.is_running  # waits for the files in flight, then exits
        gate.set()
        deadline = time.monotonic() + 10
        while app.return_code is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert app.return_code == 4  # EXIT_CANCELLED


# -- everywhere -------------------------------------------------------------------------------


async def test_help_screen_lists_every_screen(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-keys", Static).content
        text = " ".join(str(cell) for col in table.columns for cell in col._cells)
        for word in ("Browse", "Preview", "Rules", "Sync", "Exclude", "Cancel sync", "conflict"):
            assert word in text
        await pilot.press("escape")
        assert isinstance(app.screen, BrowseScreen)


async def test_command_palette_runs_screen_actions(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"preview")
        await settle(pilot)  # the palette searches in a worker
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)


async def test_a_big_project_opens_lazily(make_project) -> None:
    from synctui.tui.app import SyncTuiApp

    files = {f"ExperimentRuns/run{r:04d}/.meta": "meta" for r in range(1000)}
    files |= {f"ExperimentRuns/run{r:04d}/Picks/alice_1_ribosome.json": "{}" for r in range(0, 1000, 10)}
    source = make_project(files, where="src", name="thousand")
    target = make_project({}, where="dst", name="empty")
    app = SyncTuiApp(str(source), str(target))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.screen.query_one("#source-tree", ProjectTree)
        assert len(tree.root.children) == 1000
        assert all(not n.children for n in tree.root.children)  # nothing below a run yet
        assert "+ 1,100 create" in text_of(app.screen.query_one("#plan-bar", Static))
        await pilot.press("down", "enter")
        await settle(pilot)
        assert [str(c.label) for c in tree.root.children[0].children] == ["+ Picks (1)  +1", "+ .meta"]


async def test_scan_failure_shows_an_error_dialog(demo) -> None:
    import shutil

    shutil.rmtree(demo.source_static)  # the config names a static root that is gone
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert app.session.sides["source"].connection == "failed"
        await pilot.press("enter")
        assert "plan failed" in text_of(app.screen.query_one("#plan-bar", Static))


def test_bad_config_fails_before_any_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            demo) -> None:
    from synctui.errors import ConfigError, RulesError
    from synctui.tui.app import SyncTuiApp, run_app

    missing = str(tmp_path / "nope.json")
    assert run_app(missing, demo.target_config) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config file not found" in err
    with pytest.raises(ConfigError):
        SyncTuiApp(missing, demo.target_config)
    bad_rules = tmp_path / "rules.json"
    bad_rules.write_text('{"synctui_rules": 1, "exclude": {"colours": ["red"]}}')
    with pytest.raises(RulesError):
        SyncTuiApp(demo.source_config, demo.target_config, str(bad_rules))
    assert run_app(demo.source_config, demo.target_config, str(bad_rules)) == 2


def test_no_color_is_honoured_unless_asked_not_to(demo, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.filter import Monochrome

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TEXTUAL_THEME", "textual-light")
    plain = make_app(demo)
    pinned = make_app(demo, honour_no_color=False)
    assert any(isinstance(f, Monochrome) for f in plain._filters)
    assert not any(isinstance(f, Monochrome) for f in pinned._filters)
    assert plain.theme == pinned.theme == "textual-dark"
    assert os.environ["NO_COLOR"] == "1"
