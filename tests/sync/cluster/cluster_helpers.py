"""A LocalCluster on loopback for the cluster tests, and a worker plugin that slows writes.

The plugin makes each file a worker writes take ``DELAY`` seconds longer, so a test
can cancel or SIGKILL a worker while its unit is surely still running.  The data
still moves through the real stores; only the pace changes.
"""

from __future__ import annotations

import time
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

DELAY = 0.04


class SlowWrites(WorkerPlugin):
    """A worker plugin pacing LocalStore writes (undone by its teardown)."""

    name = "synctui-slow-writes"

    def __init__(self, delay: float = DELAY) -> None:
        self.delay = delay
        self._saved: dict[str, Any] = {}

    def setup(self, worker: Any) -> None:
        from synctui.storage.local import LocalStore

        delay = self.delay
        for name in ("write_atomic", "copy_from", "write_many"):
            original = getattr(LocalStore, name)
            self._saved[name] = original

            def slow(store: Any, *args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
                n = len(args[0]) if _name == "write_many" and isinstance(args[0], list) else 1
                time.sleep(delay * n)
                return _original(store, *args, **kw)

            setattr(LocalStore, name, slow)

    def teardown(self, worker: Any) -> None:
        from synctui.storage.local import LocalStore

        for name, original in self._saved.items():
            setattr(LocalStore, name, original)
