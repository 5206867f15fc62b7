"""Fixtures for the app's tests: a fresh copy of the demo projects, a settled Pilot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo written once per session (about a second); tests get copies."""
    demo = pytest.importorskip("synctui.project.demo")
    root = tmp_path_factory.mktemp("demo-template") / "demo"
    demo.write_demo(str(root))
    return root


def copy_demo(template: Path, where: Path) -> Any:
    """Copy the demo (mtimes kept) and point its configs at the copy."""
    from synctui.project.demo import demo_paths

    shutil.copytree(template, where)
    for name in ("source.json", "target.json"):
        path = where / name
        data = json.loads(path.read_text())
        for key in ("overlay_root", "static_root"):
            if key in data:
                data[key] = data[key].replace(str(template), str(where))
        path.write_text(json.dumps(data, indent=4))
    return demo_paths(str(where))


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Any:
    """A private copy of the demo projects: DemoPaths(source_config, target_config, rules_file ...)."""
    return copy_demo(demo_template, tmp_path / "demo")


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio; async tests here carry ``pytestmark = pytest.mark.anyio``."""
    return "asyncio"
