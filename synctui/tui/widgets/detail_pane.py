"""The inspection of the highlighted item, source and target side by side.

Every value wraps under its own column (never cut at a fixed width), and the pane
is focusable and scrolls, so a long codec list or date stays readable at 80 columns.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from synctui.tui.inspection import Shown


def shown_text(shown: Shown | None, empty: str) -> Text:
    """Title, then ``label  value`` lines (names are plain text, never markup)."""
    if shown is None:
        return Text(empty, style="dim italic")
    out = Text(shown.title, style="bold")
    width = max((len(k) for k, _ in shown.fields), default=0)
    for label, value in shown.fields:
        out.append("\n")
        out.append(f"{label:<{width}}  ", style="dim")
        out.append(value)
    if shown.error:
        out.append("\n")
        out.append(f"cannot inspect: {shown.error}", style="bold red")
    return out


def shown_renderable(shown: Shown | None, empty: str) -> RenderableType:
    """As ``shown_text``, laid out as a grid: a value too long for its column wraps under
    itself (hanging indent), never under the labels."""
    if shown is None or not shown.fields:
        return shown_text(shown, empty)
    grid = Table.grid(padding=(0, 2), expand=True)
    grid.add_column(style="dim", no_wrap=True, width=max(len(k) for k, _ in shown.fields))
    grid.add_column(overflow="fold", ratio=1)
    for label, value in shown.fields:
        grid.add_row(label, Text(value))
    parts: list[RenderableType] = [Text(shown.title, style="bold", overflow="fold"), grid]
    if shown.error:
        parts.append(Text(f"cannot inspect: {shown.error}", style="bold red", overflow="fold"))
    return Group(*parts)


class DetailSide(Static):
    """One side's inspection.  ``content`` keeps the plain text (tests, copy); what is drawn
    is the wrapping grid."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, classes="detail-side", markup=False)
        self._drawn: RenderableType | None = None

    def show(self, shown: Shown | None, empty: str) -> None:
        self._drawn = shown_renderable(shown, empty)
        self.update(shown_text(shown, empty))

    def render(self) -> RenderableType:  # type: ignore[override]
        return self._drawn if self._drawn is not None else super().render()


class DetailPane(VerticalScroll, can_focus=True):
    """One plan line, then two columns: source | target.  Focus it (Tab) to scroll."""

    BINDINGS = [
        Binding("up", "scroll_up", "Scroll up", show=False),
        Binding("down", "scroll_down", "Scroll down", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="detail-plan", markup=False)
        with Horizontal(id="detail-columns"):
            yield DetailSide(id="detail-source")
            yield DetailSide(id="detail-target")

    def show(self, plan_line: Text, source: Shown | None, target: Shown | None, *,
             source_empty: str = "not in the source", target_empty: str = "not in the target") -> None:
        self.query_one("#detail-plan", Static).update(plan_line)
        self.query_one("#detail-source", DetailSide).show(source, source_empty)
        self.query_one("#detail-target", DetailSide).show(target, target_empty)

    def show_inspecting(self, plan_line: Text) -> None:
        self.query_one("#detail-plan", Static).update(plan_line)
        for side in ("source", "target"):
            self.query_one(f"#detail-{side}", DetailSide).show(None, "inspecting…")
