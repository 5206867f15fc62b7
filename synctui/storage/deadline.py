"""Deadlines for remote operations: a server that stalls or trickles never hangs a sync.

Every remote store waits at most ``timeout`` seconds (fs_args ``timeout``, default
60) for a server: to connect, for the first byte of an answer (or for the server
to take the first byte of a request), and then for a body to move at least
``MIN_RATE`` bytes per second averaged over each ``timeout`` seconds spent
waiting (a server sending one byte a second fails after about ``timeout``
seconds, not never).  Time our side spends between reads (writing what it read
elsewhere) does not count.

An :class:`Interrupt` breaks off what a store has in flight at once (a cancelled
sync: SIGTERM, Ctrl-C), and refuses new work until it is cleared, so a sync ends
within a second or so and can still release its locks afterwards.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from synctui.storage.options import parse_timeout_seconds

DEFAULT_TIMEOUT = 60.0
#: the slowest a body may move (bytes/s, averaged over one ``timeout`` of waiting)
MIN_RATE = 1024
#: how often a blocked wait looks at the clock and the interrupt (s)
POLL = 0.25


def timeout_option(value: object, key: str = "timeout") -> float:
    """The ``timeout`` option as seconds (``options.parse_timeout_seconds``: a positive,
    finite number, or a string of one); absent means the default."""
    return DEFAULT_TIMEOUT if value is None else parse_timeout_seconds(value, key)


class Interrupted(Exception):
    """What an interrupted wait raises (stores turn it into a StoreError saying "cancelled")."""


class Stalled(Exception):
    """The server broke a deadline: the message says which, for a one-line item error."""


class Interrupt:
    """A flag a store's waits poll: set, they stop; cleared, new work may start again."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` s; True (at once) when the interrupt is or becomes set."""
        return self._event.wait(timeout)

    def check(self) -> None:
        if self._event.is_set():
            raise Interrupted("cancelled")


@dataclass
class Pace:
    """One direction of one exchange (a request going out, or its answer coming in):
    the first byte within ``timeout`` s of waiting, then ``MIN_RATE`` per ``timeout`` s."""

    timeout: float
    min_rate: float = MIN_RATE
    started: bool = False
    waited: float = 0.0
    moved: int = 0

    def allowance(self) -> float:
        """How long the next blocked wait may last before this pace is broken."""
        return max(0.0, self.timeout - self.waited)

    def account(self, waited: float, n: int) -> None:
        """``waited`` s blocked, then ``n`` bytes moved (0: the wait ran out)."""
        if n and not self.started:  # the first byte: the rate counts from here
            self.started, self.waited, self.moved = True, 0.0, n
            return
        self.waited += waited
        self.moved += n
        if self.waited < self.timeout:
            return
        if not self.started:
            raise Stalled(f"the server did not answer for {self.timeout:g} s")
        if self.moved < self.min_rate * self.timeout:
            raise Stalled(f"the server moved {self.moved} bytes in {self.timeout:g} s of waiting "
                          f"(less than {self.min_rate:g} bytes/s)")
        self.waited, self.moved = 0.0, 0


def wait_slice(pace: Pace) -> float:
    """The next blocked wait: short enough to notice an interrupt, within the allowance."""
    return max(0.01, min(POLL, pace.allowance()))


def monotonic() -> float:
    return time.monotonic()
