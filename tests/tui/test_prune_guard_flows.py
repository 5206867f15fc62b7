"""The app's side of the sync guards (issue #12): a prune the guard refuses takes a typed
confirmation, and the run screen and history say what a prune really did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static
from tui_helpers import make_app, settle, text_of

from synctui.sync.engine import Summary
from synctui.sync.plan import Act
from synctui.tui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from synctui.tui.screens.history import HistoryScreen
from synctui.tui.screens.run import RunScreen, summary_text

pytestmark = pytest.mark.anyio

SIZE = (80, 24)
TRASH = ".synctui-trash"


def empty_source(demo) -> None:
    """Point the demo's source at an empty folder (as an unmounted share looks)."""
    path = Path(demo.source_config)
    data = json.loads(path.read_text())
    empty = path.parent / "empty-source"
    empty.mkdir()
    data["overlay_root"] = f"local://{empty}"
    data.pop("static_root", None)
    path.write_text(json.dumps(data))


def data_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not str(p.relative_to(root)).startswith(".synctui"))


async def test_a_prune_after_an_empty_source_listing_takes_the_typed_number(demo) -> None:
    empty_source(demo)
    target = Path(demo.target_overlay)
    before = data_of(target)
    app = make_app(demo, rules=False)
    app.session.job.options.prune = True
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        gone = [e.target_path for e in app.session.plan.entities if e.action is Act.DELETE]
        pruned = len(gone)
        assert pruned > 0
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TypedConfirmScreen) and not isinstance(dialog, ConfirmScreen)
        body = " ".join(text_of(w) for w in dialog.query(Static))
        assert f"removes {pruned} entities" in body and "no entities" in body
        # y, a wrong number, Enter: none of them starts anything
        await pilot.press("y", "enter")
        await pilot.press(*str(pruned + 1), "enter")
        await pilot.pause()
        assert app.screen is dialog and not app.session.sync_running
        assert "is not" in text_of(dialog.query_one("#typed-confirm-hint", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TypedConfirmScreen) and app.session.summary is None
        assert data_of(target) == before
        # typed right, it goes: into the trash, and the run screen says where
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        app.screen.query_one(Input).value = str(pruned)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.session.summary is not None and app.session.summary.deleted == pruned and app.session.summary.errors == []
        left = data_of(target)  # empty folders stay; no file of a pruned entity does
        assert not [f for f in left if any(f == p or f.startswith(p + "/") for p in gone)]
        assert f"moved to {TRASH}/" in text_of(app.screen.query_one("#run-status", Static))
    assert app.session.job.job_options.prune_all is False  # the consent was for that run only


async def test_a_small_prune_asks_the_usual_yes_or_no(demo) -> None:
    app = make_app(demo)
    app.session.job.options.prune = True
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any(e.action is Act.DELETE for e in app.session.plan.entities)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)


def test_the_run_summary_says_destroyed_when_nothing_went_to_the_trash() -> None:
    s = Summary("x", deleted=3, destroyed=3, files_deleted=7, files_destroyed=7)
    text = summary_text(s).plain
    assert "3 entities (destroyed, not kept in the trash" in text and "7 destroyed" in text
    assert "trash/" not in text.replace("the trash", "")
    s = Summary("x", deleted=1, files_deleted=2, trash=f"{TRASH}/x")
    text = summary_text(s).plain
    assert f"1 entity (moved to {TRASH}/x)" in text and "2 moved to trash" in text
    assert "destroyed" not in text


async def test_history_shows_what_a_prune_destroyed(demo) -> None:
    app = make_app(demo)
    app.session.job.options.prune = True
    app.session.job.options.prune_destroy = True
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "y")
        await settle(pilot)
        assert app.session.summary is not None and app.session.summary.destroyed == 1
        assert "destroyed" in text_of(app.screen.query_one("#run-status", Static))
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        app.screen.query_one(DataTable).move_cursor(row=0)
        await pilot.pause()
        note = app.screen.query_one("#history-note", Static)
        assert note.display and "destroyed (--prune=delete)" in text_of(note)
