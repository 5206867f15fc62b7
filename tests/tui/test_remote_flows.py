"""The prompt bridge without servers: store callbacks called from threads become modals.

(End-to-end runs against a real sshd and wsgidav are in tests/integration/test_app_remote.py.)
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from textual.widgets import Input
from tui_helpers import make_app, settle

from synctui.storage import ssh_connect, webdav_auth
from synctui.storage.ssh_connect import PromptRequest
from synctui.tui.remote_prompts import PromptBridge
from synctui.tui.screens.prompt import CredentialsScreen, HostKeyScreen, SecretPromptScreen

pytestmark = pytest.mark.anyio

SIZE = (80, 24)
HOST_KEY = PromptRequest("host-key", "me@example.org:22", "trust?", key_type="ssh-ed25519",
                         fingerprint="SHA256:abcDEF123", known_hosts_path="/tmp/kh")


class Asker(threading.Thread):
    """Calls ``fn`` on its own thread, as a store's worker would."""

    def __init__(self, fn: Any) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: Any = "unset"
        self.finished = threading.Event()

    def run(self) -> None:
        self.result = self.fn()
        self.finished.set()


async def wait_for(pilot, cond, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        await pilot.pause(0.02)
    raise AssertionError("timed out")


async def ask(pilot, fn: Any, screen_cls: type) -> tuple[Asker, Any]:
    asker = Asker(fn)
    asker.start()
    screen = await wait_for(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, screen_cls)
                            and pilot.app.screen.is_mounted else None)
    await pilot.pause()  # composed and focused before keys are sent
    return asker, screen


async def answer_of(pilot, asker: Asker) -> Any:
    await wait_for(pilot, asker.finished.is_set)
    return asker.result


async def test_the_app_installs_its_prompts_while_it_runs(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert ssh_connect.get_default_prompter() == app._prompts.ssh
        assert webdav_auth.default_prompt() == app._prompts.webdav
    assert ssh_connect.get_default_prompter() is None
    assert webdav_auth.default_prompt() is None


@pytest.mark.parametrize(("key", "expected"), [("y", True), ("n", False), ("escape", False)])
async def test_host_key_question(demo, key: str, expected: bool) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        asker, screen = await ask(pilot, lambda: app._prompts.ssh(HOST_KEY), HostKeyScreen)
        assert str(screen.question) == ("Unknown host me@example.org:22: ssh-ed25519 SHA256:abcDEF123 "
                                        "— trust it and add to known_hosts?")
        await pilot.press(key)
        assert await answer_of(pilot, asker) is expected
        assert not isinstance(app.screen, HostKeyScreen)


async def test_password_is_masked_and_escape_gives_none(demo) -> None:
    app = make_app(demo)
    req = PromptRequest("password", "me@example.org:22", "Password for me@example.org:")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        asker, screen = await ask(pilot, lambda: app._prompts.ssh(req), SecretPromptScreen)
        assert screen.query_one(Input).password
        await pilot.press("h", "u", "n", "t", "e", "r", "2", "enter")
        assert await answer_of(pilot, asker) == "hunter2"
        asker, _ = await ask(pilot, lambda: app._prompts.ssh(req), SecretPromptScreen)
        await pilot.press("escape")
        assert await answer_of(pilot, asker) is None


async def test_interactive_echo_is_shown(demo) -> None:
    app = make_app(demo)
    req = PromptRequest("interactive", "me@host:22", "Token code:", echo=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        asker, screen = await ask(pilot, lambda: app._prompts.ssh(req), SecretPromptScreen)
        assert not screen.query_one(Input).password
        await pilot.press("4", "2", "enter")
        assert await answer_of(pilot, asker) == "42"


async def test_webdav_login(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        asker, screen = await ask(pilot, lambda: app._prompts.webdav("https://dav.example.org/p", "lab",
                                                                     "authentication needed"),
                                  CredentialsScreen)
        assert screen.query_one("#cred-password", Input).password
        await pilot.press("a", "l", "enter", "p", "w", "enter")
        assert await answer_of(pilot, asker) == ("al", "pw")
        asker, _ = await ask(pilot, lambda: app._prompts.webdav("https://x", None, ""), CredentialsScreen)
        await pilot.press("escape")
        assert await answer_of(pilot, asker) is None


async def test_quitting_while_a_prompt_waits_answers_no(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        asker, _ = await ask(pilot, lambda: app._prompts.ssh(HOST_KEY), HostKeyScreen)
    assert asker.finished.wait(5)
    assert asker.result is False


async def test_never_blocks_the_apps_own_thread(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app._prompts.ssh(HOST_KEY) is False
        assert app._prompts.webdav("https://x", None, "") is None
        assert not isinstance(app.screen, HostKeyScreen | CredentialsScreen)


def test_a_bridge_that_was_never_installed_answers_no() -> None:
    bridge = PromptBridge(object())
    assert bridge.ask(lambda: None) is None
    bridge.uninstall()  # harmless
