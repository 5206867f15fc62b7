"""The typed messages the session sends the app and every screen when its state changes.

Screens handle the ones they care about (``on_plan_changed`` ...) and read the rest
from the session.  They are posted to each recipient (``bubble = False``), never
called by name.  Per-file engine events never become messages: the session drains
the engine's sink on a timer and sends one ``SyncProgress`` per tick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message
from textual.screen import Screen

from synctui.sync.engine import Summary
from synctui.sync.events import Progress


class SessionMessage(Message, bubble=False):
    """Base of the session's messages: delivered to each screen, never bubbled to the app
    (which gets its own copy).  Textual resets ``bubble`` per class: each one says it."""


class PlanChanged(SessionMessage, bubble=False):
    """Planning started (``ready`` False), finished (``ready``) or failed (``error``);
    also sent when rules change or a conflict is decided."""

    def __init__(self, *, ready: bool, rescanned: bool = False, error: str | None = None,
                 quiet: bool = False) -> None:
        super().__init__()
        self.ready = ready
        self.rescanned = rescanned
        self.error = error
        #: a failure nobody asked for (a watch check): say it, don't open a dialog
        self.quiet = quiet


class SyncStarted(SessionMessage, bubble=False):
    """A sync of the session's plan began."""


class SyncCancelling(SessionMessage, bubble=False):
    """The user cancelled: files in flight finish, nothing new starts."""


class SyncProgress(SessionMessage, bubble=False):
    """One drain tick: the engine's totals and the log lines since the last tick."""

    def __init__(self, progress: Progress, lines: list[str]) -> None:
        super().__init__()
        self.progress = progress
        self.lines = lines


class SyncEnded(SessionMessage, bubble=False):
    """The sync returned (``summary``) or failed before or while running (``error``)."""

    def __init__(self, summary: Summary | None, error: BaseException | None = None,
                 text: str | None = None) -> None:
        super().__init__()
        self.summary = summary
        self.error = error
        #: the error as one line, for a user
        self.text = text


class LocksChanged(SessionMessage, bubble=False):
    """A side's lock badge changed (listed before a sync, or reported by the engine)."""


class RulesSaved(SessionMessage, bubble=False):
    """The rules were saved to or loaded from a file (nothing unsaved now)."""


class MarksChanged(SessionMessage, bubble=False):
    """Rows were marked or unmarked (``Session.marks``)."""


class WatchChanged(SessionMessage, bubble=False):
    """Watch mode was switched, or a watch check found something."""


class OpenPrompt(Message):
    """From a store's worker thread: open ``make()`` and pass its result to ``answered``."""

    def __init__(self, make: Callable[[], Screen[Any]], answered: Callable[[Any], None]) -> None:
        super().__init__()
        self.make = make
        self.answered = answered
