"""The app's event sink: it keeps only the events a screen shows.

The engine emits a start and a finish per file; the app reads its progress from the
sink's ``Progress`` totals and shows only failures, retries, notes and lock changes.
Queuing 200,000 per-file events for a 100,000-file sync and draining them on the UI
thread (50,000 a tick) kept every key waiting; dropping them at ``emit`` costs one
type check in the worker thread.
"""

from __future__ import annotations

from synctui.sync.events import Event, EventSink, ItemFinished, ItemSkipped, ItemStarted

#: per-file events no screen shows (the totals are in ``Progress``)
_PER_FILE = (ItemStarted, ItemFinished, ItemSkipped)


class ScreenSink(EventSink):
    """An EventSink that does not queue per-file start, finish and skip events."""

    def emit(self, event: Event) -> None:
        if isinstance(event, _PER_FILE):
            self.emitted += 1
            return
        super().emit(event)
