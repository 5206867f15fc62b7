"""Give a run, object, user ... another name in the target, checked as you type.

Names copick would reject and mappings that make two entities collide are
refused inline, before anything is planned.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Select, Static

from synctui.project.layout import EntityRef
from synctui.sync.rules import MAP_DIMENSIONS, RuleSet
from synctui.tui.rule_edits import mapping_problem
from synctui.tui.screens.checked_dialog import CheckedDialog
from synctui.tui.widgets.inputs import steady_input

MapResult = tuple[str, str, str]  # (dimension, source name, target name; "" = keep)


class MapNameScreen(CheckedDialog[MapResult]):
    """Pick what to rename (when there is a choice), type the new name, Enter."""

    FIELD_ID, PROBLEM_ID = "map-dest", "map-problem"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="map.cancel", tooltip="Change nothing")]

    def __init__(self, rules: RuleSet, *, choices: list[tuple[str, str]] | None = None,
                 dim: str | None = None, source: str = "", dest: str | None = None,
                 source_editable: bool = False,
                 source_names: dict[str, set[str]] | None = None,
                 target_names: dict[str, set[str]] | None = None,
                 source_refs: Iterable[EntityRef] | None = None,
                 target_refs: Container[EntityRef] | None = None) -> None:
        """``source_refs``/``target_refs``: both projects' entities, so a name only the
        target has is refused when a renamed entity would land on one of the target's."""
        super().__init__()
        self.rules = rules
        self.choices = choices or []
        self.source_editable = source_editable or not self.choices
        self.dim = dim or (self.choices[0][0] if self.choices else "runs")
        self.source = source or (self.choices[0][1] if self.choices else "")
        self.replacing = source if source_editable and source else None
        self.initial_dest = dest
        self.source_names = source_names
        self.target_names = target_names
        self.source_refs = source_refs
        self.target_refs = target_refs

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Map a name in the target", style="bold"), classes="dialog-title")
            if self.source_editable:
                yield Select([(label, d) for d, label in MAP_DIMENSIONS.items()], value=self.dim,
                             allow_blank=False, compact=True, id="map-dim")
                yield steady_input(self.source, placeholder="source name", id="map-source")
            elif len(self.choices) > 1:
                options = [(f"{MAP_DIMENSIONS[d]} {name}", i) for i, (d, name) in enumerate(self.choices)]
                yield Select(options, value=0, allow_blank=False, compact=True, id="map-choice")
            else:
                yield Static(Text(f"{MAP_DIMENSIONS[self.dim]} {self.source}"), id="map-what")
            yield steady_input(self._current_dest(), placeholder="target name (empty: keep the name)",
                        id="map-dest")
            yield Static(id="map-problem", markup=False)
            yield Static(Text("enter: apply   esc: cancel   empty: remove the mapping", style="dim"),
                         classes="dialog-hint")

    def _current_dest(self) -> str:
        if self.initial_dest is not None:
            return self.initial_dest
        return self.rules.maps.get(self.dim, {}).get(self.source, self.source)

    def check(self) -> tuple[str | None, str]:
        dest = self.query_one("#map-dest", Input).value.strip()
        if self.source_editable:
            self.source = self.query_one("#map-source", Input).value.strip()
        problem = mapping_problem(self.rules, self.dim, self.source, dest, self.source_names,
                                  self.target_names, replacing=self.replacing,
                                  source_refs=self.source_refs, target_refs=self.target_refs)
        if not dest or dest == self.source:
            return problem, f"✓ {self.source or '…'} keeps its name"
        return problem, f"✓ {self.source} → {dest}"

    def select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "map-choice" and isinstance(event.value, int):
            self.dim, self.source = self.choices[event.value]
            self.query_one("#map-dest", Input).value = self.rules.maps.get(self.dim, {}).get(
                self.source, self.source)
        elif event.select.id == "map-dim" and isinstance(event.value, str):
            self.dim = event.value

    def result(self) -> MapResult:
        return (self.dim, self.source, self.query_one("#map-dest", Input).value.strip())
