"""Let the stores ask the user while they connect: the app's prompt bridge.

SSH (``ssh_connect.set_default_prompter``) and WebDAV (``webdav_auth.set_auth_prompt``)
call their prompt from the worker thread that connects.  :class:`PromptBridge` is
that callback: it posts an ``OpenPrompt`` message to the app (posting is thread-safe),
the app pushes the modal, and the worker waits until the user answers (or the app
goes away, which answers "no").  It is never called on the app's own thread (the one
that installed it); if it were, it answers "no" at once instead of freezing the UI.

Secrets pass from the modal to the waiting thread only: never logged or kept here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from synctui.storage import ssh_connect, webdav_auth
from synctui.storage.ssh_connect import PromptRequest
from synctui.tui.messages import OpenPrompt

log = logging.getLogger("synctui.tui")

#: how often a waiting worker checks that the app is still there
POLL = 0.1


class PromptBridge:
    """Installed while the app runs; ``ssh`` and ``webdav`` are the store callbacks."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.closed = False
        self._lock = threading.Lock()  # one modal at a time, whoever asks
        self._old_ssh: Any = None
        self._old_webdav: Any = None
        self._installed = False
        self._app_thread: int | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def install(self) -> PromptBridge:
        """Call on the app's thread (on mount): that thread is never made to wait."""
        self.closed = False
        self._app_thread = threading.get_ident()
        self._old_ssh = ssh_connect.set_default_prompter(self.ssh)
        self._old_webdav = webdav_auth.default_prompt()
        webdav_auth.set_auth_prompt(self.webdav)
        self._installed = True
        return self

    def uninstall(self) -> None:
        """Put back what was there (unless someone replaced us since); wake any waiter."""
        self.closed = True
        if not self._installed:
            return
        self._installed = False
        if ssh_connect.get_default_prompter() == self.ssh:
            ssh_connect.set_default_prompter(self._old_ssh)
        if webdav_auth.default_prompt() == self.webdav:
            webdav_auth.set_auth_prompt(self._old_webdav)

    # -- the callbacks ---------------------------------------------------------------------
    def ssh(self, req: PromptRequest) -> str | bool | None:
        from synctui.tui.screens.prompt import HostKeyScreen, SecretPromptScreen

        if req.kind == "host-key":
            return self.ask(lambda: HostKeyScreen(req.target, req.key_type, req.fingerprint,
                                                  req.known_hosts_path)) is True
        if req.kind == "password":
            title = f"Password for {req.target}"
            make = lambda: SecretPromptScreen(title, req.message)  # noqa: E731
        elif req.kind == "passphrase":
            title = f"Passphrase for key {req.key_path or ''}".rstrip()
            make = lambda: SecretPromptScreen(title, f"to log in to {req.target}")  # noqa: E731
        else:  # keyboard-interactive
            make = lambda: SecretPromptScreen(f"{req.target} asks", req.message,  # noqa: E731
                                              secret=not req.echo)
        answer = self.ask(make)
        return answer if isinstance(answer, str) else None

    def webdav(self, url: str, realm: str | None, why: str) -> tuple[str, str] | None:
        from synctui.tui.screens.prompt import CredentialsScreen

        answer = self.ask(lambda: CredentialsScreen(url, realm, why))
        if isinstance(answer, tuple) and len(answer) == 2:
            return str(answer[0]), str(answer[1])
        return None

    # -- plumbing --------------------------------------------------------------------------
    def ask(self, make_screen: Callable[[], Any]) -> Any:
        """Push ``make_screen()`` on the app and wait (this thread only) for its result."""
        app = self.app
        if self.closed or not self._installed or not app.is_running or \
                threading.get_ident() == self._app_thread:
            return None  # never block the app's own thread
        with self._lock:
            done = threading.Event()
            box: list[Any] = []

            def answered(result: Any) -> None:
                box.append(result)
                done.set()

            if not app.post_message(OpenPrompt(make_screen, answered)):
                return None  # the app is closing
            while not done.wait(POLL):
                if self.closed or not app.is_running:
                    log.debug("the app went away while a prompt was open")
                    return None
            return box[0] if box else None


def install(app: Any) -> PromptBridge:
    """Install a bridge for ``app`` (call on mount; ``uninstall()`` it on unmount)."""
    return PromptBridge(app).install()
