"""Rules you can trust, decisions in bulk, an honest run screen (issue 17), driven by keys.

Each test walks one user story end to end at 80x24 on the demo projects.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from test_flows import SIZE, focus_entity, gate, wait_for_files  # noqa: F401 - gate is a fixture
from textual.widgets import DataTable, Input, OptionList, Static
from tui_helpers import make_app, settle, text_of

from synctui.sync.plan import Act
from synctui.tui.commands import screen_commands
from synctui.tui.screens.browse import BrowseScreen
from synctui.tui.screens.compare import CompareScreen
from synctui.tui.screens.confirm import ConfirmScreen
from synctui.tui.screens.conflict import ConflictScreen
from synctui.tui.screens.file_prompt import FilePromptScreen
from synctui.tui.screens.map_name import MapNameScreen
from synctui.tui.screens.preview import PreviewScreen
from synctui.tui.screens.rules import RulesScreen
from synctui.tui.screens.run import RunScreen
from synctui.tui.screens.scope import ScopeScreen

pytestmark = pytest.mark.anyio

FILAMENT = "ExperimentRuns/TS_001/Filaments/alice_1_microtubule.json"
ALICE_1 = "ExperimentRuns/TS_001/Picks/alice_1_ribosome.json"
BOB_1 = "ExperimentRuns/TS_001/Picks/bob_1_ribosome.json"
ALICE_2 = "ExperimentRuns/TS_002/Picks/alice_1_ribosome.json"


def notices(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def rendered(widget: Static) -> str:
    """What a Static holding any rich renderable (a table) shows, as plain text."""
    from rich.console import Console

    console = Console(width=76, no_color=True)
    with console.capture() as out:
        console.print(widget.content)
    return out.get()


def counts(plan) -> dict[str, int]:
    return {a.value: c.entities for a, c in plan.counts().items()}


def confirm_text(app) -> str:
    return "\n".join(text_of(s) for s in app.screen.query(Static))


async def test_unsaved_rules_are_marked_and_every_quit_path_asks(demo) -> None:
    app = make_app(demo)
    saved = Path(demo.rules_file).read_text()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.session.rules_unsaved
        await focus_entity(pilot, f"ent:{FILAMENT}")
        await pilot.press("x")
        await settle(pilot)
        assert "● unsaved" in text_of(app.screen.query_one("#plan-bar", Static))
        assert "● rules unsaved" in text_of(app.screen.query_one("#header-target", Static))
        await pilot.press("r")
        await settle(pilot)
        assert "● unsaved changes" in text_of(app.screen.query_one("#rules-title", Static))
        quit_command = next(c for c in app.get_system_commands(app.screen) if c.title == "Quit")
        for how in ("q", "ctrl+q", "palette"):
            if how == "palette":
                await quit_command.callback()
            else:
                await pilot.press(how)
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen), how
            assert "not saved" in confirm_text(app)
            await pilot.press("q")  # a second quit while asked opens no second question
            await pilot.pause()
            assert len([s for s in app.screen_stack if isinstance(s, ConfirmScreen)]) == 1
            await pilot.press("n")
            await pilot.pause()
            assert app.is_running and isinstance(app.screen, RulesScreen), how
        assert Path(demo.rules_file).read_text() == saved  # nothing written behind the user's back
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, FilePromptScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert not app.session.rules_unsaved
        assert "● unsaved" not in text_of(app.screen.query_one("#rules-title", Static))
        assert FILAMENT in Path(demo.rules_file).read_text()
        await pilot.press("escape")
        await pilot.pause()
        assert "● rules unsaved" not in text_of(app.screen.query_one("#header-target", Static))
        await pilot.press("q")  # nothing to lose now: quits at once
        await pilot.pause()
    assert app.return_code == 0


async def test_x_lifts_the_rule_that_excludes_and_names_it(demo) -> None:
    app = make_app(demo, rules=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = counts(app.session.plan)
        await focus_entity(pilot, "run:TS_003")
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ScopeScreen)
        await pilot.press("down", "enter")  # run TS_003
        await settle(pilot)
        assert app.session.rules.exclude == {"runs": ["TS_003"]}
        assert counts(app.session.plan) != before
        await pilot.press("x")
        await settle(pilot)
        assert app.session.rules.is_empty
        assert counts(app.session.plan) == before
        assert "removed exclude run TS_003" in notices(app)
        # an entity excluded by a broad rule: x lifts that rule, not a second one
        await pilot.press("X")
        await pilot.pause()
        await pilot.press("down", "enter")
        await settle(pilot)
        await focus_entity(pilot, "ent:ExperimentRuns/TS_003/Picks/alice_1_ribosome.json")
        await pilot.press("x")
        await settle(pilot)
        assert app.session.rules.is_empty and counts(app.session.plan) == before


async def test_include_only_says_which_kinds_it_does_not_filter(demo) -> None:
    app = make_app(demo, rules=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_entity(pilot, f"ent:{ALICE_1}")
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ScopeScreen)
        options = screen.query_one(OptionList)
        i = next(n for n, sc in enumerate(screen.scopes) if sc.dim == "objects")
        label = str(options.get_option_at_index(i).prompt)
        assert "does not apply to" in label and "tomogram" in label and "multilabel segmentation" in label
        options.highlighted = i
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.rules.include == {"objects": ["ribosome"]}
        # what it said: tomograms and multilabel segmentations still sync
        kinds = {e.kind.value for e in app.session.plan.entities if e.action is Act.CREATE}
        assert {"tomogram", "multilabel-segmentation"} <= kinds
        await pilot.press("r")
        await settle(pilot)
        table = app.screen.query_one("#filters-table", DataTable)
        assert "(some kinds)" in str(table.get_row_at(0)[1])
        reach = text_of(app.screen.query_one("#rules-reach", Static))
        assert reach.startswith("include only object ribosome:") and "tomogram" in reach


async def test_a_mapping_onto_a_name_only_the_target_has_is_refused_inline(demo) -> None:
    target = Path(demo.target_overlay) / "ExperimentRuns/TS_001/Picks/carol_1_ribosome.json"
    target.write_bytes((Path(demo.target_overlay) / ALICE_1).read_bytes())
    app = make_app(demo, rules=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_entity(pilot, f"ent:{ALICE_1}")
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MapNameScreen)
        screen.query_one("#map-choice").value = next(
            i for i, (dim, _) in enumerate(screen.choices) if dim == "users")
        await pilot.pause()
        dest = screen.query_one("#map-dest", Input)
        dest.value = "carol"
        await pilot.pause()
        problem = text_of(screen.query_one("#map-problem", Static))
        assert "the target already has ExperimentRuns/TS_001/Picks/carol_1_ribosome.json" in problem
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen and not app.session.rules.maps  # refused: nothing planned
        dest.value = "dave"  # no one has dave: fine
        await pilot.pause()
        assert text_of(screen.query_one("#map-problem", Static)) == "✓ alice → dave"


def _make_conflicts(demo) -> None:
    """Two more conflicts: target files edited after the source's (different content)."""
    for rel in (ALICE_1, BOB_1):
        path = Path(demo.target_overlay) / rel
        path.write_text(path.read_text()[:-1] + " ")
        src = os.stat(Path(demo.source_overlay) / rel).st_mtime
        os.utime(path, (src + 100, src + 100))


async def test_marks_resolve_many_conflicts_at_once_and_take_source_keeps_the_target(demo) -> None:
    _make_conflicts(demo)
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        session = app.session
        conflicts = {e.target_path for e in session.plan.entities if e.action is Act.CONFLICT}
        assert conflicts == {ALICE_1, BOB_1, ALICE_2}
        tree = await focus_entity(pilot, f"ent:{ALICE_2}")
        await pilot.press("space")
        await pilot.pause()
        assert session.marks == {ALICE_2} and str(tree.cursor_node.label).startswith("● ")
        await focus_entity(pilot, "run:TS_001")
        await pilot.press("space")  # the whole run
        await pilot.pause()
        assert {ALICE_1, BOB_1} < session.marks and len(session.marked_conflicts()) == 3
        assert f"{len(session.marks)} marked" in text_of(app.screen.query_one("#plan-bar", Static))
        await pilot.press("c")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConflictScreen)
        assert "Resolve 3 marked conflicts" in confirm_text(app)
        await pilot.press("t")
        await settle(pilot)
        decided = {e.target_path: e for e in session.plan.entities if e.target_path in conflicts}
        assert {(e.action, e.resolution) for e in decided.values()} == {(Act.UPDATE, "take-source")}
        assert not conflicts & session.marks  # decided: unmarked
        await pilot.press("U")
        await pilot.pause()
        assert not session.marks
        # the preview: a range with shift+down, then one conflict with both sides' facts
        await pilot.press("p")
        await settle(pilot)
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        table = preview.query_one(DataTable)
        row = next(i for i, r in enumerate(preview.rows) if r.entity and r.entity.target_path == ALICE_2)
        table.move_cursor(row=row - 1)
        await pilot.press("shift+down", "space")
        await pilot.pause()
        assert ALICE_2 in session.marks and len(session.marks) == 2
        await pilot.press("space")
        await pilot.pause()
        assert ALICE_2 not in session.marks
        await pilot.press("c")  # no marked conflict: the row's own
        await pilot.pause()
        assert isinstance(app.screen, ConflictScreen) and len(app.screen.entities) == 1
        facts = rendered(app.screen.query_one("#conflict-facts", Static))
        assert "written by" in facts and "not synctui" in facts and "UTC" in facts
        await pilot.press("escape")
        await pilot.press("enter")  # the compare: c decides there too
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConflictScreen)
        await pilot.press("t")
        await pilot.press("escape")
        await settle(pilot)
        # the sync: every replaced target version is in this sync's trash
        await pilot.press("s", "y")
        await settle(pilot)
        summary = session.summary
        assert summary is not None and summary.status == "ok" and summary.files_set_aside >= 3
        trash = Path(demo.target_overlay) / ".synctui-trash" / summary.sync_id
        for rel in conflicts:
            assert (trash / rel).exists(), rel
        assert (trash / ALICE_1).read_text().endswith(" ")  # the edited version, kept
        assert "synctui had not written" in text_of(app.screen.query_one("#run-status", Static))


async def test_the_run_screen_counts_add_up_and_offers_only_what_applies(
        demo, gate: threading.Event) -> None:  # noqa: F811 - the fixture
    app = make_app(demo, max_workers=1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("s", "y")  # from the preview
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen) and app.session.sync_running
        assert "c" in screen.active_bindings
        # browse offers no rule edits while it runs
        assert not BrowseScreen.check_action(app.screen_stack[0], "exclude", ())
        await pilot.press("escape")  # asks: the sync would go on unseen
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "Leave the running sync?" in confirm_text(app)
        await pilot.press("n")
        await pilot.press("ctrl+q")  # the same question as q
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "Cancel it and quit?" in confirm_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and app.session.sync_running
        await wait_for_files(app, 3)
        await pilot.press("c", "y")
        gate.set()
        await settle(pilot)
        progress = app.session.job.sink.progress
        assert app.session.summary.cancelled
        assert progress.done_files + progress.failed_files + progress.not_started == progress.total_files
        assert progress.not_started > 0
        files = text_of(screen.query_one("#files-text", Static))
        assert files == f"{progress.done_files:,} done · {progress.not_started:,} not started / " \
                        f"{progress.total_files:,}"
        assert "skipped" not in files
        assert "c" not in screen.active_bindings  # nothing left to cancel
        assert "Cancel sync" not in {b.binding.description for b in screen.active_bindings.values()}
        assert BrowseScreen.check_action(app.screen_stack[0], "exclude", ())
        await pilot.press("b")  # back to browse, not to the preview it was started from
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen) and len(app.screen_stack) == 1


async def test_watch_starts_from_browse_and_the_palette(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        actions = {b.action for _, b in screen_commands(app.screen, app)}
        assert {"watch", "mark", "resolve", "rules", "sync"} <= actions
        await pilot.press("w")
        await pilot.pause()
        assert app.session.watching and app.session.watch_scheduled
        await pilot.press("w")
        await pilot.pause()
        assert not app.session.watching and not app.session.watch_scheduled
