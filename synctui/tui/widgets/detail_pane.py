"""The inspection of the highlighted item, source and target side by side."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
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


class DetailPane(Vertical):
    """One plan line, then two columns: source | target."""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-plan", markup=False)
        with Horizontal(id="detail-columns"):
            yield Static(id="detail-source", classes="detail-side", markup=False)
            yield Static(id="detail-target", classes="detail-side", markup=False)

    def show(self, plan_line: Text, source: Shown | None, target: Shown | None, *,
             source_empty: str = "not in the source", target_empty: str = "not in the target") -> None:
        self.query_one("#detail-plan", Static).update(plan_line)
        self.query_one("#detail-source", Static).update(shown_text(source, source_empty))
        self.query_one("#detail-target", Static).update(shown_text(target, target_empty))

    def loading(self, plan_line: Text) -> None:
        self.query_one("#detail-plan", Static).update(plan_line)
        for side in ("source", "target"):
            self.query_one(f"#detail-{side}", Static).update(Text("inspecting…", style="dim italic"))
