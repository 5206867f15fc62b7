"""The dry run: what the sync would do to every run, entity and file, and why.

Grouped by run, filterable by action and text, paged (one DataTable page of
``PAGE_SIZE`` rows at a time) so a plan of 100k files stays responsive.
"""

from __future__ import annotations

from rich.columns import Columns
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from synctui.format import count, human_bytes, middle_cut
from synctui.sync.plan import EntityPlan, Plan
from synctui.tui import rule_edits
from synctui.tui.marks import MarkRange, marked_label
from synctui.tui.messages import MarksChanged, PlanChanged, SyncEnded, SyncStarted
from synctui.tui.preview_rows import (
    ACTION_FILTERS,
    PAGE_SIZE,
    Row,
    build_rows,
    page_count,
    page_of,
)
from synctui.tui.session import UsesSession
from synctui.tui.status import badge, look
from synctui.tui.widgets.inputs import steady_input

_ARROWS = {True: "▸ ", False: "▾ "}


def preview_summary(plan: Plan) -> Columns | Text:
    """Each action present: symbol, count, word and bytes (wraps between actions only)."""
    items: list[Text] = []
    for act, c in plan.counts().items():
        if not (c.entities or c.files):
            continue
        lk = look(act)
        item = Text(f"{lk.symbol} {count(c.entities or c.files)} {act.value}", style=lk.style, no_wrap=True)
        if c.bytes:
            item.append(f" {human_bytes(c.bytes)}", style="dim")
        items.append(item)
    if not items:
        return Text("the source has nothing these rules would sync", style="dim")
    return Columns(items, padding=(0, 3))


def row_why(row: Row) -> Text:
    """The full path and reason of a row, for the line under the table."""
    out = Text()
    if row.file is not None:
        out.append(row.file.target_path)
    elif row.entity is not None:
        out.append(row.entity.source_path or row.entity.target_path)
        if row.entity.source is not None and row.entity.target != row.entity.source:
            out.append(f" → {row.entity.target_path}", style="italic")
    else:
        out.append(row.item, style="bold")
    out.append("  ")
    out.append(row.reason, style="dim")
    return out


class PreviewScreen(MarkRange, UsesSession, Screen[None]):
    """The plan as a paged table, with its reasons."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="preview.back", key_display="esc",
                tooltip="Back to the browser (in the filter box: back to the table)"),
        Binding("a", "next_action", "Show", id="preview.action",
                tooltip="Cycle the action filter: all, changes, create, update, delete ..."),
        Binding("A", "prev_action", "Show (back)", id="preview.action_back", key_display="A",
                show=False, tooltip="Cycle the action filter backwards"),
        Binding("slash", "focus_filter", "Filter", id="preview.filter", key_display="/",
                tooltip="Filter the rows by text (path, kind or reason)"),
        Binding("o", "toggle", "Open", id="preview.toggle",
                tooltip="Show or hide an entity's files, or a run's entities"),
        Binding("space", "mark", "Mark", id="preview.mark", show=False,
                tooltip="Mark or unmark the row's entity, or every entity of a run row"),
        Binding("shift+down", "mark_down", "Mark ↓", id="preview.mark_down", key_display="shift+↓",
                show=False, tooltip="Mark the row and move down (a range)"),
        Binding("shift+up", "mark_up", "Mark ↑", id="preview.mark_up", key_display="shift+↑",
                show=False, tooltip="Mark the row and move up (a range)"),
        Binding("U", "unmark_all", "Unmark all", id="preview.unmark", key_display="U", show=False,
                tooltip="Forget every mark"),
        Binding("enter", "details", "Details", id="preview.details", show=False,
                tooltip="Source and target of the entity side by side"),
        Binding("x", "exclude", "Exclude", id="preview.exclude",
                tooltip="Exclude the row's entity or run (again: include it back)"),
        Binding("right_square_bracket", "next_page", "Next", id="preview.next_page", key_display="]",
                tooltip=f"Next page ({PAGE_SIZE} rows a page)"),
        Binding("left_square_bracket", "prev_page", "Prev", id="preview.prev_page", key_display="[",
                show=False, tooltip="Previous page"),
        Binding("s", "sync", "Sync", id="preview.sync", tooltip="Run this plan (asks first)"),
        Binding("c", "conflict", "Resolve", id="preview.conflict",
                tooltip="Decide the marked conflicts at once (or the row's): keep target, take source, both"),
        Binding("r", "rules", "Rules", id="preview.rules", show=False,
                tooltip="Edit filters and mappings"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("exclude", "conflict") and self.session.sync_running:
            return False
        if action in ("mark", "mark_down", "mark_up") and isinstance(self.focused, Input):
            return False  # a space typed into the filter box
        return True

    def __init__(self) -> None:
        super().__init__()
        self.action_filter = "all"
        self.text_filter = ""
        self.page = 0
        self.rows: list[Row] = []
        self.page_rows: dict[str, Row] = {}
        self.collapsed: set[str] = set()
        self.expanded: set[str] = set()
        #: the item column's width (it follows the terminal)
        self._item_width = 28

    def compose(self) -> ComposeResult:
        yield Static(id="preview-title", markup=False)
        yield Static(id="preview-summary", markup=False)
        with Horizontal(id="preview-bar"):
            yield Static(id="preview-action", markup=False)
            yield steady_input(placeholder="filter… (/)", id="preview-filter")
            yield Static(id="preview-page", markup=False)
        yield DataTable(id="preview-table", cursor_type="row", zebra_stripes=False)
        yield Static(id="preview-why", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self._columns(table)
        table.focus()
        self.show_plan()

    def _columns(self, table: DataTable) -> None:
        # border 2, vertical scrollbar 1, cell padding 2 x 4 columns, action 12, size 9
        avail = max(80, self.app.size.width) - 2 - 1 - 8 - 12 - 9
        item = max(28, avail * 45 // 100)
        self._item_width = item
        table.clear(columns=True)
        table.add_column("action", width=12, key="action")
        table.add_column("item", width=item, key="item")
        table.add_column("size", width=9, key="size")
        table.add_column("why", width=max(10, avail - item), key="why")

    def on_resize(self) -> None:
        """Column widths follow the terminal."""
        keep = self._cursor_key()
        self._columns(self.query_one(DataTable))
        self.refresh_rows(keep=keep)

    # -- what the session says ----------------------------------------------------------------
    @on(PlanChanged)
    def _plan_changed(self, message: PlanChanged) -> None:
        if message.ready:
            self.show_plan()
        else:
            self._title()

    @on(MarksChanged)
    def _marks_changed(self) -> None:
        self._fill(self.query_one(DataTable).cursor_row)
        self._title()

    @on(SyncStarted)
    @on(SyncEnded)
    def _sync_changed(self) -> None:
        self.refresh_bindings()

    def show_plan(self) -> None:
        self._title()
        plan = self.session.plan
        self.query_one("#preview-summary", Static).update(
            preview_summary(plan) if plan is not None else Text("planning…", style="yellow"))
        self.refresh_rows(keep=self._cursor_key())

    def _title(self) -> None:
        session = self.session
        title = Text("Dry run  ", style="bold")
        title.append(session.sides["source"].config.label)
        title.append(" → ")
        title.append(session.sides["target"].config.label)
        if session.planning:
            title.append("   re-planning…", style="yellow")
        elif session.plan_error:
            title.append(f"   plan failed: {session.plan_error}", style="bold red")
        if session.marks:
            title.append(f"   {len(session.marks)} marked (c decides their conflicts)", style="bold")
        self.query_one("#preview-title", Static).update(title)

    # -- rows -------------------------------------------------------------------------------
    def _cursor_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)
        except Exception:  # noqa: BLE001 - an empty or shrinking table has no cursor
            return None

    def current_row(self) -> Row | None:
        key = self._cursor_key()
        return self.page_rows.get(key) if key else None

    def refresh_rows(self, keep: str | None = None) -> None:
        """Rebuild the visible rows and show the page holding ``keep`` (or the current one)."""
        plan = self.session.plan
        self.rows = build_rows(plan, action=self.action_filter, text=self.text_filter,
                               collapsed=self.collapsed, expanded=self.expanded) if plan else []
        pages = page_count(len(self.rows))
        cursor = 0
        if keep is not None:
            for i, row in enumerate(self.rows):
                if row.key == keep:
                    self.page, cursor = divmod(i, PAGE_SIZE)
                    break
        self.page = min(self.page, pages - 1)
        self._fill(cursor)

    def _fill(self, cursor: int = 0) -> None:
        table = self.query_one(DataTable)
        rows = page_of(self.rows, self.page)
        self.page_rows = {r.key: r for r in rows}
        with self.app.batch_update():
            table.clear()
            for row in rows:
                table.add_row(*self._cells(row), key=row.key)
            if rows:
                cursor = min(cursor, len(rows) - 1)
                table.move_cursor(row=cursor, animate=False)
            self.query_one("#preview-why", Static).update(row_why(rows[cursor]) if rows else Text(""))
        label = Text("show ", style="dim")
        label.append(self.action_filter, style="bold")
        label.append(" (a)", style="dim")
        self.query_one("#preview-action", Static).update(label)
        pages = page_count(len(self.rows))
        start = self.page * PAGE_SIZE
        info = (f"page {self.page + 1}/{pages} · {count(start + 1)}-{count(start + len(rows))} of "
                f"{count(len(self.rows))}"
                if rows else "no rows")
        self.query_one("#preview-page", Static).update(Text(info, style="dim"))

    def _cells(self, row: Row) -> tuple[Text, Text, Text, Text]:
        # long paths lose their middle, never the end that tells two of them apart
        width = self._item_width
        if row.level == 0:
            item = Text(_ARROWS[row.key in self.collapsed], style="bold")
            item.append(middle_cut(row.item, width - len(item)), style="bold")
        elif row.level == 1:
            item = Text("  ")
            item.append(_ARROWS[row.key not in self.expanded] if row.expandable else "  ")
            item.append(middle_cut(row.item, width - len(item)))
        else:
            item = Text("      ")
            item.append(middle_cut(row.item, width - len(item)), style="dim")
        shown = row.size is not None and (row.size or (row.level and row.status not in ("skip", "exists")))
        size = Text(human_bytes(row.size or 0) if shown else "", justify="right")
        marked = row.level == 1 and row.entity is not None and row.entity.target_path in self.session.marks
        return (marked_label(badge(row.status), marked), item, size,
                Text(row.reason, style="dim" if row.level == 0 else ""))

    # -- filter box -------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.text_filter = event.value
        self.page = 0
        self.refresh_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = self.page_rows.get(str(event.row_key.value))
        self.query_one("#preview-why", Static).update(row_why(row) if row else Text(""))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    # -- actions -----------------------------------------------------------------------------
    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(DataTable).focus()
            return
        self.dismiss()

    def _cycle(self, step: int) -> None:
        i = ACTION_FILTERS.index(self.action_filter)
        self.action_filter = ACTION_FILTERS[(i + step) % len(ACTION_FILTERS)]
        self.page = 0
        self.refresh_rows()

    def action_next_action(self) -> None:
        self._cycle(1)

    def action_prev_action(self) -> None:
        self._cycle(-1)

    def action_focus_filter(self) -> None:
        self.query_one("#preview-filter", Input).focus()

    def action_next_page(self) -> None:
        if self.page + 1 < page_count(len(self.rows)):
            self.page += 1
            self._fill()

    def action_prev_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self._fill()

    def action_toggle(self) -> None:
        row = self.current_row()
        if row is None:
            return
        if row.level == 0:
            self.collapsed ^= {row.key}
            self.refresh_rows(keep=row.key)
        elif row.level == 1 and row.expandable:
            self.expanded ^= {row.key}
            self.refresh_rows(keep=row.key)
        elif row.level == 2:
            parent = row.key.split(".", 1)[0]
            self.expanded.discard(parent)
            self.refresh_rows(keep=parent)

    def action_details(self) -> None:
        row = self.current_row()
        view = self.session.view
        if row is None or view is None:
            return
        if row.entity is None:
            self.action_toggle()
            return
        from synctui.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(view, row.entity))

    def action_exclude(self) -> None:
        """Exclude the row's entity or run; on an excluded one, lift the rules that keep it out."""
        row = self.current_row()
        if row is None:
            return
        rules = self.session.rules
        if row.entity is not None:
            ep = row.entity
            if ep.source is None:
                self.notify("Not from the source: rules choose among the source's entities.",
                            severity="warning")
                return
            path = ep.source.path
            lifted = rule_edits.lift_exclusion(rules, ep.source)
        elif row.level == 0 and row.run and not row.run.startswith("("):
            src_run = rules.inverse().map_name("runs", row.run)
            path = f"ExperimentRuns/{src_run}"
            lifted = rule_edits.lift_exclusion(rules, run=src_run, path=path)
        else:
            self.notify("Pick a run or an entity row.", severity="warning")
            return
        if lifted is not None:
            self.session.apply_rules(*lifted)
            return
        new, message = rule_edits.toggle_exclude_path(rules, path)
        self.session.apply_rules(new, message)

    def action_sync(self) -> None:
        from synctui.tui.screens.run import request_sync

        request_sync(self)

    def action_rules(self) -> None:
        from synctui.tui.screens.rules import RulesScreen

        self.app.push_screen(RulesScreen())

    def action_conflict(self) -> None:
        from synctui.tui.resolve import request_resolve

        row = self.current_row()
        request_resolve(self, row.entity if row is not None and row.level == 1 else None)

    # -- marks --------------------------------------------------------------------------------
    def _row_plans(self, row: Row | None) -> list[EntityPlan]:
        if row is None:
            return []
        if row.level == 0 and row.run is not None:  # the run's entities under the current filters
            plan = self.session.plan
            rows = build_rows(plan, action=self.action_filter, text=self.text_filter) if plan else []
            return [r.entity for r in rows if r.level == 1 and r.run == row.run and r.entity is not None]
        return [row.entity] if row.entity is not None else []

    def action_mark(self) -> None:
        eps = self._row_plans(self.current_row())
        if eps:
            self.session.toggle_marks(eps)

    def _mark_and_move(self, step: int) -> None:
        table = self.query_one(DataTable)
        eps = self._row_plans(self.current_row())
        if eps:
            self.session.set_marks(eps, True)
        table.move_cursor(row=max(0, table.cursor_row + step), animate=False)
