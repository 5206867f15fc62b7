"""The app on a portal-backed project: the header says read-only portal and names the
datasets; the portal's runs are in the tree, and browsing them works (Pilot, 120x40)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_app_shows_a_portal_root_read_only_with_its_datasets(portal_env, tmp_path: Path) -> None:
    from textual.widgets import Static
    from tui_helpers import settle, text_of

    from synctui.tui.app import SyncTuiApp
    from synctui.tui.screens.error import ErrorScreen
    from synctui.tui.widgets.project_tree import ProjectTree

    src, dst = tmp_path / "portal.json", tmp_path / "mine.json"
    (tmp_path / "laptop").mkdir()
    (tmp_path / "mine").mkdir()
    src.write_text(json.dumps(portal_env.config(str(tmp_path / "laptop"))))
    dst.write_text(json.dumps({"overlay_root": str(tmp_path / "mine"), "pickable_objects": []}))
    app = SyncTuiApp(str(src), str(dst))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        header = text_of(app.query_one("#header-source", Static))
        assert "+portal datasets 10440,10441 (read-only)" in header
        assert "+portal" not in text_of(app.query_one("#header-target", Static))
        tree = app.query(ProjectTree).first()
        labels = []

        def walk(node) -> None:
            labels.append(str(node.label))
            for child in node.children:
                walk(child)

        walk(tree.root)
        for run in ("1001", "1002", "1003"):  # copick names portal runs by id
            assert any(run in label for label in labels), labels[:20]
        for key in ("down", "down", "enter", "down", "down"):
            await pilot.press(key)
        await settle(pilot)
        assert not isinstance(app.screen, ErrorScreen)
