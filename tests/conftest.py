"""Fixtures every test directory shares: an isolated state dir and tiny copick projects."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

# real servers (sshd, wsgidav, nginx, smbd) for any test folder, and the ``transport`` fixture that
# runs one test over local disk, SSH and WebDAV; assert rewriting for their helpers
pytest.register_assert_rewrite("server_fixtures", "webdav_servers", "s3_servers", "smb_server",
                               "transports")
pytest_plugins = ["server_fixtures", "webdav_servers", "s3_servers", "smb_server", "transports"]

#: two objects, enough for picks, segmentations and mapping tests
DEFAULT_OBJECTS: list[dict[str, Any]] = [
    {"name": "ribosome", "is_particle": True, "label": 1, "color": [0, 117, 220, 255],
     "pdb_id": "7P6Z", "radius": 150.0},
    {"name": "membrane", "is_particle": False, "label": 2, "color": [255, 0, 0, 255]},
]


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own state database folder, never the user's."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("SYNCTUI_STATE_DIR", str(path))
    return path


def write_tree(root: Path, files: Mapping[str, bytes | str]) -> None:
    """Write ``{relpath: content}`` below ``root`` (str content is UTF-8)."""
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Factory: write a copick config plus an overlay (and optional static) root.

    ``make_project({relpath: bytes}, static={relpath: bytes} | None, objects=[...],
    where="project", **extra_config_keys)`` returns the config path.  The roots are
    ``<where>/overlay`` and ``<where>/static`` next to ``<where>/copick_config.json``.
    """

    def make(files: Mapping[str, bytes | str] | None = None,
             static: Mapping[str, bytes | str] | None = None, *,
             objects: list[dict[str, Any]] | None = None, where: str = "project",
             name: str = "test project", **extra: Any) -> Path:
        base = tmp_path / where
        overlay = base / "overlay"
        overlay.mkdir(parents=True, exist_ok=True)
        write_tree(overlay, files or {})
        config: dict[str, Any] = {
            "config_type": "filesystem",
            "name": name,
            "description": "made by tests/conftest.py",
            "version": "1.0.0",
            "pickable_objects": DEFAULT_OBJECTS if objects is None else objects,
            "overlay_root": f"local://{overlay}",
            "overlay_fs_args": {"auto_mkdir": True},
        }
        if static is not None:
            static_root = base / "static"
            static_root.mkdir(parents=True, exist_ok=True)
            write_tree(static_root, static)
            config["static_root"] = f"local://{static_root}"
        config.update(extra)
        path = base / "copick_config.json"
        path.write_text(json.dumps(config, indent=4))
        return path

    return make


@pytest.fixture
def server_missing() -> Callable[[str], None]:
    """Call with a reason when a test server cannot start: skips, or fails in CI.

    ``scripts/test.sh`` sets SYNCTUI_REQUIRE_SERVERS=1 when CI=true so a missing
    sshd or WebDAV server is a failure there, not a silent skip.
    """

    def missing(reason: str) -> None:
        if os.environ.get("SYNCTUI_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{reason} (SYNCTUI_REQUIRE_SERVERS=1)")
        pytest.skip(reason)

    return missing
