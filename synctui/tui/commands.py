"""Command palette: every key binding of the current screen (and the app) as a command.

Commands come from the same ``Binding`` objects the footer and the help screen
show, so a new action is in the palette the moment it has a binding.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode


def screen_commands(screen: DOMNode, app: DOMNode) -> Iterator[tuple[DOMNode, Binding]]:
    """(node, binding) for each action reachable from ``screen``, screen first, no repeats."""
    seen: set[str] = set()
    for node in (screen, app):
        for binding in getattr(type(node), "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.id or binding.action in seen:
                continue
            if binding.action in ("command_palette",):
                continue
            check = node.check_action(binding.action, ())
            if check is False:
                continue
            seen.add(binding.action)
            yield node, binding


def command_title(binding: Binding) -> str:
    key = binding.key_display or binding.key
    return f"{binding.description.rstrip('…').strip()} ({key})"


class SyncTuiCommands(Provider):
    """The actions of the screen the palette was opened from."""

    def _commands(self) -> list[tuple[str, str, DOMNode, str]]:
        return [(command_title(b), b.tooltip, node, b.action)
                for node, b in screen_commands(self.screen, self.app)]

    def _runner(self, node: DOMNode, action: str):
        return partial(self.app.call_later, node.run_action, action)

    async def discover(self) -> Hits:
        for title, help_text, node, action in self._commands():
            yield DiscoveryHit(title, self._runner(node, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, node, action in self._commands():
            score = max(matcher.match(title), matcher.match(help_text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._runner(node, action),
                          text=title, help=help_text)
