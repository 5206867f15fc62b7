"""Yes / no before anything that writes or stops: starting and cancelling a sync."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True (yes) or False (no, escape)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Go ahead"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", key_display="n/esc",
                tooltip="Leave things as they are"),
    ]

    def __init__(self, question: str | Text, *, details: Text | str | None = None,
                 yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.details = details
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            q = self.question if isinstance(self.question, Text) else Text(self.question, style="bold")
            yield Static(q, classes="dialog-title")
            if self.details:
                d = self.details if isinstance(self.details, Text) else Text(self.details)
                yield Static(d, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="primary")
                yield Button(f"{self.no_label} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
