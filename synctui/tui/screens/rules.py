"""Every filter and mapping as an editable table; save to and load from a rules file."""

from __future__ import annotations

import os

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from synctui.errors import SyncTuiError
from synctui.sync.rules import DIMENSIONS, MAP_DIMENSIONS, POLICIES, RuleSet, filter_reach
from synctui.tui import rule_edits
from synctui.tui.messages import PlanChanged
from synctui.tui.session import UsesSession
from synctui.tui.widgets.projects_header import short_path


def filter_rows(rules: RuleSet) -> list[tuple[str, str, str]]:
    """(include|exclude, dimension, pattern), excludes first as they win."""
    out = [("exclude", dim, p) for dim, ps in rules.exclude.items() for p in ps]
    out += [("include", dim, p) for dim, ps in rules.include.items() for p in ps]
    return out


def mapping_rows(rules: RuleSet) -> list[tuple[str, str, str]]:
    return [(dim, src, dst) for dim, m in rules.maps.items() for src, dst in m.items()]


class RulesScreen(UsesSession, Screen[None]):
    """Filters on top, mappings below; Tab moves between them."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="rules.back", key_display="esc",
                tooltip="Back (the plan already follows every change)"),
        Binding("a", "add", "Add", id="rules.add", tooltip="Add a filter or a mapping to the focused table"),
        Binding("e", "edit", "Edit", id="rules.edit", tooltip="Edit the highlighted filter or mapping"),
        Binding("d,delete", "delete", "Delete", id="rules.delete", key_display="d",
                tooltip="Delete the highlighted filter or mapping"),
        Binding("o", "overwrite", "Overwrite", id="rules.overwrite",
                tooltip="Cycle the overwrite policy: never, if-changed, always"),
        Binding("w", "save", "Save", id="rules.save", tooltip="Save the rules to a file"),
        Binding("l", "load", "Load", id="rules.load", tooltip="Load rules from a file (replaces these)"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="rules-title", markup=False)
        with Vertical(id="rules-tables"):
            yield DataTable(id="filters-table", cursor_type="row")
            yield DataTable(id="maps-table", cursor_type="row")
        yield Static(id="rules-reach", markup=False)
        yield Static(id="rules-policy", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        filters = self.query_one("#filters-table", DataTable)
        filters.border_title = "filters"
        filters.add_column("rule", width=12, key="rule")
        filters.add_column("what", width=24, key="what")
        filters.add_column("pattern", key="pattern")
        maps = self.query_one("#maps-table", DataTable)
        maps.border_title = "mappings (source → target)"
        maps.add_column("what", width=18, key="what")
        maps.add_column("source", width=20, key="source")
        maps.add_column("target", key="target")
        filters.focus()
        self.show_rules()

    # -- what the session says ----------------------------------------------------------------
    @on(PlanChanged)
    def _plan_changed(self) -> None:
        self.show_rules()

    def show_rules(self) -> None:
        rules = self.session.rules
        for table_id, rows, render in (
                ("#filters-table", filter_rows(rules), self._filter_cells),
                ("#maps-table", mapping_rows(rules), self._map_cells)):
            table = self.query_one(table_id, DataTable)
            cursor = table.cursor_row
            table.clear()
            for i, row in enumerate(rows):
                table.add_row(*render(row), key=str(i))
            if rows:
                table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
        self._title()
        self._show_reach()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "filters-table":
            self._show_reach()

    def _show_reach(self) -> None:
        """What the highlighted include-only filter leaves alone (it syncs those kinds anyway)."""
        row = self._selected("filters")
        reach = filter_reach(row[1]) if row is not None and row[0] == "include" else None
        text = Text(f"include only {DIMENSIONS[row[1]]} {row[2]}: ", style="bold") if reach and row else Text()
        if reach:
            text.append(reach, style="yellow")
        self.query_one("#rules-reach", Static).update(text)

    def _title(self) -> None:
        session = self.session
        title = Text("Rules", style="bold")
        if session.rules_unsaved:
            title.append("   ● unsaved changes (w saves)", style="bold yellow")
        title.append(f"   file: {short_path(session.rules_file) if session.rules_file else '(none)'}",
                     style="dim")
        if session.planning:
            title.append("   re-planning…", style="yellow")
        elif session.plan is not None:
            title.append("   plan: ", style="dim")
            title.append("nothing to do" if session.plan.is_noop else
                         f"{session.plan.transfer_files} files to move", style="")
        self.query_one("#rules-title", Static).update(title)
        rules = session.rules
        policy = Text("overwrite ", style="dim")
        policy.append(rules.overwrite, style="bold")
        policy.append(" (o)", style="dim")
        for kind, p in sorted(rules.overwrite_by_kind.items()):
            policy.append(f" · {kind}: {p}", style="dim")
        self.query_one("#rules-policy", Static).update(policy)

    @staticmethod
    def _filter_cells(row: tuple[str, str, str]) -> tuple[Text, Text, Text]:
        side, dim, pattern = row
        style = "bold red" if side == "exclude" else "bold green"
        what = Text(DIMENSIONS.get(dim, dim))
        if side == "include" and filter_reach(dim):
            what.append(" (some kinds)", style="yellow")  # the line under the tables says which
        return (Text(side if side == "exclude" else "include only", style=style), what, Text(pattern))

    @staticmethod
    def _map_cells(row: tuple[str, str, str]) -> tuple[Text, Text, Text]:
        dim, src, dst = row
        return Text(MAP_DIMENSIONS.get(dim, dim)), Text(src), Text(dst, style="bold")

    # -- helpers -----------------------------------------------------------------------------
    def _focused_table(self) -> str:
        focused = self.focused
        return "maps" if isinstance(focused, DataTable) and focused.id == "maps-table" else "filters"

    def _selected(self, which: str) -> tuple[str, str, str] | None:
        rows = filter_rows(self.session.rules) if which == "filters" else mapping_rows(self.session.rules)
        table = self.query_one(f"#{which}-table", DataTable)
        if not rows or table.cursor_row >= len(rows):
            return None
        return rows[table.cursor_row]

    def _edit_filter(self, old: tuple[str, str, str] | None) -> None:
        from synctui.tui.screens.filter_edit import FilterEditScreen, FilterResult

        def done(result: FilterResult | None) -> None:
            if result is None or result == old:
                return
            rules = self.session.rules.copy()
            if old is not None:
                rules.remove_filter(*old)
            try:
                rules.add_filter(*result)
            except SyncTuiError as exc:
                self.notify(str(exc), severity="error")
                return
            side, dim, pattern = result
            self.session.apply_rules(rules, f"{side} {DIMENSIONS[dim]} {pattern}")

        screen = FilterEditScreen(*old) if old else FilterEditScreen()
        self.app.push_screen(screen, done)

    def _edit_mapping(self, old: tuple[str, str, str] | None) -> None:
        from synctui.tui.screens.map_name import MapNameScreen, MapResult

        view = self.session.view
        dim, src, dst = old if old else ("runs", "", "")

        def done(result: MapResult | None) -> None:
            if result is None:
                return
            rules, message = rule_edits.set_mapping(self.session.rules, *result,
                                                    replacing=src if old else None)
            self.session.apply_rules(rules, message)

        self.app.push_screen(MapNameScreen(
            self.session.rules, dim=dim, source=src, dest=dst, source_editable=True,
            source_names=view.source_names if view else None,
            target_names=view.target_names if view else None,
            source_refs=view.source.catalog.entities if view else None,
            target_refs=view.target.catalog.entities if view else None), done)

    # -- actions -----------------------------------------------------------------------------
    def action_back(self) -> None:
        self.dismiss()

    def action_add(self) -> None:
        if self._focused_table() == "filters":
            self._edit_filter(None)
        else:
            self._edit_mapping(None)

    def action_edit(self) -> None:
        which = self._focused_table()
        row = self._selected(which)
        if row is None:
            self.action_add()
        elif which == "filters":
            self._edit_filter(row)
        else:
            self._edit_mapping(row)

    def action_delete(self) -> None:
        which = self._focused_table()
        row = self._selected(which)
        if row is None:
            return
        rules = self.session.rules.copy()
        if which == "filters":
            rules.remove_filter(*row)
            message = f"removed {row[0]} {DIMENSIONS[row[1]]} {row[2]}"
        else:
            rules.set_mapping(row[0], row[1], None)
            message = f"removed mapping {MAP_DIMENSIONS[row[0]]} {row[1]} → {row[2]}"
        self.session.apply_rules(rules, message)

    def action_overwrite(self) -> None:
        rules = self.session.rules.copy()
        rules.overwrite = POLICIES[(POLICIES.index(rules.overwrite) + 1) % len(POLICIES)]
        self.session.apply_rules(rules, f"overwrite: {rules.overwrite}")

    def action_save(self) -> None:
        from synctui.tui.screens.file_prompt import FilePromptScreen

        def save(path: str | None) -> None:
            if not path:
                return
            path = os.path.expanduser(path)
            try:
                self.session.rules.save(path)
            except (SyncTuiError, OSError) as exc:
                self.notify(f"Cannot save {path}: {exc}", severity="error")
                return
            self.session.rules_saved(path)
            self.notify(f"Rules saved to {path}")
            self._title()

        self.app.push_screen(FilePromptScreen("Save rules to", self.session.rules_file or "rules.json"), save)

    def action_load(self) -> None:
        from synctui.tui.screens.file_prompt import FilePromptScreen

        def load(path: str | None) -> None:
            if not path:
                return
            path = os.path.expanduser(path)
            try:
                rules = RuleSet.load(path)
            except SyncTuiError as exc:
                self.notify(str(exc), severity="error")
                return
            if self.session.apply_rules(rules, f"Rules loaded from {path}"):
                self.session.rules_saved(path, rules)

        self.app.push_screen(FilePromptScreen("Load rules from", self.session.rules_file or "rules.json"), load)
