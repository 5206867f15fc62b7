"""What a remote store asks the user while it connects: trust a host, a password, a login.

Pushed by :mod:`synctui.tui.remote_prompts` on behalf of a worker thread that waits
for the answer.  Secrets typed here go straight back to that thread: they are
never shown (masked inputs), logged or kept by the screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from synctui.tui.screens.confirm import ConfirmScreen
from synctui.tui.widgets.inputs import steady_input

HINT = "enter: ok   esc: cancel"


def host_key_question(target: str, key_type: str | None, fingerprint: str | None) -> str:
    fp = fingerprint or "?"
    if not fp.startswith("SHA256:") and fingerprint:
        fp = f"SHA256:{fp}"
    return f"Unknown host {target}: {key_type or 'key'} {fp} — trust it and add to known_hosts?"


class HostKeyScreen(ConfirmScreen):
    """An SSH server never seen before: trust its key (y) or refuse (n, escape)."""

    def __init__(self, target: str, key_type: str | None, fingerprint: str | None,
                 known_hosts: str | None = None) -> None:
        details = Text("Compare the fingerprint with the one the server's admin gave you.",
                       style="dim")
        if known_hosts:
            details.append(f"\nIt is then added to {known_hosts}.", style="dim")
        super().__init__(host_key_question(target, key_type, fingerprint), details=details,
                         yes="Trust", no="Refuse")
        self.target = target
        self.fingerprint = fingerprint


class SecretPromptScreen(ModalScreen[str | None]):
    """One answer (a password, a passphrase, a keyboard-interactive reply); escape: None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="secret.cancel",
                        tooltip="Give no answer (this login is given up)")]

    def __init__(self, title: str, message: str = "", *, secret: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            if self.message:
                yield Static(Text(self.message), classes="dialog-body")
            yield steady_input(password=self.secret, id="secret-input")
            yield Static(Text(HINT, style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#secret-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CredentialsScreen(ModalScreen["tuple[str, str] | None"]):
    """A user name and password for a WebDAV server that answered 401; escape: None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="credentials.cancel",
                        tooltip="Give no credentials (the connection fails)")]

    def __init__(self, url: str, realm: str | None, why: str, username: str = "") -> None:
        super().__init__()
        self.url = url
        self.realm = realm
        self.why = why
        self.username = username

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            title = f"Log in to {self.url}" + (f" ({self.realm})" if self.realm else "")
            yield Static(Text(title, style="bold"), classes="dialog-title")
            if self.why:
                yield Static(Text(self.why), classes="dialog-body")
            yield steady_input(self.username, placeholder="user name", id="cred-user")
            yield steady_input(placeholder="password", password=True, id="cred-password")
            yield Static(Text(HINT, style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        target = "#cred-password" if self.username else "#cred-user"
        self.query_one(target, Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "cred-user":
            self.query_one("#cred-password", Input).focus()
            return
        user = self.query_one("#cred-user", Input).value
        self.dismiss((user, event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)
