"""The app with S3 roots (Pilot, 80x24): local -> S3 -> local and SSH -> S3 -> SSH on moto
and SeaweedFS, and a server that ignores ``If-None-Match`` written only with the user's consent, which
the target's header shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from s3_servers import S3Root, S3Server
from sync_helpers import SRC_MTIME, basic_source, read_tree, write_config, write_tree
from test_app_remote import SIZE, sync_to_the_end, wait_for_plan, wait_until
from test_s3_sync import ssh_project

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def s3_config(path: Path, url: str, fs_args: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"name": "s3", "pickable_objects": [
        {"name": "ribosome", "is_particle": True, "label": 1},
        {"name": "membrane", "is_particle": False, "label": 2}],
        "overlay_root": url, "overlay_fs_args": fs_args}))
    return path


def header_text(app, side: str) -> str:
    from synctui.tui.widgets.projects_header import side_text

    return side_text(side, app.session.sides[side]).plain


async def test_the_app_syncs_to_s3_and_back(s3: S3Root, tmp_path: Path) -> None:
    from synctui.tui.app import SyncTuiApp

    files = basic_source(("TS_001",))
    write_tree(tmp_path / "src", files, mtime=SRC_MTIME)
    src = write_config(tmp_path / "src.json", tmp_path / "src", name="source")
    remote = s3_config(tmp_path / "s3.json", s3.url("proj"), s3.fs_args())
    app = SyncTuiApp(str(src), str(remote))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_plan(pilot)
        assert "s3://" in header_text(app, "target")
        assert "If-None-Match" in app.session.sides["target"].server  # the probe's findings, in the tooltip
        await sync_to_the_end(pilot)
    assert read_tree(s3.path("proj")) == files
    back = write_config(tmp_path / "back.json", tmp_path / "back", name="back")
    app = SyncTuiApp(str(remote), str(back))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_plan(pilot)
        await sync_to_the_end(pilot)
    assert read_tree(tmp_path / "back") == files


async def test_the_app_syncs_an_ssh_project_to_s3_and_back(s3: S3Root, remote: Any, tmp_path: Path) -> None:
    from synctui.tui.app import SyncTuiApp

    files = basic_source(("TS_001",))
    ssh_cfg, _ = ssh_project(remote, tmp_path, "proj", files)
    s3_cfg = s3_config(tmp_path / "s3.json", s3.url("proj"), s3.fs_args())
    back_cfg, back_root = ssh_project(remote, tmp_path, "back")
    for src, dst, s3_side, ssh_side in ((ssh_cfg, s3_cfg, "target", "source"),
                                        (s3_cfg, back_cfg, "source", "target")):
        app = SyncTuiApp(str(src), str(dst))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_plan(pilot)
            assert "s3://" in header_text(app, s3_side) and "ssh://" in header_text(app, ssh_side)
            await sync_to_the_end(pilot)
    assert read_tree(s3.path("proj")) == files
    assert read_tree(back_root) == files


async def test_unguarded_writes_only_with_consent_and_shown_in_the_header(
        stripping_s3: S3Server, moto_s3: S3Server, aws_env: Path, tmp_path: Path) -> None:
    from synctui.tui.app import SyncTuiApp

    bucket = moto_s3.new_bucket()
    files = basic_source(("TS_001",))
    write_tree(tmp_path / "src", files, mtime=SRC_MTIME)
    src = write_config(tmp_path / "src.json", tmp_path / "src", name="source")
    remote = s3_config(tmp_path / "s3.json", f"s3://{bucket}/proj", stripping_s3.fs_args())
    app = SyncTuiApp(str(src), str(remote))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_plan(pilot)
        assert "UNGUARDED" not in header_text(app, "target")
        await pilot.press("s")
        from synctui.tui.screens.confirm import ConfirmScreen

        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.session.sync_error or app.session.summary, "the refusal")
        assert "ignores conditional writes" in str(app.session.sync_error), app.session.sync_error
    assert moto_s3.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    app = SyncTuiApp(str(src), str(remote), allow_unguarded_writes=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_plan(pilot)
        assert "UNGUARDED WRITES" in header_text(app, "target")
        await sync_to_the_end(pilot)
    assert read_tree(S3Root(moto_s3, bucket).path("proj")) == files
