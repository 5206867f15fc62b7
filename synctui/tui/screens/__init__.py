"""One screen (or dialog) per module, registered here by name.

The app and the screens open each other through ``make(name, ...)``: the module is
imported when first needed (start-up stays fast) and nothing imports the app.
Screens get the session's typed messages (``tui.messages``) and read its state.
"""

from __future__ import annotations

import importlib
from typing import Any

from textual.screen import Screen

#: name -> (module under synctui.tui.screens, class)
SCREENS: dict[str, tuple[str, str]] = {
    "browse": ("browse", "BrowseScreen"),
    "preview": ("preview", "PreviewScreen"),
    "rules": ("rules", "RulesScreen"),
    "run": ("run", "RunScreen"),
    "history": ("history", "HistoryScreen"),
    "sync-detail": ("sync_detail", "SyncDetailScreen"),
    "help": ("help", "HelpScreen"),
    "compare": ("compare", "CompareScreen"),
    "conflict": ("conflict", "ConflictScreen"),
    "confirm": ("confirm", "ConfirmScreen"),
    "error": ("error", "ErrorScreen"),
    "file-prompt": ("file_prompt", "FilePromptScreen"),
    "filter-edit": ("filter_edit", "FilterEditScreen"),
    "map-name": ("map_name", "MapNameScreen"),
    "scope": ("scope", "ScopeScreen"),
}


def screen_class(name: str) -> type[Screen[Any]]:
    module, cls = SCREENS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)  # type: ignore[no-any-return]


def make(name: str, *args: Any, **kwargs: Any) -> Screen[Any]:
    """A new screen of the kind registered as ``name``."""
    return screen_class(name)(*args, **kwargs)


def open_once(app: Any, name: str) -> None:
    """Push a new ``name`` screen unless one is on top already (help, history)."""
    if not is_screen(app.screen, name):
        app.push_screen(make(name))


def is_screen(screen: object, name: str) -> bool:
    """Whether ``screen`` is of the kind registered as ``name``."""
    return isinstance(screen, screen_class(name))
