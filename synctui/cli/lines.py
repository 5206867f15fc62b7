"""Where a command's lines go: through rich on a terminal, as plain text elsewhere.

A sync run from cron, a pipe or a log file prints the same words without styles, and
without importing rich (about 40 ms, a sixth of a headless sync's start-up).  Lines are
never wrapped in plain text: one item, one line, grep-able.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO, Union

#: a piece of a line: text, or (text, rich style)
Part = Union[str, "tuple[str, str]"]


class Lines:
    """One output stream (stdout, or stderr), resolved at each write (tests swap it)."""

    def __init__(self, *, stderr: bool = False, console: Any = None) -> None:
        self.stderr = stderr
        self._console = console
        self._live = console is not None  # a live progress display's Console: always styled

    @property
    def stream(self) -> TextIO:
        return sys.stderr if self.stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        """As rich decides it, in the cases that matter here: a TTY, or FORCE_COLOR set."""
        if self._live:
            return True
        if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
            return True
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):  # a closed or odd stream
            return False

    @property
    def console(self) -> Any:
        """The rich Console (made on first use): for tables and progress bars."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr, highlight=False, soft_wrap=False)
        return self._console

    def line(self, *parts: Part, style: str = "") -> None:
        if self.is_terminal:
            from rich.text import Text

            self.console.print(Text.assemble(*parts, style=style), soft_wrap=True)
            return
        stream = self.stream
        stream.write("".join(p if isinstance(p, str) else p[0] for p in parts) + "\n")
        stream.flush()
