"""Every key of every screen, generated from the same bindings the footer shows."""

from __future__ import annotations

from functools import lru_cache

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static


def binding_sections() -> list[tuple[str, list[Binding]]]:
    """(section title, bindings) in the order a user meets the screens."""
    from synctui.tui.app import SyncTuiApp
    from synctui.tui.screens.browse import BrowseScreen
    from synctui.tui.screens.conflict import ConflictScreen
    from synctui.tui.screens.history import HistoryScreen
    from synctui.tui.screens.preview import PreviewScreen
    from synctui.tui.screens.rules import RulesScreen
    from synctui.tui.screens.run import RunScreen

    sections = [("Everywhere", SyncTuiApp), ("Browse", BrowseScreen), ("Preview (dry run)", PreviewScreen),
                ("Rules", RulesScreen), ("Sync", RunScreen), ("Conflict", ConflictScreen),
                ("History", HistoryScreen)]
    out = []
    for title, cls in sections:
        out.append((title, [b for b in cls.BINDINGS if isinstance(b, Binding)]))
    out[0][1].append(Binding("ctrl+p", "command_palette", "Commands",
                             tooltip="Search every action of the current screen"))
    return out


@lru_cache(maxsize=4)
def keys_table(width: int) -> Table:
    """Built once per width: bindings never change while the app runs, and rebuilding
    it on every `?` cost ~30 ms of key latency during a sync."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="dim", max_width=max(20, width - 30))
    for title, bindings in binding_sections():
        table.add_row(Text(title, style="bold underline"), "", "")
        for b in bindings:
            keys = b.key_display or ", ".join(k.strip() for k in b.key.split(","))
            table.add_row(Text(keys), Text(b.description), Text(b.tooltip))
        table.add_row("", "", "")
    table.add_row(Text("Statuses", style="bold underline"), "", "")
    from synctui.tui.status import LOOKS

    for lk in LOOKS.values():
        table.add_row(Text(lk.symbol, style=lk.style), Text(lk.word), "")
    return table


class HelpScreen(Screen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close", key_display="esc",
                        tooltip="Back to where you were")]

    def compose(self) -> ComposeResult:
        yield Static(Text("synctui keys", style="bold"), id="help-title")
        with VerticalScroll(id="help-scroll"):
            yield Static(id="help-keys")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#help-keys", Static).update(keys_table(self.app.size.width))
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss()
