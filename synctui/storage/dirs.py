"""Where synctui keeps its own files: the sync state, caches and the log, decided here only.

``$SYNCTUI_STATE_DIR`` puts all three in that one folder (tests, a shared install);
otherwise they follow platformdirs (``~/.local/state/synctui``, ``~/.cache/synctui``,
``~/.local/state/synctui/log`` on Linux).  It sits in the storage layer because the
listing cache (storage) needs it as much as the sync state (sync) and the CLI's log.
"""

from __future__ import annotations

import os

ENV = "SYNCTUI_STATE_DIR"
APP = "synctui"


def _override() -> str | None:
    return os.environ.get(ENV) or None


def state_dir() -> str:
    """The sync state database's folder (what must survive: baselines, history)."""
    from platformdirs import user_state_path

    return _override() or str(user_state_path(APP))


def cache_dir() -> str:
    """Caches that can be thrown away (the SSH listing cache)."""
    from platformdirs import user_cache_path

    return _override() or str(user_cache_path(APP))


def log_file() -> str:
    """The CLI's log (tracebacks behind one-line errors)."""
    from platformdirs import user_log_path

    override = _override()
    return os.path.join(override, "synctui.log") if override else str(user_log_path(APP) / "synctui.log")
