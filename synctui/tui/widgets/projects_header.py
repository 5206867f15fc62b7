"""The top two lines: each project's name, root, connection and lock state."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from synctui.format import middle_cut
from synctui.storage.tls import tls_off_roots
from synctui.storage.url import Location

if TYPE_CHECKING:
    from synctui.tui.session import SideState

_CONNECTION = {"scanning": ("scanning…", "yellow"), "local": ("local", "green"),
               "connected": ("connected", "green"), "failed": ("unreachable", "bold red")}


def short_root(location: Location) -> str:
    """A root as a user would type it: relative below the current folder, ~ for home."""
    if location.protocol != "local":
        return location.display
    return short_path(location.display)


def short_path(text: str) -> str:
    """A local path relative below the current folder, with ~ for home, else as is."""
    path = os.path.normpath(os.path.abspath(text))
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    if cwd and (path == cwd or path.startswith(cwd.rstrip(os.sep) + os.sep)):
        return "./" + os.path.relpath(path, cwd) if path != cwd else "."
    home = os.path.expanduser("~")
    if home not in ("", "/") and path.startswith(home.rstrip(os.sep) + os.sep):
        return "~/" + os.path.relpath(path, home)
    return path


def side_text(side_name: str, state: SideState, width: int = 0, *, note: Text | None = None) -> Text:
    """Two lines for one side: title, connection and lock; then the roots.  Given the
    ``width``, a root too long for the second line loses its middle, not its end.

    ``note`` goes after the lock (what the user should not miss, as unsaved rules)."""
    cfg = state.config
    word, style = _CONNECTION.get(state.connection, (state.connection, ""))
    out = Text()
    out.append(side_name.upper(), style="bold reverse")
    out.append(" ")
    out.append(cfg.label, style="bold")
    out.append("  ")
    out.append("● ", style=style)
    out.append(word, style=style)
    if tls_off_roots((cfg.overlay, cfg.static)):  # --insecure, or insecure/verify in the config's fs_args
        out.append("  ")
        out.append("! TLS checks OFF", style="bold red")
    if state.unguarded:  # --allow-unguarded-writes
        out.append("  ")
        out.append("! UNGUARDED WRITES allowed", style="bold red")
    out.append("\n")
    lock = state.lock.text()
    out.append_text(lock)
    used = len(lock)
    if note:
        out.append("  ")
        out.append_text(note)
        used += 2 + len(note)
    out.append("  ")
    root = short_root(cfg.overlay)
    if cfg.portal is not None:  # the static side is the portal: read-only, named by its datasets
        static = f" +portal datasets {cfg.portal.label} (read-only)"
    else:
        static = " +static" if cfg.static is not None else ""
    room = width - used - 2 - len(static)
    if width and room >= 12:
        root = middle_cut(root, room)
    out.append(root, style="dim")
    if static:
        out.append(static, style="dim")
    return out


class ProjectsHeader(Horizontal):
    """Source | target, like the trees below it."""

    def compose(self) -> ComposeResult:
        yield Static(id="header-source", classes="header-side", markup=False)
        yield Static(id="header-target", classes="header-side", markup=False)

    _sides: dict[str, SideState] | None = None
    _rules_unsaved: bool = False

    def on_resize(self) -> None:
        if self._sides is not None:
            self.show(self._sides, rules_unsaved=self._rules_unsaved)

    def show(self, sides: dict[str, SideState], *, rules_unsaved: bool = False) -> None:
        """``rules_unsaved``: the rules differ from their file; said after the target's lock."""
        self._sides, self._rules_unsaved = sides, rules_unsaved
        for name, state in sides.items():
            side = self.query_one(f"#header-{name}", Static)
            note = Text("● rules unsaved", style="bold yellow") if rules_unsaved and name == "target" else None
            side.update(side_text(name, state, side.content_size.width, note=note))
            # what a WebDAV server can do, as probed on connect (too long for the two lines)
            side.tooltip = f"server: {state.server}" if state.server else None
