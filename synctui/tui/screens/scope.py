"""Pick what a filter covers: this entity, its run, object, user, kind ..."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from synctui.tui.rule_edits import Scope


class ScopeScreen(ModalScreen[Scope | None]):
    """An option per scope; Enter picks, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="scope.cancel", tooltip="Add no filter")]

    def __init__(self, title: str, scopes: list[Scope], notes: dict[str, str] | None = None) -> None:
        """``notes``: a line under each scope of that dimension (include-only: the kinds
        its filter does not apply to)."""
        super().__init__()
        self.title_text = title
        self.scopes = scopes
        self.notes = notes or {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            options = [Option(self._label(scope), id=str(i)) for i, scope in enumerate(self.scopes)]
            yield OptionList(*options, id="scope-options")
            yield Static(Text("enter: choose   esc: cancel", style="dim"), classes="dialog-hint")

    def _label(self, scope: Scope) -> Text:
        label = Text(scope.label)
        if note := self.notes.get(scope.dim):
            label.append(f"\n  {note}", style="dim yellow")
        return label

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.scopes[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)
