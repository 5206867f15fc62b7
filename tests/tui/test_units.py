"""The app's pure parts: statuses, rule edits, preview rows, bindings and palette commands."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.binding import Binding

from synctui.project.layout import EntityRef, Kind
from synctui.sync.plan import Act, EntityPlan, FileAction, Plan, PlanOptions
from synctui.sync.rules import RuleSet
from synctui.tui import rule_edits
from synctui.tui.preview_rows import PAGE_SIZE, build_rows, page_count, page_of
from synctui.tui.status import LOOKS, counts_text, folder_status, node_label, worst

PICKS = EntityRef(Kind.PICKS, run="TS_001", user="alice", session="1", name="ribosome")
SEG = EntityRef(Kind.SEGMENTATION, run="TS_001", voxel_spacing=10.0, user="alice", session="1",
                name="membrane")


def test_every_status_has_a_distinct_symbol_readable_without_colour() -> None:
    symbols = [lk.symbol for lk in LOOKS.values()]
    assert len(symbols) == len(set(symbols))
    assert all(len(s) == 1 and not s.isspace() for s in symbols)
    for act in Act:
        assert act in LOOKS


def test_worst_and_counts() -> None:
    counts = {"skip": 3, "create": 2, "conflict": 1}
    assert worst(counts) == "conflict"
    assert counts_text(counts).plain == "!1 +2"
    assert counts_text(counts, include_same=True).plain == "!1 +2 ✓3"
    assert worst({}) == "unknown"


def test_a_folder_shows_what_the_sync_does_and_its_whole_mix() -> None:
    # 8 same and 2 excluded reads "✓ ... ✓8 -2", not "-": excluded is not the news
    counts = {"skip": 8, "excluded": 2}
    assert folder_status(counts) == "skip"
    assert counts_text(counts, include_same=True).plain == "✓8 -2"
    assert folder_status({"excluded": 3}) == "excluded"
    assert folder_status({"skip": 3, "create": 1}) == "create"
    assert counts_text({"create": 20081}).plain == "+20,081"


def test_the_app_sink_keeps_only_what_a_screen_shows() -> None:
    from synctui.sync.events import ItemFailed, ItemFinished, ItemSkipped, ItemStarted
    from synctui.tui.sink import ScreenSink

    sink = ScreenSink()
    for i in range(1000):
        sink.emit(ItemStarted(f"f{i}", 1))
        sink.emit(ItemFinished(f"f{i}", "create", 1))
    sink.emit(ItemSkipped("g", "unchanged"))
    sink.emit(ItemFailed("h", "disk full"))
    assert [type(e) for e in sink.drain()] == [ItemFailed]
    assert sink.emitted == 2002


def test_labels_never_parse_markup() -> None:
    label = node_label("create", "backup[/old]")
    assert isinstance(label, Text) and label.plain == "+ backup[/old]"


def test_scopes_for_an_entity_and_a_folder() -> None:
    labels = [s.label for s in rule_edits.scopes_for(PICKS)]
    assert labels == ["path ExperimentRuns/TS_001/Picks/alice_1_ribosome.json", "object ribosome",
                      "user alice", "session 1", "kind picks", "run TS_001"]
    seg = [s.dim for s in rule_edits.scopes_for(SEG)]
    assert seg == ["paths", "seg_names", "objects", "users", "sessions", "voxel_spacings", "kinds", "runs"]
    folder = rule_edits.scopes_for(None, run="TS_002", path="ExperimentRuns/TS_002/Picks")
    assert [s.label for s in folder] == ["path ExperimentRuns/TS_002/Picks", "run TS_002"]


def test_toggle_exclude_path_leaves_the_original_alone() -> None:
    rules = RuleSet()
    new, message = rule_edits.toggle_exclude_path(rules, PICKS.path)
    assert rules.is_empty and new.exclude == {"paths": [PICKS.path]} and message.startswith("excluded")
    back, message = rule_edits.toggle_exclude_path(new, PICKS.path)
    assert back.is_empty and message.startswith("included again")
    assert new.why_excluded(PICKS) is not None


def test_mapping_problems() -> None:
    rules = RuleSet()
    names = {"runs": {"TS_001", "TS_002"}, "objects": {"ribosome", "membrane"}}
    problem = rule_edits.mapping_problem
    assert problem(rules, "runs", "TS_001", "TS_001", names, {}) is None  # same name: no mapping
    assert problem(rules, "runs", "TS_001", "", names, {}) is None  # empty: remove
    assert "forbidden" in problem(rules, "runs", "TS_001", "a/b", names, {})
    assert problem(rules, "runs", "TS_001", "run_one", names, {}) is None  # runs may hold '_'
    assert "'_'" in problem(rules, "objects", "ribosome", "ribo_some", names, {})
    assert "both would land" in problem(rules, "runs", "TS_001", "TS_002", names, {})
    two = RuleSet(maps={"objects": {"membrane": "thing"}})
    assert "both mapped onto" in problem(two, "objects", "ribosome", "thing", names, {})
    # editing an existing mapping does not collide with itself
    assert problem(two, "objects", "membrane", "other", names, {}, replacing="membrane") is None
    new, message = rule_edits.set_mapping(two, "objects", "membranes", "thing", replacing="membrane")
    assert new.maps == {"objects": {"membranes": "thing"}}


def test_filter_problems() -> None:
    assert rule_edits.filter_problem("runs", " ") == "the pattern is empty"
    assert "unknown entity kind" in rule_edits.filter_problem("kinds", "bananas")
    assert rule_edits.filter_problem("kinds", "picks") is None
    assert "not a number" in rule_edits.filter_problem("voxel_spacings", "ten")
    assert rule_edits.filter_problem("voxel_spacings", "10") is None


def _plan(n_runs: int, per_run: int) -> Plan:
    plan = Plan("src", "dst", None, None, PlanOptions(), {})
    for r in range(n_runs):
        for i in range(per_run):
            ref = PICKS.with_(run=f"run{r}", user=f"u{i}")
            act = Act.CREATE if i % 2 else Act.SKIP
            files = [FileAction(Act.CREATE, ref.path, ref.path, 10, "new")] if act is Act.CREATE else []
            plan.entities.append(EntityPlan(act, Kind.PICKS, ref, ref, "not in target" if files
                                            else "unchanged", files=files, n_files=1, bytes=10))
    return plan


def test_preview_rows_group_filter_and_page() -> None:
    plan = _plan(3, 100)
    rows = build_rows(plan)
    assert len(rows) == 303 and [r.level for r in rows[:2]] == [0, 1]
    assert rows[0].item == "run0" and rows[0].status == "create"
    assert page_count(len(rows)) == 2 and len(page_of(rows, 1)) == 303 - PAGE_SIZE
    assert len(build_rows(plan, action="create")) == 153
    assert len(build_rows(plan, action="changes")) == 153
    assert len(build_rows(plan, action="conflict")) == 0
    assert [r.item for r in build_rows(plan, text="run1/picks/u1_")][:2] == ["run1", "Picks/u1_1_ribosome.json"]
    collapsed = build_rows(plan, collapsed={"r:run0"})
    assert len(collapsed) == 203
    first_create = next(r for r in rows if r.status == "create" and r.level == 1)
    expanded = build_rows(plan, expanded={first_create.key})
    assert len(expanded) == 304


def test_a_hundred_thousand_files_list_no_file_until_asked() -> None:
    """The preview of 100k files stays entity-sized (the rows of files appear only for the
    entity a user opens), and a page is a page; how long it takes is bench/'s business."""
    plan = _plan(100, 1000)
    rows = build_rows(plan, action="changes", text="u9")
    assert rows and len(page_of(rows, 0)) <= PAGE_SIZE
    wanted = [ep for ep in plan.entities if ep.action is Act.CREATE and "u9" in ep.target_path]
    assert len([row for row in rows if row.level == 1]) == len(wanted)
    assert all(row.level < 2 for row in rows)


def _screens():
    from synctui.tui.app import SyncTuiApp
    from synctui.tui.screens import (
        browse,
        compare,
        confirm,
        error,
        file_prompt,
        filter_edit,
        help,
        map_name,
        preview,
        rules,
        run,
        scope,
    )

    return [SyncTuiApp, browse.BrowseScreen, preview.PreviewScreen, rules.RulesScreen, run.RunScreen,
            help.HelpScreen, compare.CompareScreen, confirm.ConfirmScreen, error.ErrorScreen,
            file_prompt.FilePromptScreen, filter_edit.FilterEditScreen, map_name.MapNameScreen,
            scope.ScopeScreen]


@pytest.mark.parametrize("cls", _screens(), ids=lambda c: c.__name__)
def test_every_binding_has_an_id_a_description_and_a_tooltip(cls) -> None:
    assert cls.BINDINGS
    for binding in cls.BINDINGS:
        assert isinstance(binding, Binding)
        assert binding.id and binding.description and binding.tooltip, binding
        assert hasattr(cls, f"action_{binding.action.split('(')[0]}"), binding.action


def test_every_screen_action_is_a_palette_command() -> None:
    from synctui.tui.app import SyncTuiApp
    from synctui.tui.commands import screen_commands
    from synctui.tui.screens.browse import BrowseScreen
    from synctui.tui.screens.preview import PreviewScreen
    from synctui.tui.screens.rules import RulesScreen
    from synctui.tui.screens.run import RunScreen

    class Node:
        BINDINGS: list[Binding] = []

        def check_action(self, action: str, parameters: tuple) -> bool:
            return True

    for screen_cls in (BrowseScreen, PreviewScreen, RulesScreen, RunScreen):
        screen = type("S", (Node,), {"BINDINGS": screen_cls.BINDINGS})()
        app = type("A", (Node,), {"BINDINGS": SyncTuiApp.BINDINGS})()
        actions = {b.action for _, b in screen_commands(screen, app)}
        assert {b.action for b in screen_cls.BINDINGS} | {"help", "quit_app"} <= actions


def test_lifting_an_exclusion_names_each_rule_it_changes() -> None:
    from synctui.project.layout import EntityRef, Kind
    from synctui.sync.rules import RuleSet
    from synctui.tui.rule_edits import lift_exclusion

    ref = EntityRef(Kind.PICKS, run="TS_003", user="bot", session="0", name="ribosome")
    rules = RuleSet()
    rules.add_filter("exclude", "users", "bot")
    rules.add_filter("include", "runs", "TS_001")
    assert lift_exclusion(rules, EntityRef(Kind.PICKS, run="TS_001", user="alice", session="1",
                                           name="ribosome")) is None  # nothing keeps it out
    new, message = lift_exclusion(rules, ref)
    assert new.why_excluded(ref) is None
    assert new.exclude == {} and new.include == {"runs": ["TS_001", "TS_003"]}
    assert message == "included again: removed exclude user bot; added TS_003 to include-only runs"
    run_rules = RuleSet()
    run_rules.add_filter("exclude", "paths", "ExperimentRuns/TS_003")
    new, message = lift_exclusion(run_rules, run="TS_003", path="ExperimentRuns/TS_003")
    assert new.is_empty and "removed exclude path ExperimentRuns/TS_003" in message
