"""`synctui sync --cluster`: local:N matches a plain sync; bad values and a missing extra are one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sync_helpers import Pair, assert_no_traceback, basic_source, run_cli

from synctui.cli import main
from synctui.errors import EXIT_BAD_INPUT, EXIT_OK

SOURCE = basic_source(("TS_001", "TS_002", "TS_003", "TS_004"))


def test_sync_on_a_local_2_cluster_leaves_the_target_a_plain_sync_leaves(tmp_path: Path) -> None:
    plain, spread = Pair(tmp_path / "plain", SOURCE), Pair(tmp_path / "cluster", SOURCE)
    maps = ("--target-users", "alice:carol")
    done = run_cli("sync", "-s", plain.src, "-t", plain.dst, *maps, "--no-progress")
    assert done.returncode == EXIT_OK, done.stderr
    done = run_cli("sync", "-s", spread.src, "-t", spread.dst, *maps, "--no-progress", "--cluster", "local:2")
    assert done.returncode == EXIT_OK, done.stderr
    assert_no_traceback(done.stdout + done.stderr)
    assert "work units on the Dask cluster local:2" in done.stdout + done.stderr
    assert spread.target_tree() == plain.target_tree() != {}
    history = run_cli("history", "--target", spread.dst, "--json")
    assert [row["status"] for row in json.loads(history.stdout)] == ["ok"]


@pytest.mark.parametrize("spec", ["local:0", "local:x", "ftp://host:1", "somewhere", "tcp://host:99999"])
def test_a_bad_cluster_value_is_one_line_and_writes_nothing(tmp_path: Path, spec: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    pair = Pair(tmp_path, SOURCE)
    assert main(["sync", "-s", pair.src, "-t", pair.dst, "--cluster", spec]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cluster" in err
    assert pair.target_tree() == {}


def test_without_distributed_the_cluster_flag_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    pair = Pair(tmp_path, SOURCE)
    assert main(["sync", "-s", pair.src, "-t", pair.dst, "--cluster", "local:2"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "synctui[cluster]"' in err
    assert pair.target_tree() == {}
