"""The one-line search of the browse screen: type to jump, Enter keeps, Escape closes."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SearchBox(Input):
    """An Input that says when the user closes it (Escape), so its screen needs no global key."""

    BINDINGS = [Binding("escape", "close", "Close search", id="search.close", show=False,
                        tooltip="Close the search line and go back to the tree")]

    class Closed(Message):
        """Escape in the search line."""

    def action_close(self) -> None:
        self.post_message(self.Closed())
