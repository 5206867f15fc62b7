"""One retry policy for remote calls (after rclone's pacer): the loop lives here, once.

A store wraps each remote call that is safe to send again (a GET, a PROPFIND, a
PUT of bytes, an SFTP call on a fresh connection) in :meth:`RetryPolicy.call` and
supplies only ``should_retry``: which of its errors are transient.  Nothing else
in a store loops.  Calls that are not safe to resend (a streamed body, a MOVE)
are sent once, and their transient errors go up to the engine, which does the
whole file again (``retries`` in JobOptions).

So that the two levels never multiply, an error the store already retried comes
out with ``retried = True`` and the engine gives it up.  Against a server that
fails every request, a file costs ``ATTEMPTS`` sends of the failing request (the
store's tries, or the engine's ``1 + retries`` with the default 3), never 4×4.

Pauses grow from ``backoff`` by doubling up to ``max_backoff``; no new try starts
once ``max_elapsed`` seconds have passed since the first; a pause ends at once
when the store's :class:`~synctui.storage.deadline.Interrupt` is set (a cancel
never waits out a backoff).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from synctui.errors import StoreError

T = TypeVar("T")


class Waitable(Protocol):
    """What a pause waits on: a store's ``deadline.Interrupt`` (or a ``threading.Event``)."""

    def wait(self, timeout: float) -> bool: ...

#: sends of one remote call, the first included (store level; the engine's default is the same)
ATTEMPTS = 4


def transient(exc: BaseException) -> bool:
    """The default classifier: a StoreError its store marked transient, not yet retried."""
    return isinstance(exc, StoreError) and exc.transient and not exc.retried


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one remote call is tried."""

    attempts: int = ATTEMPTS
    backoff: float = 0.2
    max_backoff: float = 5.0
    max_elapsed: float = 60.0

    def delay(self, failures: int) -> float:
        """The pause after the ``failures``-th failure (1, 2, ...)."""
        return min(self.max_backoff, self.backoff * (2 ** (failures - 1)))

    def call(self, fn: Callable[[], T], *, interrupt: Waitable | None = None,
             should_retry: Callable[[BaseException], bool] = transient,
             on_retry: Callable[[int, BaseException], None] | None = None) -> T:
        """``fn()``, tried again after each error ``should_retry`` accepts, within the caps.

        The last error is raised as it is.  A StoreError ``should_retry`` accepted comes
        out with ``retried`` set once the tries here are spent (attempts, time or a
        cancel), so no caller above retries it again."""
        started = time.monotonic()
        failures = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                failures += 1
                if not should_retry(exc):
                    raise
                pause = self.delay(failures)
                out_of_time = time.monotonic() - started + pause > self.max_elapsed
                if failures >= self.attempts or out_of_time or _wait(interrupt, pause):
                    if isinstance(exc, StoreError):
                        exc.retried = True
                    raise
                if on_retry is not None:
                    on_retry(failures, exc)


def _wait(interrupt: Waitable | None, seconds: float) -> bool:
    """Sleep ``seconds``; True when the interrupt was set before or during the pause."""
    if interrupt is None:
        time.sleep(seconds)
        return False
    return interrupt.wait(seconds)
