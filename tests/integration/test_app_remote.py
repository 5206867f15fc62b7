"""The app, end to end, against real servers: local -> SSH and local -> WebDAV.

Driven by keys through Pilot at 80x24.  The stores ask their questions (trust this
host, a passphrase or password, a WebDAV login) from worker threads; the app turns
them into modals (``synctui.tui.remote_prompts``) and these tests answer them.
On loopback both servers serve local folders, so the results are checked on disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import Pair, read_tree, write_config, write_tree
from webdav_servers import Dav  # noqa: E402

from synctui.storage import ssh_connect, webdav_auth  # noqa: E402
from synctui.tui.screens.confirm import ConfirmScreen  # noqa: E402
from synctui.tui.screens.prompt import (  # noqa: E402
    CredentialsScreen,
    HostKeyScreen,
    SecretPromptScreen,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SIZE = (80, 24)
TIMEOUT = 60.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_global_prompts():
    """No test leaves the app's prompt bridge installed (nor inherits one)."""
    old_ssh = ssh_connect.set_default_prompter(None)
    old_dav = webdav_auth.default_prompt()
    webdav_auth.set_auth_prompt(None)
    yield
    assert ssh_connect.get_default_prompter() is None, "the app left its SSH prompt installed"
    assert webdav_auth.default_prompt() is None, "the app left its WebDAV prompt installed"
    ssh_connect.set_default_prompter(old_ssh)
    webdav_auth.set_auth_prompt(old_dav)


def make_app(source: Path | str, target: Path | str):
    from synctui.tui.app import SyncTuiApp

    return SyncTuiApp(str(source), str(target))


async def wait_until(pilot, cond: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Let the app run until ``cond()`` is truthy (bounded); never waits on workers,
    which may be blocked on the very prompt we are waiting for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        await pilot.pause(0.05)
    app = pilot.app
    raise AssertionError(f"timed out waiting for {what}: screen={type(app.screen).__name__} "
                         f"plan_error={app.session.plan_error!r} sync_error={app.session.sync_error!r}")


async def wait_for_screen(pilot, cls: type) -> Any:
    """The top screen once it is a mounted ``cls`` (composed, its input focused)."""
    screen = await wait_until(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, cls)
                              and pilot.app.screen.is_mounted else None, cls.__name__)
    await pilot.pause()
    return screen


async def wait_for_plan(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: (app.session.plan is not None and not app.session.planning) or app.session.plan_error,
                     "the plan")
    assert app.session.plan_error is None, app.session.plan_error
    assert app.session.plan.transfer_files > 0


async def sync_to_the_end(pilot) -> None:
    """``s``, confirm, wait for the summary: the sync must succeed."""
    app = pilot.app
    await pilot.press("s")
    await wait_for_screen(pilot, ConfirmScreen)
    await pilot.press("y")
    await wait_until(pilot, lambda: app.session.summary is not None or app.session.sync_error, "the sync")
    assert app.session.sync_error is None, app.session.sync_error
    assert app.session.summary.status == "ok", app.session.summary
    assert not app.session.summary.errors


async def type_secret(pilot, text: str) -> None:
    await pilot.press(*list(text))
    await pilot.press("enter")


def visible(tree: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in tree.items() if not k.startswith(".synctui")}


# -- SSH ---------------------------------------------------------------------------------


async def test_local_to_ssh_trusting_a_new_host(remote: Any, ssh_env: Path, tmp_path: Path) -> None:
    pair = Pair(tmp_path / "p")
    known = tmp_path / "known_hosts_empty"
    known.write_text("")
    remote.ssh_config(pair.target_config, root=pair.dst_root, known_hosts=known)
    server = remote.server
    app = make_app(pair.src, pair.dst)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, HostKeyScreen)
        question = str(screen.question)
        fp = ssh_connect.fingerprint(_host_key(server))
        assert fp.startswith("SHA256:") and fp in question
        assert f"Unknown host {server.user}@{server.host}:{server.port}" in question
        assert "trust it and add to known_hosts?" in question
        await pilot.press("y")
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert visible(pair.target_tree()) == pair.src_files
    trusted = known.read_text() + _read(ssh_env / ".ssh" / "known_hosts")
    assert server.host_key_pub in trusted


async def test_refusing_a_new_host_is_a_one_line_error(remote: Any, ssh_env: Path,
                                                      tmp_path: Path) -> None:
    from synctui.tui.screens.error import ErrorScreen

    pair = Pair(tmp_path / "p")
    known = tmp_path / "known_hosts_empty"
    known.write_text("")
    remote.ssh_config(pair.target_config, root=pair.dst_root, known_hosts=known)
    app = make_app(pair.src, pair.dst)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(pilot, HostKeyScreen)
        await pilot.press("n")
        await wait_for_screen(pilot, ErrorScreen)
        assert app.session.plan_error and "not trusted" in app.session.plan_error and "\n" not in app.session.plan_error
    assert known.read_text() == ""
    assert not read_tree(pair.dst_root)


async def test_a_changed_host_key_is_never_asked_about(remote: Any, ssh_env: Path,
                                                      tmp_path: Path) -> None:
    from synctui.tui.screens.error import ErrorScreen

    pair = Pair(tmp_path / "p")
    known = tmp_path / "known_hosts_wrong"
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pub = other.with_suffix(".pub").read_text().split()
    known.write_text(f"[{remote.server.host}]:{remote.server.port} {pub[0]} {pub[1]}\n")
    remote.ssh_config(pair.target_config, root=pair.dst_root, known_hosts=known)
    app = make_app(pair.src, pair.dst)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(pilot, ErrorScreen)
        assert not any(isinstance(s, HostKeyScreen) for s in app.screen_stack)
        assert "HOST KEY CHANGED" in app.session.plan_error and "\n" not in app.session.plan_error


async def test_local_to_ssh_with_a_passphrase_from_the_prompt(remote: Any, ssh_env: Path,
                                                              tmp_path: Path) -> None:
    server = remote.server
    pair = Pair(tmp_path / "p")
    remote.ssh_config(pair.target_config, root=pair.dst_root, client_keys=[str(server.enc_key)],
                      allow_agent=False, look_for_keys=False)
    app = make_app(pair.src, pair.dst)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, SecretPromptScreen)
        assert "Passphrase" in screen.title_text
        assert screen.query_one("#secret-input").password  # masked
        await type_secret(pilot, server.enc_passphrase)
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert visible(pair.target_tree()) == pair.src_files




async def test_local_to_ssh_with_a_password_from_the_prompt(system_user, remote: Any,
                                                            ssh_env: Path, tmp_path: Path) -> None:
    name, password, home = system_user
    root = home / "data" / "overlay"
    root.mkdir(parents=True)
    for p in (home / "data", root):
        shutil.chown(p, name)
    pair = Pair(tmp_path / "p")
    remote.ssh_config(pair.target_config, root=root, username=name, client_keys=[],
                      look_for_keys=False, allow_agent=False)
    app = make_app(pair.src, pair.dst)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, SecretPromptScreen)
        assert "Password" in screen.title_text and name in screen.title_text
        assert screen.query_one("#secret-input").password
        await type_secret(pilot, password)
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert visible(read_tree(root)) == pair.src_files
    assert all(p.owner() == name for p in root.rglob("*") if p.is_file())


# -- WebDAV ------------------------------------------------------------------------------


def local_source(base: Path) -> tuple[Path, dict[str, bytes]]:
    from sync_helpers import SRC_MTIME, basic_source

    files = basic_source()
    root = base / "src" / "overlay"
    write_tree(root, files, mtime=SRC_MTIME)
    return write_config(base / "src" / "config.json", root, name="source"), files


def dav_config(path: Path, dav: Dav, sub: str) -> Path:
    cfg = {"name": "dav", "pickable_objects": [
        {"name": "ribosome", "is_particle": True, "label": 1},
        {"name": "membrane", "is_particle": False, "label": 2}],
        "overlay_root": f"webdav://{dav.prefix.strip('/')}/{sub}",
        "overlay_fs_args": {"base_url": dav.server_url}}
    path.write_text(json.dumps(cfg, indent=2))
    return path


async def test_local_to_webdav(wsgidav_dav: Dav, tmp_path: Path) -> None:
    src, files = local_source(tmp_path)
    dst = dav_config(tmp_path / "dst.json", wsgidav_dav, "proj/overlay")
    app = make_app(src, dst)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert visible(read_tree(wsgidav_dav.disk / "proj" / "overlay")) == files


async def test_local_to_webdav_with_basic_auth_from_the_prompt(dav_factory, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (webdav_auth.ENV_USER, webdav_auth.ENV_PASSWORD, webdav_auth.ENV_TOKEN):
        monkeypatch.delenv(var, raising=False)
    _, dav = dav_factory(users={"alice": "s3cret"})
    src, files = local_source(tmp_path)
    dst = dav_config(tmp_path / "dst.json", dav, "proj/overlay")
    app = make_app(src, dst)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, CredentialsScreen)
        assert dav.server_url.split("//")[1] in screen.url or dav.prefix in screen.url
        assert screen.query_one("#cred-password").password
        await type_secret(pilot, "alice")  # enter moves on to the password
        await type_secret(pilot, "s3cret")
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert visible(read_tree(dav.disk / "proj" / "overlay")) == files


async def test_cancelling_the_webdav_login_is_a_one_line_error(dav_factory, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from synctui.tui.screens.error import ErrorScreen

    for var in (webdav_auth.ENV_USER, webdav_auth.ENV_PASSWORD, webdav_auth.ENV_TOKEN):
        monkeypatch.delenv(var, raising=False)
    _, dav = dav_factory(users={"alice": "s3cret"})
    src, _files = local_source(tmp_path)
    dst = dav_config(tmp_path / "dst.json", dav, "proj/overlay")
    app = make_app(src, dst)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(pilot, CredentialsScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, ErrorScreen)
        assert "401" in app.session.plan_error and "\n" not in app.session.plan_error


@pytest.mark.parametrize("insecure", [False, True])
async def test_self_signed_webdav_with_the_tls_flags(dav_factory, tmp_path: Path, insecure: bool) -> None:
    """--ca-bundle / --insecure reach the app (and survive its re-reading the configs);
    --insecure is also a warning notification."""
    from webdav_servers import self_signed_cert

    from synctui.storage.tls import TLSOptions
    from synctui.tui.app import SyncTuiApp

    cert, key = self_signed_cert(str(tmp_path))
    _, dav = dav_factory(tls=(cert, key))
    src, files = local_source(tmp_path)
    dst = dav_config(tmp_path / "dst.json", dav, "proj/overlay")
    tls = TLSOptions(insecure=True) if insecure else TLSOptions(cert).checked()
    app = SyncTuiApp(str(src), str(dst), tls=tls)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_plan(pilot)
        notes = [str(n.message) for n in app._notifications]
        assert any("TLS certificate checks are OFF" in n for n in notes) is insecure, notes
        await sync_to_the_end(pilot)
    assert visible(read_tree(dav.disk / "proj" / "overlay")) == files


# -- helpers -------------------------------------------------------------------------------


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _host_key(server):
    import paramiko

    return paramiko.PKey.from_path(str(server.host_key))
