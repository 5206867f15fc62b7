"""``c`` anywhere (browse, preview, compare): decide the marked conflicts at once, or the one
under the cursor.  One flow, so every screen asks the same question the same way."""

from __future__ import annotations

from textual.dom import DOMNode

from synctui.sync.plan import Act, EntityPlan
from synctui.tui.session import session_of


def is_conflict(ep: EntityPlan | None) -> bool:
    """A conflict, or one already decided (which can be decided again)."""
    return ep is not None and (ep.action is Act.CONFLICT or ep.resolution is not None)


def request_resolve(node: DOMNode, current: EntityPlan | None) -> None:
    from synctui.tui.provenance import side_facts
    from synctui.tui.screens.conflict import ConflictScreen

    app, session = node.app, session_of(node)
    if session.sync_running:
        app.notify("A sync is running: decide when it has finished.", severity="warning")
        return
    marked = session.marked_conflicts()
    eps = marked or ([current] if current is not None and is_conflict(current) else [])
    if not eps:
        app.notify("Nothing to decide here: mark conflicts (space) or pick a conflict.",
                   severity="warning")
        return
    facts = side_facts(session.job, session.view, eps[0]) if len(eps) == 1 and session.view else None

    def chosen(choice: str | None) -> None:
        if not choice:
            return
        if len(eps) == 1:
            decided = eps if session.resolve(eps[0], choice) else []
        else:
            session.resolve_many(eps, choice)
            decided = [ep for ep in eps if ep.resolution == choice]
        if decided:
            session.set_marks(decided, False)  # decided: no longer waiting for a decision
            app.notify(f"{len(decided)} conflict{'s' if len(decided) != 1 else ''}: {choice}", timeout=3)

    app.push_screen(ConflictScreen(eps, facts), chosen)
