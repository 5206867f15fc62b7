"""One past sync in full: every count the history table abbreviates, its id and its note."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from synctui.format import count, human_bytes, human_duration

if TYPE_CHECKING:
    from synctui.sync.state import HistoryRow


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "–"


def sync_fields(row: HistoryRow) -> list[tuple[str, str]]:
    """(label, value) of everything the state database keeps about one sync (the pair is
    the screen's own: the history lists one pair)."""
    took = human_duration(row.ended - row.started) if row.ended else "–"
    return [
        ("sync id", row.sync_id),
        ("status", row.status),
        ("started", _when(row.started)),
        ("ended", _when(row.ended)),
        ("took", took),
        ("mode", row.mode or "–"),
        ("checked", count(row.checked or 0)),
        ("created", count(row.created or 0)),
        ("updated", count(row.updated or 0)),
        ("unchanged", count(row.skipped or 0)),
        ("deleted", count(row.deleted or 0)),
        ("conflicts", count(row.conflicts or 0)),
        ("errors", count(row.errors or 0)),
        ("written", human_bytes(row.bytes or 0)),
        ("note", row.note or "–"),
    ]


class SyncDetailScreen(ModalScreen[None]):
    """Opened by Enter on a history row."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="sync_detail.close", key_display="esc",
                        tooltip="Back to the history")]

    def __init__(self, row: HistoryRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        grid = Table.grid(padding=(0, 2), expand=True)
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold", ratio=1)
        for label, value in sync_fields(self.row):
            grid.add_row(label, Text(value))
        with Vertical(classes="dialog sync-detail-dialog"):
            yield Static(Text(f"Sync {self.row.sync_id}", style="bold", overflow="fold"),
                         classes="dialog-title")
            with VerticalScroll(id="sync-detail-scroll"):
                yield Static(grid, id="sync-detail")
            yield Static(Text("esc: close   ↑↓: scroll", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#sync-detail-scroll").focus()

    def action_close(self) -> None:
        self.dismiss()
