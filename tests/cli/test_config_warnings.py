"""A mistyped fs_arg is a warning the user sees (issue #14, item 6): on the CLI's stderr
once per config, in the log, and as an app notice."""

from __future__ import annotations

import json
from pathlib import Path

from safety_helpers import run_main
from sync_helpers import Pair, basic_source

from synctui.project.config import load_config


def mistype(config: str) -> None:
    data = json.loads(Path(config).read_text())
    data["overlay_fs_args"] = {"fsycn": False}
    Path(config).write_text(json.dumps(data))


def test_a_mistyped_fs_arg_is_named_on_stderr_once(capsys, tmp_path: Path) -> None:
    pair = Pair(tmp_path, basic_source(("TS_001",)))
    mistype(pair.dst)
    code, _, err = run_main(capsys, "--log", str(tmp_path / "log"), "plan", "-s", pair.src, "-t", pair.dst)
    assert code == 0
    assert [ln for ln in err.splitlines() if "fsycn" in ln] == [
        f"synctui: warning: {pair.dst}: overlay_fs_args: unknown setting 'fsycn' for a local root, "
        "ignored (did you mean 'fsync'?)"]
    assert "unknown setting 'fsycn'" in (tmp_path / "log").read_text()


def test_the_config_carries_its_warnings(tmp_path: Path) -> None:
    pair = Pair(tmp_path, basic_source(("TS_001",)))
    mistype(pair.dst)
    assert load_config(pair.dst).warnings == [
        f"{pair.dst}: overlay_fs_args: unknown setting 'fsycn' for a local root, ignored (did you "
        "mean 'fsync'?)"]
    assert load_config(pair.src).warnings == []
