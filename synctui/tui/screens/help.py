"""Every key of every screen, generated from the same bindings the footer shows."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer, Static

#: (section title, registered screen name) in the order a user meets the screens
SECTIONS = [("Browse", "browse"), ("Preview (dry run)", "preview"), ("Rules", "rules"), ("Sync", "run"),
            ("Conflict", "conflict"), ("History", "history")]


def binding_sections(app_class: type[App[Any]]) -> list[tuple[str, list[Binding]]]:
    """(section title, bindings): the app's keys first, then each screen's."""
    from synctui.tui.screens import screen_class

    classes: list[tuple[str, type[DOMNode]]] = [("Everywhere", app_class)]
    classes += [(title, screen_class(name)) for title, name in SECTIONS]
    out = []
    for title, cls in classes:
        out.append((title, [b for b in cls.BINDINGS if isinstance(b, Binding)]))
    out[0][1].append(Binding("ctrl+p", "command_palette", "Commands",
                             tooltip="Search every action of the current screen"))
    return out


@lru_cache(maxsize=4)
def keys_table(width: int, app_class: type[App[Any]]) -> Table:
    """Built once per width: bindings never change while the app runs, and rebuilding
    it on every `?` cost ~30 ms of key latency during a sync."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="dim", max_width=max(20, width - 30))
    for title, bindings in binding_sections(app_class):
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
        self.query_one("#help-keys", Static).update(keys_table(self.app.size.width, type(self.app)))
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss()
