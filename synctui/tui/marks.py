"""Which entity plans a highlighted node stands for, and how a marked row looks.

Marks are target paths kept by the session (they outlive re-plans); a run or
folder node marks every entity in it that the plan knows.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from synctui.project.catalog import Entity
from synctui.sync.plan import EntityPlan
from synctui.tui.status import PlanView

MARK = "●"


def plans_of(view: PlanView, data, wanted: Callable[[Entity], bool]) -> list[EntityPlan]:
    """The entity plans of a tree node (NodeData): one for an entity, all of a run or folder."""
    if data.kind == "entity":
        ep = view.entity_plan(data.side, data.ref) if data.ref is not None else None
        return [ep] if ep is not None else []
    if data.kind == "project":
        return []
    side = view.side(data.side)
    ents = [e for e in side.by_run.get(data.run, []) if wanted(e)] if data.run is not None else \
        list(data.entities)
    out = []
    for ent in ents:
        ep = view.entity_plan(data.side, ent.ref)
        if ep is not None:
            out.append(ep)
    return out


def marked_label(label: Text, marked: bool) -> Text:
    """``● `` before a marked row's label (two spaces before an unmarked one's keep columns)."""
    if not marked:
        return label
    out = Text(f"{MARK} ", style="bold reverse")
    out.append_text(label)
    return out


class MarkRange:
    """The range keys browse and the preview share (``shift+↑↓`` mark and move, ``U``
    unmarks all); a screen says how it marks the highlighted row and moves on."""

    def _mark_and_move(self, step: int) -> None:
        raise NotImplementedError

    def action_mark_down(self) -> None:
        self._mark_and_move(1)

    def action_mark_up(self) -> None:
        self._mark_and_move(-1)

    def action_unmark_all(self) -> None:
        self.session.clear_marks()  # type: ignore[attr-defined]  # the screen's UsesSession
