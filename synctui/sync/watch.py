"""Watch mode, written once for the CLI and the app: check the source, sync what changed, wait.

The state database is the journal, so each change is applied once even across a
crash.  ``WatchLoop`` decides what a check means and says it; ``run`` is the loop
itself for a caller that may block (the CLI).  The app cannot block its UI thread,
so it steps the same object from a timer: ``checked`` after each plan, ``failed``
when planning fails, and waits ``interval`` between checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from synctui.sync.plan import Plan


@dataclass
class WatchLoop:
    """``interval``: seconds between two checks; ``last``: what the last check found."""

    interval: float
    last: str = ""

    def checked(self, plan: Plan) -> bool:
        """Note what a check found; True when there is something to sync."""
        stamp = time.strftime("%H:%M:%S")
        if plan.is_noop:  # nothing to write; "up to date" only when no conflict holds a store back
            self.last = f"{stamp} up to date" if plan.up_to_date else \
                f"{stamp} nothing to write (conflicts held back)"
            return False
        self.last = f"{stamp} {plan.transfer_files} file(s) to sync"
        return True

    def failed(self) -> None:
        """A check could not plan: the next one tries again."""
        self.last = f"{time.strftime('%H:%M:%S')} check failed"

    def run(self, check: Callable[[], Plan], sync: Callable[[Plan], bool],
            say: Callable[[str, bool], None], wait: Callable[[float], None] = time.sleep) -> None:
        """Check, sync what changed, wait; until ``sync`` returns False (it was cancelled).

        ``say(text, changes)`` reports each check; stopping by a signal or Ctrl-C is the
        caller's (the exception passes through)."""
        while True:
            plan = check()
            changes = self.checked(plan)
            say(self.last, changes)
            if changes and not sync(plan):
                return
            wait(self.interval)
