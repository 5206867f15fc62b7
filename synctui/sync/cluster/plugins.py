"""Worker plugins for the clusters synctui starts itself (``local:N``); imports distributed."""

from __future__ import annotations

import signal
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class IgnoreInterrupts(WorkerPlugin):
    """Ctrl-C in the terminal reaches every process of its group, our worker processes too:
    they ignore it, and the coordinator's cancel lets their files in flight finish instead."""

    name = "synctui-ignore-interrupts"

    def setup(self, worker: Any) -> None:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the process's main thread: nothing we can do here
            pass
