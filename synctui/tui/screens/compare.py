"""One entity, source next to target, with the plan's decision and reason."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from synctui.sync.plan import EntityPlan
from synctui.tui.inspection import Shown, inspect_pair
from synctui.tui.status import PlanView, plan_line
from synctui.tui.widgets.detail_pane import DetailPane


class CompareScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="compare.close", key_display="esc",
                        tooltip="Back to the list"),
                Binding("c", "resolve", "Resolve", id="compare.resolve",
                        tooltip="Decide this conflict (or every marked one): keep target, take source, both")]

    def __init__(self, view: PlanView, ep: EntityPlan) -> None:
        super().__init__()
        self.view = view
        self.ep = ep

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog compare-dialog"):
            title = Text(self.ep.target_path if self.ep.source is None else self.ep.source_path or "",
                         style="bold")
            yield Static(title, classes="dialog-title")
            with VerticalScroll(id="compare-scroll"):
                yield DetailPane(id="compare-detail")
            yield Static(Text("esc: close   ↑↓: scroll   c: resolve (a conflict)", style="dim"),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(DetailPane).loading(plan_line(self.ep))
        self.query_one("#compare-scroll").focus()
        self._inspect()

    @work(thread=True, exclusive=True, group="compare")
    def _inspect(self) -> None:
        target = self.ep.target if self.ep.target in self.view.target.catalog.entities else None
        pair = inspect_pair(self.view, self.ep.source, target)
        self.app.call_from_thread(self._show, pair[0], pair[1])

    def _show(self, source: Shown | None, target: Shown | None) -> None:
        if not self.is_attached:
            return  # closed before the inspection came back
        self.query_one(DetailPane).show(plan_line(self.ep), source, target)

    def action_close(self) -> None:
        self.dismiss()

    def action_resolve(self) -> None:
        from synctui.tui.resolve import request_resolve

        request_resolve(self, self.ep)
