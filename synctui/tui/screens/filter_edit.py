"""Add or edit one filter: include/exclude, a dimension, a glob pattern."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

from synctui.sync.rules import DIMENSIONS
from synctui.tui.rule_edits import filter_problem
from synctui.tui.widgets.inputs import steady_input

FilterResult = tuple[str, str, str]  # (include|exclude, dimension, pattern)


class FilterEditScreen(ModalScreen[FilterResult | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="filter.cancel", tooltip="Change nothing")]

    def __init__(self, side: str = "exclude", dim: str = "runs", pattern: str = "") -> None:
        super().__init__()
        self.side = side
        self.dim = dim
        self.pattern = pattern
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Filter", style="bold"), classes="dialog-title")
            with Horizontal(classes="dialog-row"):
                yield Select([("exclude", "exclude"), ("include only", "include")], value=self.side,
                             allow_blank=False, compact=True, id="filter-side")
                yield Select([(label, d) for d, label in DIMENSIONS.items()], value=self.dim,
                             allow_blank=False, compact=True, id="filter-dim")
            yield steady_input(self.pattern, placeholder="pattern (globs: TS_0*, alice, 10.000)",
                        id="filter-pattern")
            yield Static(id="filter-problem", markup=False)
            yield Static(Text("enter: apply   esc: cancel   tab: next field", style="dim"),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#filter-pattern", Input).focus()
        self._validate()

    def _validate(self) -> None:
        self.pattern = self.query_one("#filter-pattern", Input).value.strip()
        self.problem = filter_problem(self.dim, self.pattern)
        self.query_one("#filter-pattern", Input).set_class(self.problem is not None, "-invalid")
        out = self.query_one("#filter-problem", Static)
        if self.problem:
            out.update(Text(f"✗ {self.problem}", style="bold red"))
        else:
            verb = "exclude" if self.side == "exclude" else "include only"
            out.update(Text(f"✓ {verb} {DIMENSIONS[self.dim]} {self.pattern}", style="green"))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "filter-side" and isinstance(event.value, str):
            self.side = event.value
        elif event.select.id == "filter-dim" and isinstance(event.value, str):
            self.dim = event.value
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._validate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._validate()
        if self.problem:
            self.app.bell()
            return
        self.dismiss((self.side, self.dim, self.pattern))

    def action_cancel(self) -> None:
        self.dismiss(None)
