"""Add or edit one filter: include/exclude, a dimension, a glob pattern."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Select, Static

from synctui.sync.rules import DIMENSIONS
from synctui.tui.rule_edits import filter_problem
from synctui.tui.screens.checked_dialog import CheckedDialog
from synctui.tui.widgets.inputs import steady_input

FilterResult = tuple[str, str, str]  # (include|exclude, dimension, pattern)


class FilterEditScreen(CheckedDialog[FilterResult]):
    FIELD_ID, PROBLEM_ID = "filter-pattern", "filter-problem"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="filter.cancel", tooltip="Change nothing")]

    def __init__(self, side: str = "exclude", dim: str = "runs", pattern: str = "") -> None:
        super().__init__()
        self.side = side
        self.dim = dim
        self.pattern = pattern

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

    def check(self) -> tuple[str | None, str]:
        self.pattern = self.query_one("#filter-pattern", Input).value.strip()
        verb = "exclude" if self.side == "exclude" else "include only"
        return filter_problem(self.dim, self.pattern), f"✓ {verb} {DIMENSIONS[self.dim]} {self.pattern}"

    def select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "filter-side" and isinstance(event.value, str):
            self.side = event.value
        elif event.select.id == "filter-dim" and isinstance(event.value, str):
            self.dim = event.value

    def result(self) -> FilterResult:
        return (self.side, self.dim, self.pattern)
