"""`synctui sync` refuses what would only look like a sync (issue #12, items 1, 2 and 9):
a missing or odd root, a prune of most of the target, and says what a prune really did."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sync_helpers import TRASH, Pair, basic_source

from synctui.errors import EXIT_BAD_INPUT, EXIT_OK


@pytest.fixture
def cli(capsys, monkeypatch):
    from safety_helpers import run_main

    monkeypatch.setenv("COLUMNS", "100")
    return lambda *args: run_main(capsys, *args)


def synced(tmp_path: Path, cli, **kw) -> Pair:
    pair = Pair(tmp_path, **kw)
    code, _, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    assert code == EXIT_OK
    return pair


def variant(pair: Pair, name: str, **keys: object) -> str:
    """The source config with ``keys`` changed (None drops a key), as ``name``."""
    data = json.loads(Path(pair.src).read_text())
    for key, value in keys.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = Path(pair.src).with_name(name)
    path.write_text(json.dumps(data))
    return str(path)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("synctui: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- item 1 and 9: roots -------------------------------------------------------------------------

def test_prune_from_a_mistyped_source_root_exits_2_and_touches_nothing(tmp_path: Path, cli) -> None:
    """The issue's reproduction: overlay_root names a folder that does not exist."""
    pair = synced(tmp_path, cli)
    before = pair.target_tree()
    missing = tmp_path / "src" / "overlay-typo"
    typo = variant(pair, "typo.json", overlay_root=str(missing), static_root=None)
    code, out, err = cli("sync", "-s", typo, "-t", pair.dst, "--prune", "--no-progress")
    assert code == EXIT_BAD_INPUT
    line = one_error_line(err)
    assert "typo.json" in line and "overlay_root" in line and str(missing) in line
    assert "nothing was written" in line and "deleted" not in out
    assert pair.target_tree() == before and not (pair.dst_root / TRASH).exists()
    assert not missing.exists()


@pytest.mark.parametrize("command", ["sync", "plan"])
def test_a_source_root_that_is_a_file_exits_2(tmp_path: Path, cli, command: str) -> None:
    pair = synced(tmp_path, cli)
    before = pair.target_tree()
    typo = variant(pair, "file.json", overlay_root=str(Path(pair.src)))
    code, _, err = cli(command, "-s", typo, "-t", pair.dst, "--prune")
    assert code == EXIT_BAD_INPUT
    assert "is not a folder" in one_error_line(err)
    assert pair.target_tree() == before


def test_a_target_root_that_is_a_file_exits_2_not_1(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    shutil.rmtree(pair.dst_root)
    pair.dst_root.write_bytes(b"x")
    code, out, err = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    assert code == EXIT_BAD_INPUT
    line = one_error_line(err)
    assert "overlay_root" in line and str(pair.dst_root) in line and "is not a folder" in line
    assert "Summary" not in out and pair.dst_root.read_bytes() == b"x"


def test_an_unlistable_source_exits_2_not_1(tmp_path: Path, cli) -> None:
    """Unreadable as root (chmod stops nobody): a symlink loop makes the listing fail."""
    pair = synced(tmp_path, cli)
    before = pair.target_tree()
    (pair.src_root / "ExperimentRuns" / "loop").symlink_to("loop")
    code, out, err = cli("sync", "-s", pair.src, "-t", pair.dst, "--prune", "--no-progress")
    assert code == EXIT_BAD_INPUT
    assert "cannot be listed" in one_error_line(err) and "Summary" not in out
    assert pair.target_tree() == before


# -- item 1: the prune guard ---------------------------------------------------------------------

def test_prune_from_an_empty_source_folder_needs_prune_all(tmp_path: Path, cli) -> None:
    pair = synced(tmp_path, cli)
    before = pair.target_tree()
    (tmp_path / "empty").mkdir()
    empty = variant(pair, "empty.json", overlay_root=str(tmp_path / "empty"))
    code, out, err = cli("plan", "-s", empty, "-t", pair.dst, "--prune")
    assert code == EXIT_OK and "the sync will not run" in " ".join(out.split())
    for extra in ([], ["--max-delete", "1000"]):
        code, out, err = cli("sync", "-s", empty, "-t", pair.dst, "--prune", "--no-progress", *extra)
        assert code == EXIT_BAD_INPUT
        line = one_error_line(err)
        assert "no entities" in line and "--prune-all" in line and "nothing was written" in line
        assert pair.target_tree() == before and not (pair.dst_root / TRASH).exists()
    code, out, _ = cli("sync", "-s", empty, "-t", pair.dst, "--prune", "--prune-all", "--no-progress")
    assert code == EXIT_OK and pair.target_tree() == {}
    assert "moved to .synctui-trash/" in out


def test_prune_over_half_needs_max_delete_or_prune_all(tmp_path: Path, cli) -> None:
    pair = synced(tmp_path, cli, source_files=basic_source(("TS_001", "TS_002", "TS_003")))
    for run in ("TS_002", "TS_003"):
        shutil.rmtree(pair.src_root / "ExperimentRuns" / run)
    code, _, err = cli("sync", "-s", pair.src, "-t", pair.dst, "--prune", "--no-progress")
    assert code == EXIT_BAD_INPUT and "more than half" in one_error_line(err)
    code, _, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--prune", "--no-progress", "--max-delete", "100")
    assert code == EXIT_OK


@pytest.mark.parametrize("flags, words", [(["--prune-all"], "with --prune"),
                                          (["--prune", "--max-delete", "-1"], "negative")])
def test_guard_flags_are_checked(tmp_path: Path, cli, flags: list[str], words: str) -> None:
    pair = Pair(tmp_path)
    code, _, err = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress", *flags)
    assert code == EXIT_BAD_INPUT and words in one_error_line(err)
    assert pair.target_tree() == {}


# -- item 2: what a prune really did -----------------------------------------------------------

def test_prune_delete_says_destroyed_not_moved_to_the_trash(tmp_path: Path, cli) -> None:
    pair = synced(tmp_path, cli)
    (pair.src_root / "ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb").unlink()
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--prune=delete", "--no-progress")
    assert code == EXIT_OK
    assert not (pair.dst_root / TRASH).exists()
    deleted = next(line for line in out.splitlines() if "deleted:" in line)
    assert "destroyed" in deleted and "trash/" not in deleted
    files = next(line for line in out.splitlines() if "files:" in line)
    assert "0 moved to trash" in files and "1 destroyed" in files
    # the same in --json and in the history
    (pair.src_root / "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb").unlink()
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--prune=delete", "--no-progress", "--json")
    data = json.loads(out)
    assert (data["deleted"], data["destroyed"], data["files_destroyed"], data["files_trashed"]) == (1, 1, 1, 0)
    assert data["trash"] is None and not (pair.dst_root / TRASH).exists()
    code, out, _ = cli("history", "--json")
    rows = json.loads(out)
    assert "destroyed" in rows[0]["note"] and "destroyed" in rows[1]["note"]
    code, out, _ = cli("history")
    assert "destroyed (--prune=delete)" in out


def test_prune_into_the_trash_says_where(tmp_path: Path, cli) -> None:
    pair = synced(tmp_path, cli)
    (pair.src_root / "ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb").unlink()
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--prune", "--no-progress", "--json")
    data = json.loads(out)
    assert data["trash"].startswith(f"{TRASH}/") and (pair.dst_root / data["trash"]).is_dir()
    assert (data["files_trashed"], data["files_destroyed"], data["destroyed"]) == (1, 0, 0)
