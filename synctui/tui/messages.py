"""Typed messages the App's workers post when something changed state.

Workers finish by posting one of these; per-file engine events never become
messages (the App drains the engine's sink on a timer instead).
"""

from __future__ import annotations

from textual.message import Message

from synctui.sync.engine import Summary
from synctui.sync.plan import Plan
from synctui.tui.status import PlanView


class PlanReady(Message):
    """A fresh plan (and its UI index) for the current rules."""

    def __init__(self, plan: Plan, view: PlanView, generation: int, rescanned: bool) -> None:
        super().__init__()
        self.plan = plan
        self.view = view
        self.generation = generation
        self.rescanned = rescanned


class SyncDone(Message):
    """The engine returned: finished, cancelled or partly failed (see summary)."""

    def __init__(self, summary: Summary) -> None:
        super().__init__()
        self.summary = summary
