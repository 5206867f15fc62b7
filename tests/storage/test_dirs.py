"""One module owns where synctui keeps its files (storage/dirs.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from synctui.storage import dirs


def test_the_state_dir_variable_puts_state_cache_and_log_in_one_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(dirs.ENV, str(tmp_path))
    from synctui.storage.listing_cache import cache_path
    from synctui.sync.state import default_db_path

    assert dirs.state_dir() == dirs.cache_dir() == str(tmp_path)
    assert default_db_path() == str(tmp_path / "state.db")
    assert cache_path() == str(tmp_path / "listings.db")
    assert dirs.log_file() == str(tmp_path / "synctui.log")


def test_without_it_platformdirs_decides(monkeypatch) -> None:
    from platformdirs import user_cache_path, user_log_path, user_state_path

    monkeypatch.delenv(dirs.ENV, raising=False)
    assert dirs.state_dir() == str(user_state_path("synctui"))
    assert dirs.cache_dir() == str(user_cache_path("synctui"))
    assert dirs.log_file() == str(user_log_path("synctui") / "synctui.log")


def test_no_other_module_reads_the_variable_or_platformdirs() -> None:
    root = Path(dirs.__file__).parents[1]
    out = subprocess.run(["grep", "-rlE", "SYNCTUI_STATE_DIR|platformdirs", str(root), "--include=*.py"],
                         capture_output=True, text=True)
    found = sorted(os.path.relpath(p, root) for p in out.stdout.split())
    assert found == [os.path.join("storage", "dirs.py")], found
