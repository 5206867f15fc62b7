"""Typed engine events and the sink they go into.

The engine appends to a deque (thread-safe, never blocks) and never waits for a
consumer; the TUI drains it on a timer, the CLI on its refresh tick.  Totals live
in ``Progress`` so a consumer that drains rarely (or drops events) still shows
the right numbers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from synctui.format import human_bytes, plural


@dataclass(frozen=True, slots=True)
class SyncStarted:
    sync_id: str
    entities: int
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class ItemStarted:
    path: str
    size: int


@dataclass(frozen=True, slots=True)
class ItemFinished:
    path: str
    action: str
    size: int


@dataclass(frozen=True, slots=True)
class ItemSkipped:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ItemFailed:
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class ItemRetry:
    path: str
    attempt: int
    message: str


@dataclass(frozen=True, slots=True)
class LockChanged:
    side: str  # "source" or "target"
    state: str  # "free", "held", "released", "stale", "busy"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    level: str  # "info", "warning"
    text: str


@dataclass(frozen=True, slots=True)
class SyncFinished:
    summary: Any  # synctui.sync.engine.Summary


Event = (SyncStarted | ItemStarted | ItemFinished | ItemSkipped | ItemFailed | ItemRetry
         | LockChanged | Note | SyncFinished)


@dataclass
class WorkerProgress:
    """One cluster worker's share of a sync (the app shows a line per worker)."""

    name: str
    units_done: int = 0
    files: int = 0
    bytes: int = 0
    running: int = 0  # units it runs now
    lost: int = 0  # units it was running when it died (they re-run elsewhere)

    def line(self) -> str:
        text = f"{self.name}: {plural(self.units_done, 'unit')} done, {plural(self.files, 'file')}, " \
               f"{human_bytes(self.bytes)}"
        if self.running:
            text += f", running {self.running}"
        if self.lost:
            text += f", lost {self.lost} (re-run elsewhere)"
        return text


@dataclass
class Progress:
    """Running totals the engine keeps (ints: single writes are atomic in CPython)."""

    total_files: int = 0
    total_bytes: int = 0
    done_files: int = 0
    done_bytes: int = 0
    failed: int = 0
    #: of ``failed``, files of the plan (the rest: the config, a lock, a broken source entity)
    failed_files: int = 0
    skipped: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)
    #: a cluster sync's workers by name (empty for a sync on this machine)
    workers: dict[str, WorkerProgress] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    finished: bool = False

    @property
    def not_started(self) -> int:
        """Files of the plan neither done nor failed: done + failed + not started = total."""
        return max(0, self.total_files - self.done_files - self.failed_files)

    @property
    def percent(self) -> float:
        if self.total_bytes:
            return min(100.0, 100.0 * self.done_bytes / self.total_bytes)
        if self.total_files:
            return min(100.0, 100.0 * self.done_files / self.total_files)
        return 100.0 if self.finished else 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.done_bytes / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        if rate <= 0 or not self.total_bytes:
            return None
        return max(0.0, (self.total_bytes - self.done_bytes) / rate)


class EventSink:
    """A bounded deque of events; ``drain`` takes everything queued so far."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self.progress = Progress()
        self._lock = threading.Lock()
        self.emitted = 0

    def reset(self) -> None:
        """Before another run on this sink: totals from zero, nothing left queued."""
        with self._lock:
            self._events.clear()
            self.progress = Progress()

    def emit(self, event: Event) -> None:
        self._events.append(event)
        self.emitted += 1

    def drain(self, limit: int | None = None) -> list[Event]:
        out: list[Event] = []
        pop = self._events.popleft
        with self._lock:
            while self._events and (limit is None or len(out) < limit):
                out.append(pop())
        return out
