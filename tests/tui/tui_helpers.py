"""Helpers the app's tests share (imported as ``from tui_helpers import ...``)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.pilot import Pilot
from textual.widget import Widget


def make_app(paths: Any, *, rules: bool = True, **kwargs: Any):
    from synctui.tui.app import SyncTuiApp

    return SyncTuiApp(paths.source_config, paths.target_config,
                      paths.rules_file if rules else None, **kwargs)


async def settle(pilot: Pilot) -> None:
    """Wait until no worker runs and the messages they posted were handled.

    A worker that failed is the app's business (it shows an error dialog), not the
    waiter's: failures are not re-raised here.
    """
    from textual.worker import WorkerFailed

    for _ in range(5):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()


def text_of(widget: Widget) -> str:
    """The plain text a Static shows."""
    content = getattr(widget, "content", "")
    return content.plain if isinstance(content, Text) else str(content)
