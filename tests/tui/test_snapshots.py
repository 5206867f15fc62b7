"""Snapshots of every screen on the demo projects (pytest-textual-snapshot).

Plain ``def`` tests (snap_compare runs its own loop), fixed terminal sizes, the
theme pinned and NO_COLOR ignored, roots shown relative to the test folder, and
nothing time-dependent on screen (durations and sync ids are fixed before the
shot).  Regenerate with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input
from tui_helpers import make_app, settle

from synctui.errors import LockHeldError

BOB = "ent:ExperimentRuns/TS_001/Picks/bob_1_ribosome.json"


@pytest.fixture
def snap_demo(demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)  # header roots read ./demo/...: the same on every machine
    monkeypatch.delenv("NO_COLOR", raising=False)
    return demo


def app_for(demo: Any):
    return make_app(demo, honour_no_color=False)


async def open_bob(pilot) -> None:
    await settle(pilot)
    tree = pilot.app.screen.query_one("#source-tree")
    tree.focus()
    tree.focus_key(BOB)
    await settle(pilot)


async def synced(pilot) -> None:
    await settle(pilot)
    await pilot.press("s", "y")
    await settle(pilot)
    app = pilot.app
    app.session.summary = dataclasses.replace(app.session.summary, duration=0.5,
                                              trash=".synctui-trash/20260101T000000-abcdef")
    app.screen.show_summary(app.session.summary)
    await pilot.pause()


def test_browse_start(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=settle, terminal_size=(80, 24))


def test_browse_entity(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=open_bob, terminal_size=(80, 24))


def test_browse_entity_120x36(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=open_bob, terminal_size=(120, 36))


def test_browse_entity_200x60(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=open_bob, terminal_size=(200, 60))


def test_browse_target_side(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        tree = pilot.app.screen.query_one("#target-tree")
        tree.focus()
        tree.focus_key("ent:ExperimentRuns/TS_002/VoxelSpacing10.000/wbp.zarr")
        await settle(pilot)

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_browse_details_focused(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        tree = pilot.app.screen.query_one("#source-tree")
        tree.focus()
        tree.focus_key("ent:ExperimentRuns/TS_001/VoxelSpacing10.000/wbp.zarr")
        await settle(pilot)
        await pilot.press("tab", "tab")
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_browse_search_in_the_target(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("tab", "slash", *"carol")
        await settle(pilot)

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(120, 36))


def test_scope_dialog(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=open_bob, press=["X"], terminal_size=(80, 24))


def test_map_dialog_refuses_a_bad_name(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await open_bob(pilot)
        await pilot.press("m")
        await pilot.pause()
        pilot.app.screen.query_one("#map-dest", Input).value = "ribo_some"
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_preview(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        pilot.app.screen.query_one(DataTable).move_cursor(row=7)
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_preview_200x60(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        table = pilot.app.screen.query_one(DataTable)
        row = next(i for i, r in enumerate(pilot.app.screen.rows)
                   if r.entity and r.entity.action.value == "update" and r.entity.files[-1:]
                   and r.entity.files[-1].action.value == "delete")
        table.move_cursor(row=row)
        await pilot.press("space")
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(200, 60))


def test_preview_filtered(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("p", "a", "slash", *"picks", "enter")
        await settle(pilot)

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_compare_dialog(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = pilot.app.screen
        row = next(i for i, r in enumerate(screen.rows) if r.key.startswith("e") and r.entity
                   and r.entity.source_path == BOB[4:])
        screen.query_one(DataTable).move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_rules(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=settle, press=["r"], terminal_size=(80, 24))


def test_filter_dialog(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=settle, press=["r", "e"], terminal_size=(80, 24))


def test_confirm_sync(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=settle, press=["s"], terminal_size=(80, 24))


def test_run_finished(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=synced, terminal_size=(80, 24))


def test_run_finished_120x36(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=synced, terminal_size=(120, 36))


def test_browse_after_sync(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await synced(pilot)
        await pilot.press("b")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_help(snap_compare, snap_demo) -> None:
    assert snap_compare(app_for(snap_demo), run_before=settle, press=["question_mark"],
                        terminal_size=(80, 24))


def test_error_dialog(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.show_error("Sync failed", "target ./demo/target/overlay is locked: write lock held "
                             "by alice@elsewhere (pid 4242, sync other) for 5m00s")
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


# -- history, conflict choice, watch -----------------------------------------------------


@pytest.fixture
def fixed_history(snap_demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Three past syncs of the demo pair at fixed times, shown in UTC."""
    import time
    from types import SimpleNamespace

    from synctui.project.config import load_config
    from synctui.sync.state import StateDB

    monkeypatch.setenv("SYNCTUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    db = StateDB()
    pair = db.pair_id(load_config(snap_demo.source_config).overlay.key,
                      load_config(snap_demo.target_config).overlay.key)
    base = 1767225600.0  # 2026-01-01 00:00:00 UTC
    for i, (status, created, errors, took) in enumerate(
            [("ok", 12, 0, 2.5), ("partial", 0, 3, 61.0), ("ok", 1, 0, 0.4)]):
        sid = f"2026010{i + 1}T000000-fixed{i}"
        db.start_sync(pair, sid, "saved-plan")
        db.finish_sync(sid, SimpleNamespace(checked=100, created=created, updated=2 * i, skipped=90,
                                            deleted=i, conflicts=1, bytes=1_500_000 * (i + 1),
                                            errors=[None] * errors, status=status, notes=[]))
        start = base + i * 86400 + 3600 * i
        db._conn.execute("UPDATE history SET started=?, ended=? WHERE sync_id=?", (start, start + took, sid))
    db._conn.commit()
    db.close()
    yield snap_demo
    monkeypatch.undo()
    time.tzset()


def test_history(snap_compare, fixed_history) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)

    assert snap_compare(app_for(fixed_history), run_before=run_before, terminal_size=(80, 24))


def test_history_sync_detail(snap_compare, fixed_history) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("down", "enter")
        await pilot.pause()

    assert snap_compare(app_for(fixed_history), run_before=run_before, terminal_size=(80, 24))


def test_conflict_dialog(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = pilot.app.screen
        row = next(i for i, r in enumerate(screen.rows) if r.level == 1 and r.entity is not None
                   and r.entity.action.value == "conflict")
        screen.query_one(DataTable).move_cursor(row=row)
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_break_lock_dialog(snap_compare, snap_demo) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        detail = ("target ./demo/target/overlay: write lock held by ghost@elsewhere (pid 1, sync ghost) "
                  "for 1h00m, stale: no heartbeat for 3600 s (TTL 60 s)")
        pilot.app.offer_break_lock(LockHeldError(
            detail + " — use --break-lock to break it", owner="ghost@elsewhere", pid=1, age=3600.0,
            stale=True, stale_reason="no heartbeat for 3600 s (TTL 60 s)", detail=detail))
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_rules_include_only_unsaved(snap_compare, snap_demo) -> None:
    """An include-only filter says which kinds it does not filter; unsaved edits are marked."""
    async def run_before(pilot) -> None:
        await settle(pilot)
        tree = pilot.app.screen.query_one("#source-tree")
        tree.focus()
        tree.focus_key("ent:ExperimentRuns/TS_001/Picks/alice_1_ribosome.json")
        await settle(pilot)
        await pilot.press("i")
        await pilot.pause()
        scope = pilot.app.screen
        scope.query_one("#scope-options").highlighted = next(
            i for i, sc in enumerate(scope.scopes) if sc.dim == "objects")
        await pilot.press("enter")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.press("r")
        await settle(pilot)
        pilot.app.screen.query_one("#filters-table", DataTable).move_cursor(row=1)
        await pilot.pause()

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))


def test_conflict_dialog_many(snap_compare, snap_demo) -> None:
    """Three marked conflicts, one decision."""
    import os

    for rel in ("ExperimentRuns/TS_001/Picks/alice_1_ribosome.json",
                "ExperimentRuns/TS_001/Picks/bob_1_ribosome.json"):
        path = Path(snap_demo.target_overlay) / rel
        path.write_text(path.read_text()[:-1] + " ")
        mtime = os.stat(Path(snap_demo.source_overlay) / rel).st_mtime + 100
        os.utime(path, (mtime, mtime))

    async def run_before(pilot) -> None:
        await settle(pilot)
        session = pilot.app.session
        session.set_marks([e for e in session.plan.entities if e.action.value == "conflict"], True)
        await pilot.pause()
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(app_for(snap_demo), run_before=run_before, terminal_size=(80, 24))
