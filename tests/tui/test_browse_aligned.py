"""The aligned comparison in browse: the target follows the source, Enter compares, the
details wrap and scroll, search, Left/Right, run mixes, not-copick paths, history rows.

Driven by keys through Pilot; waits on workers (``settle``), never on sleeps.
"""

from __future__ import annotations

import pytest
from rich.console import Console
from textual.widgets import DataTable
from tui_helpers import make_app, settle

from synctui.tui.screens.compare import CompareScreen
from synctui.tui.screens.preview import PreviewScreen
from synctui.tui.screens.scope import ScopeScreen
from synctui.tui.widgets.detail_pane import DetailPane, DetailSide
from synctui.tui.widgets.project_tree import ProjectTree

pytestmark = pytest.mark.anyio

PICKS = "ExperimentRuns/TS_001/Picks"
WBP = "ent:ExperimentRuns/TS_001/VoxelSpacing10.000/wbp.zarr"


def trees(app) -> tuple[ProjectTree, ProjectTree]:
    return (app.screen.query_one("#source-tree", ProjectTree), app.screen.query_one("#target-tree", ProjectTree))


def cursor_key(tree: ProjectTree) -> str | None:
    node = tree.cursor_node
    return node.data.key if node is not None and node.data is not None else None


def screen_row(tree: ProjectTree) -> int:
    return tree.cursor_line - round(tree.scroll_offset.y)


def side_lines(side: DetailSide) -> list[str]:
    """What one side of a detail pane draws at its width, line by line."""
    console = Console(width=side.content_size.width, record=True, color_system=None)
    console.print(side.render())
    return console.export_text().splitlines()


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
async def test_the_target_follows_the_source_and_opens_with_it(demo, size) -> None:
    app = make_app(demo)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        source, target = trees(app)
        await pilot.press("down")
        assert cursor_key(target) == "run:TS_001"
        await pilot.press("right")  # opens TS_001 on both sides
        await settle(pilot)
        assert source.node_for("run:TS_001").is_expanded and target.node_for("run:TS_001").is_expanded
        await pilot.press("down", "down")
        assert cursor_key(source) == "group:TS_001:picks" == cursor_key(target)
        await pilot.press("right", "down")
        await settle(pilot)
        # the mapping alice_1_apoferritin -> alice_1_ferritin is followed, on the same screen row
        assert cursor_key(source) == f"ent:{PICKS}/alice_1_apoferritin.json"
        assert cursor_key(target) == f"ent:{PICKS}/alice_1_ferritin.json"
        assert screen_row(source) == screen_row(target)
        assert not target.border_subtitle
        await pilot.press("down", "down", "down")  # bot_0_ribosome: excluded, not in the target
        await settle(pilot)
        assert cursor_key(source) == f"ent:{PICKS}/bot_0_ribosome.json"
        assert cursor_key(target) == "group:TS_001:picks"
        assert "not in the target" in str(target.border_subtitle)
        # Left: to the parent, then collapse it (on both sides), then to the run
        await pilot.press("left")
        assert cursor_key(source) == "group:TS_001:picks"
        await pilot.press("left")
        await settle(pilot)
        assert not source.node_for("group:TS_001:picks").is_expanded
        assert not target.node_for("group:TS_001:picks").is_expanded
        await pilot.press("left")
        assert cursor_key(source) == "run:TS_001" == cursor_key(target)
        # TS_003 is only in the source: the target rests on its project and says so
        await pilot.press("end", "up")  # the last line is the density maps
        await settle(pilot)
        assert cursor_key(source) == "run:TS_003"
        assert cursor_key(target) == "project" and "TS_003" in str(target.border_subtitle)


async def test_enter_compares_and_the_details_focus_wrap_and_scroll(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        source, _ = trees(app)
        assert source.focus_key(WBP)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        for side in app.screen.query(DetailSide):
            text = "\n".join(side_lines(side))
            assert "…" not in text and "Files" in text and "31" in text
        await pilot.press("escape")
        await pilot.pause()
        pane = app.screen.query_one("#detail", DetailPane)
        await pilot.press("tab", "tab")
        assert app.focused is pane
        await pilot.pause()
        src = app.screen.query_one("#detail-source", DetailSide)
        lines = side_lines(src)
        # every value is whole: wrapped under its own column, never cut with an ellipsis
        assert not any("…" in line for line in lines)
        joined = " ".join(" ".join(line.split()) for line in lines)
        assert "Files 31" in joined and "2026-01-01 00:00:00 UTC" in joined
        assert "blosc (cname lz4, clevel" in joined
        assert pane.max_scroll_y > 0
        await pilot.press("down", "down")
        await pilot.pause()
        assert pane.scroll_y > 0


async def test_slash_searches_the_focused_tree_and_n_finds_the_next(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        source, target = trees(app)
        assert source.node_for("group:TS_001:picks") is None  # not loaded yet
        await pilot.press("slash", *"apoferritin", "enter")
        await settle(pilot)
        assert app.focused is source
        assert cursor_key(source) == f"ent:{PICKS}/alice_1_apoferritin.json"
        assert cursor_key(target) == f"ent:{PICKS}/alice_1_ferritin.json"
        await pilot.press("slash", "ctrl+u", *"ribosome", "enter")
        await settle(pilot)
        first = cursor_key(source)
        assert first is not None and "ribosome" in first
        await pilot.press("n")
        await settle(pilot)
        second = cursor_key(source)
        assert second is not None and "ribosome" in second and second != first
        # in the target tree: carol's picks are only there
        await pilot.press("tab", "slash", "ctrl+u", *"carol", "enter")
        await settle(pilot)
        assert app.focused is target
        assert cursor_key(target) == f"ent:{PICKS}/carol_1_ribosome.json"
        assert "not in the source" in str(source.border_subtitle)
        await pilot.press("slash", "ctrl+u", *"no-such-thing")
        await pilot.pause()
        assert app.screen.query_one("#browse-search").has_class("-invalid")
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is target and not app.screen.query_one("#browse-search").display


async def test_run_mix_not_copick_paths_and_readable_titles(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        source, target = trees(app)
        # a run shows its whole mix, "same" included, not only its worst entity
        assert str(source.node_for("run:TS_001").label).startswith("# TS_001  #1 ~1 +3 =1 ✓6 -1")
        # what copick does not read is listed, with why
        assert source.focus_key("other:ExperimentRuns/TS_001/Picks/notes.txt")
        await settle(pilot)
        assert str(source.node_for("group:TS_001:other").label) == "○ not copick (1)"
        text = "\n".join(side_lines(app.screen.query_one("#detail-source", DetailSide)))
        assert "Picks files end in .json" in text
        assert target.focus_key("other:ExperimentRuns/TS_002/Segmentations/membrane-draft.zarr")
        # the project's details count files too
        assert source.focus_key("project")
        source.focus()
        await settle(pilot)
        text = " ".join(side_lines(app.screen.query_one("#detail-source", DetailSide)))
        assert "Files" in text
        # the scope dialog's title is a whole sentence, not cut
        assert source.focus_key(f"ent:{PICKS}/bob_1_ribosome.json")
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ScopeScreen) and not app.screen.title_text.endswith("…")
        await pilot.press("escape")
        # a view's repr is short: Textual's worker descriptions once printed it whole
        assert len(repr(app.session.view)) < 200


async def test_preview_cuts_long_paths_in_the_middle(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        table = screen.query_one(DataTable)
        cells = {r.item: table.get_row(r.key)[1].plain.strip() for r in screen.rows
                 if r.level == 1 and "Segmentations/" in r.item}
        assert len(cells) >= 2
        assert len(set(cells.values())) == len(cells)  # two segmentations never read the same
        for item, cell in cells.items():
            assert cell.endswith(item[-12:])  # the distinguishing end survives


async def test_a_history_row_opens_the_whole_sync(demo, tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from synctui.project.config import load_config
    from synctui.sync.state import StateDB
    from synctui.tui.screens.sync_detail import SyncDetailScreen, sync_fields

    monkeypatch.setenv("SYNCTUI_STATE_DIR", str(tmp_path / "state"))
    db = StateDB()
    pair = db.pair_id(load_config(demo.source_config).overlay.key, load_config(demo.target_config).overlay.key)
    db.start_sync(pair, "20260101T000000-fixed", "saved-plan")
    db.finish_sync("20260101T000000-fixed", SimpleNamespace(
        checked=20081, created=12, updated=2, skipped=20067, deleted=0, conflicts=1, bytes=1_500_000,
        errors=[], status="ok", notes=[]))
    db.close()
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SyncDetailScreen)
        fields = dict(sync_fields(app.screen.row))
        assert fields["sync id"] == "20260101T000000-fixed"
        assert fields["checked"] == "20,081" and fields["unchanged"] == "20,067"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SyncDetailScreen)
