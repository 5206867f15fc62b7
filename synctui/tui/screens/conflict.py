"""Decide conflicts: keep the target, take the source, or keep both (files only).

One conflict shows both sides' size, modification time and who wrote it last; many
(the marked ones) are listed and get one decision.  Taking the source never loses
the target's version: the engine moves it into the trash first.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from synctui.sync.plan import EntityPlan
from synctui.tui.provenance import SideFacts

CHOICES = ("keep-target", "take-source", "keep-both")
#: paths listed in the dialog for many conflicts
LISTED = 5


def facts_table(source: SideFacts | None, target: SideFacts | None) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=False)
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("source", style="bold", overflow="fold")
    table.add_column("target", style="bold", overflow="fold")
    cells = [f.cells() if f is not None else ("-", "-", "-") for f in (source, target)]
    for i, label in enumerate(("size", "modified", "written by")):
        table.add_row(label, cells[0][i], cells[1][i])
    return table


class ConflictScreen(ModalScreen[str | None]):
    """Dismisses with one of ``CHOICES`` or None (escape)."""

    BINDINGS = [
        Binding("k", "choose('keep-target')", "Keep target", id="conflict.keep_target",
                tooltip="Leave the target's version as it is"),
        Binding("t", "choose('take-source')", "Take source", id="conflict.take_source",
                tooltip="Replace the target with the source's version (the target's goes to the trash)"),
        Binding("o", "choose('keep-both')", "Keep both", id="conflict.keep_both",
                tooltip="Take the source, keep the target's version beside it as .conflict"),
        Binding("escape", "choose(None)", "Cancel", id="conflict.cancel", key_display="esc",
                tooltip="Decide later"),
    ]

    def __init__(self, entities: EntityPlan | list[EntityPlan],
                 facts: tuple[SideFacts | None, SideFacts | None] | None = None) -> None:
        super().__init__()
        self.entities = entities if isinstance(entities, list) else [entities]
        self.entity = self.entities[0]
        self.facts = facts
        self.zarr = any(ep.kind.is_zarr for ep in self.entities)

    def compose(self) -> ComposeResult:
        many = len(self.entities) > 1
        with Vertical(classes="dialog conflict-dialog"):
            title = f"Resolve {len(self.entities)} marked conflicts" if many else "Resolve the conflict"
            yield Static(Text(title, style="bold"), classes="dialog-title")
            if many:
                body = Text()
                for ep in self.entities[:LISTED]:
                    body.append(f"{ep.target_path}\n")
                if len(self.entities) > LISTED:
                    body.append(f"… and {len(self.entities) - LISTED} more\n", style="dim")
                body.append("one decision for all of them", style="dim")
            else:
                body = Text(self.entity.target_path)
                body.append(f"\n{self.entity.reason}", style="dim")
            yield Static(body, classes="dialog-body", id="conflict-body")
            if not many and self.facts is not None:
                yield Static(facts_table(*self.facts), classes="dialog-body", id="conflict-facts")
            hint = Text("take source: the target's version goes to the trash first "
                        "(synctui trash restore)", style="dim")
            if self.zarr:
                hint.append("\nkeep both works for files, not zarr stores", style="dim italic")
            yield Static(hint, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep target (k)", id="keep-target", variant="primary")
                yield Button("Take source (t)", id="take-source")
                yield Button("Keep both (o)", id="keep-both", disabled=self.zarr)

    def on_mount(self) -> None:
        self.query_one("#keep-target", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id)

    def action_choose(self, choice: str | None) -> None:
        if choice == "keep-both" and self.zarr:
            self.notify("Keep both works for files, not zarr stores: keep or take one.",
                        severity="warning")
            return
        self.dismiss(choice)
