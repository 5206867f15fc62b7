"""Ask for a file path (save rules to / load rules from)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from synctui.tui.widgets.inputs import steady_input


class FilePromptScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="file.cancel", tooltip="Change nothing")]

    def __init__(self, title: str, path: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield steady_input(self.path, placeholder="path/to/rules.json", id="file-path")
            yield Static(id="file-problem", markup=False)
            yield Static(Text("enter: ok   esc: cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if not value:
            self.query_one("#file-problem", Static).update(Text("✗ a path is needed", style="bold red"))
            self.app.bell()
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
