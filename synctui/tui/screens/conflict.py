"""Decide a conflict: keep the target, take the source, or keep both (files only)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from synctui.sync.plan import EntityPlan

CHOICES = ("keep-target", "take-source", "keep-both")


class ConflictScreen(ModalScreen[str | None]):
    """Dismisses with one of ``CHOICES`` or None (escape)."""

    BINDINGS = [
        Binding("k", "choose('keep-target')", "Keep target", id="conflict.keep_target",
                tooltip="Leave the target's version as it is"),
        Binding("t", "choose('take-source')", "Take source", id="conflict.take_source",
                tooltip="Overwrite the target with the source's version"),
        Binding("o", "choose('keep-both')", "Keep both", id="conflict.keep_both",
                tooltip="Take the source, keep the target's version beside it as .conflict"),
        Binding("escape", "choose(None)", "Cancel", id="conflict.cancel", key_display="esc",
                tooltip="Decide later"),
    ]

    def __init__(self, entity: EntityPlan) -> None:
        super().__init__()
        self.entity = entity
        self.zarr = entity.kind.is_zarr

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog conflict-dialog"):
            yield Static(Text("Resolve the conflict", style="bold"), classes="dialog-title")
            body = Text(self.entity.target_path)
            body.append(f"\n{self.entity.reason}", style="dim")
            if self.zarr:
                body.append("\nkeep both works for files, not zarr stores", style="dim italic")
            yield Static(body, classes="dialog-body")
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
