"""Past syncs of this source -> target pair, newest first, from the state database."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from synctui.format import human_bytes, human_duration
from synctui.tui.session import UsesSession

if TYPE_CHECKING:
    from synctui.sync.state import HistoryRow

HISTORY_LIMIT = 200
COLUMNS = ("started", "status", "created", "updated", "deleted", "conflicts", "errors", "bytes", "took")
#: below ``WIDE`` columns the counts get short headers so every column fits in 80
SHORT = {"created": "cre", "updated": "upd", "deleted": "del", "conflicts": "confl", "errors": "err"}
WIDE = 100
_STATUS_STYLES = {"ok": "green", "partial": "yellow", "failed": "bold red", "cancelled": "yellow",
                  "running": "cyan", "interrupted": "bold red"}


def history_cells(row: HistoryRow) -> tuple[Text, ...]:
    """One table row: local start time, status and counts (numbers right-aligned)."""
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.started))
    took = human_duration(row.ended - row.started) if row.ended else "–"

    def num(n: int | None) -> Text:
        return Text(str(n or 0), justify="right", style="" if n else "dim")

    return (Text(started), Text(row.status, style=_STATUS_STYLES.get(row.status, "")),
            num(row.created), num(row.updated), num(row.deleted), num(row.conflicts),
            Text(str(row.errors or 0), justify="right", style="bold red" if row.errors else "dim"),
            Text(human_bytes(row.bytes or 0), justify="right"), Text(took, justify="right"))


class HistoryScreen(UsesSession, Screen[None]):
    """A table of the past syncs of the app's pair (loaded in a thread)."""

    BINDINGS = [
        Binding("escape,b", "back", "Back", id="history.back", key_display="esc",
                tooltip="Back to where you were"),
        Binding("R", "reload", "Reload", id="history.reload", key_display="R",
                tooltip="Read the history again"),
        # priority: the table's own Enter would hide it from the footer
        Binding("enter", "open", "Open", id="history.open", key_display="enter", priority=True,
                tooltip="Everything about the highlighted sync"),
    ]

    def __init__(self) -> None:
        super().__init__()
        #: row key -> the history note of that sync ("" when there is none)
        self._notes: dict[str, str] = {}
        #: row key -> the sync it shows (Enter opens it)
        self._rows: dict[str, HistoryRow] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="history-title", markup=False)
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=False)
        yield Static(id="history-note", markup=False)
        yield Static(id="history-status", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        wide = self.app.size.width >= WIDE
        for name in COLUMNS:
            label = name if wide else SHORT.get(name, name)
            table.add_column(Text(label, justify="left" if name in ("started", "status") else "right"),
                             key=name)
        title = Text("History  ", style="bold")
        title.append(self.session.sides["source"].config.label)
        title.append(" → ")
        title.append(self.session.sides["target"].config.label)
        self.query_one("#history-title", Static).update(title)
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#history-status", Static).update(Text("loading…", style="dim"))
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="history")
    def _load(self) -> None:
        job = self.session.job
        db = job.state
        if db is None:
            self.app.call_from_thread(self.show_rows, None)
            return
        source, target = job.pair_key
        rows = [r for r in db.history(source=source, target=target, limit=HISTORY_LIMIT)
                if (r.source, r.target) == (source, target)]
        self.app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[HistoryRow] | None) -> None:
        table = self.query_one(DataTable)
        status = self.query_one("#history-status", Static)
        table.clear()
        self._notes = {f"{i}:{row.sync_id}": row.note or "" for i, row in enumerate(rows or ())}
        self._rows = {f"{i}:{row.sync_id}": row for i, row in enumerate(rows or ())}
        if rows is None:
            status.update(Text("the state database is off for this job: no history", style="dim"))
            return
        for i, row in enumerate(rows):
            table.add_row(*history_cells(row), key=f"{i}:{row.sync_id}")
        legend = "" if self.app.size.width >= WIDE else " · new/upd/del = created/updated/deleted"
        status.update(Text(f"{len(rows)} past sync(s), newest first{legend}" if rows
                           else "no syncs of this pair yet", style="dim"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """What the counts do not say (a lock broken on the way in, entities destroyed)."""
        note = self._notes.get(str(event.row_key.value), "")
        widget = self.query_one("#history-note", Static)
        widget.update(Text(note, style="yellow"))
        widget.display = bool(note)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        row = self._rows.get(str(key))
        if row is not None:
            from synctui.tui.screens import make

            self.app.push_screen(make("sync-detail", row))

    def action_back(self) -> None:
        self.dismiss()
