"""The app, end to end, with an SMB root (the loopback Samba server): driven by keys
through Pilot at 80x24.  A config without a password makes the store ask through the
app's prompt bridge (a masked modal), as SSH passwords are asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from smb_server import Share
from sync_helpers import SRC_MTIME, basic_source, read_tree, write_config, write_tree
from test_app_remote import (
    SIZE,
    make_app,
    sync_to_the_end,
    type_secret,
    visible,
    wait_for_plan,
    wait_for_screen,
)

from synctui.storage import ssh_connect
from synctui.tui.screens.prompt import SecretPromptScreen

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_global_prompts():
    old = ssh_connect.set_default_prompter(None)
    yield
    assert ssh_connect.get_default_prompter() is None, "the app left its prompt installed"
    ssh_connect.set_default_prompter(old)


def local(tmp_path: Path, name: str, files: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    root = tmp_path / name / "overlay"
    root.mkdir(parents=True)
    if files:
        write_tree(root, files, mtime=SRC_MTIME)
    return write_config(tmp_path / name / "config.json", root, name=name), root


async def test_local_to_smb_with_the_password_from_the_prompt(smb: Share, tmp_path: Path) -> None:
    files = basic_source()
    src, _ = local(tmp_path, "src", files)
    dst = smb.config(tmp_path / "smb.json", smb.disk / "proj", password=None)
    app = make_app(src, dst)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, SecretPromptScreen)
        assert "Password" in screen.title_text and smb.server.host in screen.title_text
        assert screen.query_one("#secret-input").password  # masked
        await type_secret(pilot, smb.server.password)
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert visible(read_tree(smb.disk / "proj")) == files


async def test_smb_to_local(smb: Share, tmp_path: Path) -> None:
    files = basic_source()
    write_tree(smb.disk / "proj", files, mtime=SRC_MTIME)
    src = smb.config(tmp_path / "smb.json", smb.disk / "proj")
    dst, dst_root = local(tmp_path, "dst")
    app = make_app(src, dst)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert visible(read_tree(dst_root)) == files
