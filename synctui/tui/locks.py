"""Lock state per side, as the header and the run screen show it.

Before a sync the app lists the locks on each overlay root (``list_locks``);
while one runs, ``LockChanged`` events from the engine update the badges live.
What cannot be known is shown as "unknown", never guessed.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from rich.text import Text

from synctui.format import human_duration
from synctui.storage.base import Store
from synctui.sync.events import LockChanged

_STYLES = {"free": "green", "held": "bold cyan", "released": "green", "busy": "bold red",
           "stale": "bold yellow", "unknown": "dim"}
_WORDS = {"held": "held by us", "released": "free", "busy": "held by"}


@dataclass(frozen=True)
class LockBadge:
    """``state``: free, held (by us), busy (by someone else), stale, unknown."""

    state: str = "unknown"
    detail: str = ""

    def text(self) -> Text:
        style = _STYLES.get(self.state, "")
        out = Text("lock ", style="dim")
        out.append(_WORDS.get(self.state, self.state), style=style)
        if self.detail:
            out.append(f" {self.detail}", style=style)
        return out

    @classmethod
    def from_event(cls, event: LockChanged) -> LockBadge:
        if event.state == "held":
            mode = event.detail.split(" ", 1)[0] if event.detail else ""
            return cls("held", f"({mode})" if mode in ("read", "write") else "")
        return cls(event.state, event.detail)


def lock_badge(store: Store) -> LockBadge:
    """What the locks on a root say right now (runs in a worker: it lists the store)."""
    try:
        from synctui.sync.locks import list_locks
    except ImportError:  # pragma: no cover - lock support missing from this build
        return LockBadge("unknown")
    try:
        locks = list_locks(store)
    except Exception as exc:  # noqa: BLE001 - a listing failure is shown, never fatal
        return LockBadge("unknown", f"({type(exc).__name__})")
    if not locks:
        return LockBadge("free")
    host, pid = socket.gethostname(), os.getpid()
    others = [lk for lk in locks if not (lk.host == host and lk.pid == pid)]
    if not others:
        return LockBadge("held", f"({locks[0].mode})")
    live = [lk for lk in others if not lk.is_stale]
    if live:
        lk = live[0]
        return LockBadge("busy", f"{lk.owner} ({lk.mode}, {human_duration(lk.age)})")
    lk = others[0]
    return LockBadge("stale", f"{lk.owner} ({lk.stale_reason()})")
