"""One entity, source next to target, with the plan's decision and reason.

Opened by Enter on an entity in browse and on a row in the preview.  The pane
takes the whole dialog, wraps every value and scrolls (↑↓, PgUp/PgDn)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from synctui.project.layout import EntityRef
from synctui.sync.plan import EntityPlan
from synctui.tui.inspection import Shown, inspect_pair
from synctui.tui.status import PlanView, plan_line
from synctui.tui.widgets.detail_pane import DetailPane


class CompareScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="compare.close", key_display="esc",
                        tooltip="Back to the list"),
                Binding("c", "resolve", "Resolve", id="compare.resolve",
                        tooltip="Decide this conflict (or every marked one): keep target, take source, both")]

    def __init__(self, view: PlanView, ep: EntityPlan | None, *, target: EntityRef | None = None) -> None:
        """``ep`` None: an entity only the target has (``target``), which no rule touches."""
        super().__init__()
        self.view = view
        self.ep = ep
        self.target_only = target if ep is None else None

    @property
    def _line(self) -> Text:
        return plan_line(self.ep, side="target" if self.ep is None else "source")

    def compose(self) -> ComposeResult:
        ep = self.ep
        if ep is None:
            path = self.target_only.path if self.target_only is not None else ""
        else:
            path = ep.target_path if ep.source is None else ep.source_path or ""
        with Vertical(classes="dialog compare-dialog"):
            yield Static(Text(path, style="bold", overflow="fold"), classes="dialog-title")
            yield DetailPane(id="compare-detail")
            yield Static(Text("esc: close   ↑↓ PgUp PgDn: scroll   c: resolve (a conflict)", style="dim"),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        pane = self.query_one(DetailPane)
        pane.show_inspecting(self._line)
        pane.focus()
        self._inspect()

    @work(thread=True, exclusive=True, group="compare")
    def _inspect(self) -> None:
        if self.ep is None:
            pair = inspect_pair(self.view, None, self.target_only)
        else:
            target = self.ep.target if self.ep.target in self.view.target.catalog.entities else None
            pair = inspect_pair(self.view, self.ep.source, target)
        self.app.call_from_thread(self._show, pair[0], pair[1])

    def _show(self, source: Shown | None, target: Shown | None) -> None:
        if not self.is_attached:
            return  # closed before the inspection came back
        self.query_one(DetailPane).show(self._line, source, target)

    def action_close(self) -> None:
        self.dismiss()

    def action_resolve(self) -> None:
        from synctui.tui.resolve import request_resolve

        request_resolve(self, self.ep)
