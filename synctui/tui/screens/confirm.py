"""Yes / no before anything that writes or stops: starting and cancelling a sync; a typed
answer before what a key press must not do alone (a prune of most of the target)."""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


def heading(question: str | Text, details: Text | str | None) -> Iterator[Static]:
    """A dialog's bold question and, if any, the details under it."""
    yield Static(question if isinstance(question, Text) else Text(question, style="bold"),
                 classes="dialog-title")
    if details:
        yield Static(details if isinstance(details, Text) else Text(details), classes="dialog-body")


class QuestionDialog(ModalScreen[bool]):
    """A question, its details and the answer's label: what both dialogs hold."""

    def __init__(self, question: str | Text, *, details: Text | str | None, yes: str) -> None:
        super().__init__()
        self.question = question
        self.details = details
        self.yes_label = yes


class ConfirmScreen(QuestionDialog):
    """Dismisses with True (yes) or False (no, escape)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Go ahead"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", key_display="n/esc",
                tooltip="Leave things as they are"),
    ]

    def __init__(self, question: str | Text, *, details: Text | str | None = None,
                 yes: str = "Yes", no: str = "No") -> None:
        super().__init__(question, details=details, yes=yes)
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield from heading(self.question, self.details)
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


class TypedConfirmScreen(QuestionDialog):
    """For what cannot be taken back by a key press: the user types ``expected`` (the
    number of entities a prune removes, say) and Enter.  Anything else keeps the dialog
    open; escape dismisses with False."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="typed-confirm.cancel", key_display="esc",
                        tooltip="Leave things as they are")]

    def __init__(self, question: str | Text, expected: str, *, details: Text | str | None = None,
                 yes: str = "Go ahead") -> None:
        super().__init__(question, details=details, yes=yes)
        self.expected = expected

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield from heading(self.question, self.details)
            yield Static(Text(f"Type {self.expected} and Enter to {self.yes_label.lower()}; esc leaves it.",
                              style="bold"), id="typed-confirm-hint", classes="dialog-body")
            yield Input(placeholder=self.expected, id="typed-confirm-input")

    def on_mount(self) -> None:
        self.query_one("#typed-confirm-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.expected:
            self.dismiss(True)
            return
        event.input.value = ""
        self.query_one("#typed-confirm-hint", Static).update(
            Text(f"That is not {self.expected}. Type {self.expected} and Enter, or esc to leave it.",
                 style="bold red"))

    def action_cancel(self) -> None:
        self.dismiss(False)
