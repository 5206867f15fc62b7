"""`synctui sync`: dry run, saved plans, flags, JSON summary, exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sync_helpers import (
    OLD_MTIME,
    SRC_MTIME,
    Pair,
    assert_no_traceback,
    basic_source,
    picks_path,
    run_cli,
    write_tree,
)

from synctui.errors import EXIT_BAD_INPUT, EXIT_CONFLICTS, EXIT_OK, EXIT_PARTIAL


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``synctui ARGS`` in this process: (exit code, stdout, stderr)."""
    from safety_helpers import run_main

    monkeypatch.setenv("COLUMNS", "100")
    return lambda *args: run_main(capsys, *args)


def conflict_pair(tmp_path: Path) -> Pair:
    pair = Pair(tmp_path)
    rel = picks_path("TS_001", "bob", "0", "membrane")
    # same size, different bytes, newer in the target: someone edited it there
    write_tree(pair.dst_root, {rel: bytes(len(pair.src_files[rel]))}, mtime=SRC_MTIME + 500)
    return pair


# -- dry run and plans -----------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--itemize"], ["--itemize", "--all"], ["--target-users", "alice:carol"]])
def test_dry_run_prints_exactly_the_plan(tmp_path: Path, cli, extra: list[str]) -> None:
    pair = Pair(tmp_path)
    code_p, out_p, err_p = cli("plan", "-s", pair.src, "-t", pair.dst, *extra)
    code_d, out_d, err_d = cli("sync", "--dry-run", "-s", pair.src, "-t", pair.dst, *extra)
    assert code_p == code_d == EXIT_OK
    assert out_p == out_d and err_p == err_d
    assert "Would transfer 34 files" in out_d
    assert pair.target_tree() == {}  # a dry run writes nothing


def test_dry_run_json_equals_plan_json(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    _, out_p, _ = cli("plan", "-s", pair.src, "-t", pair.dst, "--json")
    _, out_d, _ = cli("sync", "-n", "-s", pair.src, "-t", pair.dst, "--json")
    plan_p, plan_d = json.loads(out_p), json.loads(out_d)
    plan_p.pop("created_at"), plan_d.pop("created_at")
    assert plan_p == plan_d


def test_sync_then_nothing_to_do(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    code, out, err = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    assert code == EXIT_OK and err == ""
    assert "Summary (ok)" in out and "34 written" in out
    assert pair.target_tree() == pair.source_tree()
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    assert code == EXIT_OK and "Nothing to do" in out and "0 written" in out
    code, out, _ = cli("plan", "-s", pair.src, "-t", pair.dst)
    assert "Nothing to do" in out


def test_saved_plan_runs_as_previewed(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    plan_file = tmp_path / "plan.json"
    code, out, _ = cli("plan", "-s", pair.src, "-t", pair.dst, "--save-plan", str(plan_file))
    assert code == EXIT_OK and plan_file.exists()
    # after the preview: a new source file (not in the plan) and a changed one (skipped)
    new = picks_path("TS_001", "erin", "1", "ribosome")
    changed = "ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb"
    write_tree(pair.src_root, {new: b"{}", changed: b"changed after the preview"})
    code, out, err = cli("sync", "--plan", str(plan_file), "--no-progress", "--json")
    assert code == EXIT_OK, err
    summary = json.loads(out)
    assert summary["files_written"] == len(pair.src_files) - 1
    assert [(s["path"], "since the plan" in s["reason"]) for s in summary["skipped_changed"]] == [(changed, True)]
    tgt = pair.target_tree()
    assert new not in tgt and changed not in tgt
    # a plain sync picks up the rest
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--json")
    assert json.loads(out)["files_written"] == 2 and code == EXIT_OK
    assert pair.target_tree() == pair.source_tree()


def test_sync_save_plan_then_run_it_again_skips_everything(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    plan_file = tmp_path / "p.json"
    code, _, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--save-plan", str(plan_file), "--no-progress")
    assert code == EXIT_OK and plan_file.exists()
    code, out, _ = cli("sync", "--plan", str(plan_file), "--json")
    summary = json.loads(out)
    assert code == EXIT_OK and summary["files_written"] == 0
    assert summary["files_skipped"] == len(pair.src_files)
    # every target file appeared since the plan (zarr metadata is held back behind its chunks)
    assert summary["skipped_changed"]
    assert all("target file appeared since the plan" in s["reason"] for s in summary["skipped_changed"])


# -- flags -------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", ["1", "8"])
def test_max_workers(tmp_path: Path, cli, workers: str) -> None:
    pair = Pair(tmp_path)
    code, _, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--max-workers", workers, "--no-progress")
    assert code == EXIT_OK and pair.target_tree() == pair.source_tree()


def test_verbose_lists_every_file(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "-v", "--no-progress")
    assert code == EXIT_OK
    lines = [line for line in out.splitlines() if line.startswith("create")]
    assert sorted(line.split()[-1] for line in lines) == sorted(pair.src_files)


def test_json_summary(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    code, out, err = cli("sync", "-s", pair.src, "-t", pair.dst, "--json", "-v")
    assert code == EXIT_OK
    summary = json.loads(out)  # --verbose never spoils the JSON on stdout
    assert "create" in err  # the verbose lines went to stderr
    for key in ("sync_id", "status", "exit_code", "checked", "created", "updated", "deleted", "skipped",
                "conflicts", "blocked", "bytes", "duration", "errors", "files_written"):
        assert key in summary
    assert summary["status"] == "ok" and summary["created"] == summary["checked"] == 14
    assert summary["bytes"] == sum(len(b) for b in pair.src_files.values())


def test_no_progress_draws_no_bars(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    forced = {"FORCE_COLOR": "1", "TERM": "xterm"}
    bars = run_cli("sync", "-s", pair.src, "-t", pair.dst, env=forced)
    assert bars.returncode == EXIT_OK
    assert "━" in bars.stdout  # the progress bars, on a terminal
    files_rows = [line for line in bars.stdout.splitlines() if "files" in line and "━" in line]
    assert files_rows and not any("bytes" in r or "iB" in r for r in files_rows)  # counts, not sizes
    assert any("/34" in r for r in files_rows)
    assert any("iB" in line for line in bars.stdout.splitlines() if line.lstrip("\x1b[2K").startswith("bytes"))
    (tmp_path / "again").mkdir()
    pair2 = Pair(tmp_path / "again")
    plain = run_cli("sync", "-s", pair2.src, "-t", pair2.dst, "--no-progress", env=forced)
    assert plain.returncode == EXIT_OK
    assert "━" not in plain.stdout and "\x1b[?25l" not in plain.stdout
    assert "Summary (ok)" in plain.stdout


# -- exit codes --------------------------------------------------------------------------------

def test_exit_codes_are_documented_in_help() -> None:
    for args in (["--help"], ["sync", "--help"]):
        res = run_cli(*args)
        assert res.returncode == 0
        text = res.stdout
        assert "exit codes:" in text
        for code, words in ((0, "done"), (1, "failed"), (2, "bad input"), (3, "lock"), (4, "cancelled"),
                            (5, "conflicts"), (6, "remote")):
            assert any(line.strip().startswith(f"{code} ") and words in line for line in text.splitlines()), \
                (code, words)


def test_exit_1_when_some_items_fail(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path, target_files={"ExperimentRuns/TS_001/Meshes": b"a file, not a folder"})
    code, out, err = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    assert code == EXIT_PARTIAL
    failed = [line for line in err.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb" in failed[0]
    assert "Summary (partial)" in out and "errors: 1" in out
    assert "33 written" in out


def test_conflicts_are_reported_and_exit_5_only_when_asked(tmp_path: Path, cli) -> None:
    pair = conflict_pair(tmp_path)
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress")
    assert code == EXIT_OK and "conflicts: 1 entity left untouched" in out
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress", "--fail-on-conflict")
    assert code == EXIT_CONFLICTS and "conflicts: 1 entity left untouched" in out
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--no-progress", "--overwrite-conflicts")
    assert code == EXIT_OK
    assert pair.target_tree() == pair.source_tree()


def _bad_inputs(tmp_path: Path, pair: Pair) -> list[list[str]]:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    not_copick = tmp_path / "list.json"
    not_copick.write_text("[1, 2]")
    bad_rules = tmp_path / "rules.json"
    bad_rules.write_text(json.dumps({"synctui_rules": 99}))
    bad_plan = tmp_path / "plan.json"
    bad_plan.write_text(json.dumps({"synctui_plan": 1, "entities": "nope"}))
    s, t = pair.src, pair.dst
    return [
        ["sync", "-s", str(tmp_path / "missing.json"), "-t", t],
        ["sync", "-s", str(broken), "-t", t],
        ["sync", "-s", s, "-t", str(not_copick)],
        ["sync", "-s", s, "-t", s],
        ["sync", "-s", s, "-t", t, "--rules", str(bad_rules)],
        ["sync", "-s", s, "-t", t, "--rules", str(tmp_path / "nope.json")],
        ["sync", "-s", s, "-t", t, "--target-runs", "a:b:c"],
        ["sync", "-s", s, "-t", t, "--target-objects", "ribosome:x,membrane:x"],
        ["sync", "-s", s, "-t", t, "--target-users", "alice:bad_name"],
        ["sync", "-s", s, "-t", t, "--kinds", "pictures"],
        ["sync", "-s", s, "-t", t, "--voxel-spacings", "ten"],
        ["sync", "-s", s, "-t", t, "--max-workers", "0"],
        ["sync", "-s", s, "-t", t, "--modify-window", "-1"],
        ["sync", "--plan", str(tmp_path / "no-plan.json")],
        ["sync", "--plan", str(bad_plan)],
        ["sync", "--plan", str(broken)],
        ["sync", "-s", s],
    ]


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path: Path, cli) -> None:
    pair = Pair(tmp_path)
    for args in _bad_inputs(tmp_path, pair):
        code, out, err = cli(*args)
        assert code == EXIT_BAD_INPUT, (args, out, err)
        assert_no_traceback(out + err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("synctui: error: "), (args, err)
    assert pair.target_tree() == {}


def test_bad_input_in_a_real_process(tmp_path: Path) -> None:
    """The same, through `python -m synctui`, for a few cases and an argparse error."""
    pair = Pair(tmp_path)
    cases = _bad_inputs(tmp_path, pair)[:4] + [["sync", "--max-workers", "many"]]
    for args in cases:
        res = run_cli(*args)
        assert res.returncode == EXIT_BAD_INPUT, (args, res.stderr)
        assert_no_traceback(res.stdout + res.stderr)
        assert "error" in res.stderr


def test_a_real_process_exits_0_then_nothing_to_do(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    res = run_cli("sync", "--no-progress", "-s", pair.src, "-t", pair.dst)
    assert res.returncode == EXIT_OK and res.stderr == ""
    res = run_cli("sync", "--no-progress", "-s", pair.src, "-t", pair.dst)
    assert res.returncode == EXIT_OK and "Nothing to do" in res.stdout


# -- the demo projects -------------------------------------------------------------------------

def test_demo_sync_then_nothing_to_do(tmp_path: Path) -> None:
    demo = pytest.importorskip("synctui.project.demo")
    paths = demo.write_demo(str(tmp_path / "demo"))
    args = ["sync", "--no-progress", "--source", paths.source_config, "--target", paths.target_config,
            "--rules", paths.rules_file]
    first = run_cli(*args, "--json")
    assert first.returncode == EXIT_OK, first.stderr
    assert_no_traceback(first.stderr)
    one = json.loads(first.stdout)
    assert one["errors"] == [] and one["files_written"] > 0
    target_before = {p: p.stat().st_mtime_ns for p in Path(paths.target_root).rglob("*")
                     if p.is_file() and ".synctui" not in str(p)}
    second = run_cli(*args, "--json")
    assert second.returncode == first.returncode, second.stderr
    two = json.loads(second.stdout)
    assert (two["created"], two["updated"], two["deleted"], two["objects_added"]) == (0, 0, 0, 0)
    assert two["files_written"] == two["files_deleted"] == 0 and two["errors"] == []
    target_after = {p: p.stat().st_mtime_ns for p in Path(paths.target_root).rglob("*")
                    if p.is_file() and ".synctui" not in str(p)}
    # nothing was rewritten (the target config is outside the roots)
    assert target_after == target_before
    plan = run_cli("plan", "--source", paths.source_config, "--target", paths.target_config,
                   "--rules", paths.rules_file, "--json")
    data = json.loads(plan.stdout)
    assert data["objects"] == []
    assert not [e for e in data["entities"] if e["action"] in ("create", "update", "delete")]
    text = run_cli(*args)
    assert "Nothing to do" in text.stdout or one["conflicts"] > 0


def test_checksum_compares_content(tmp_path: Path, cli) -> None:
    """Same bytes, older target mtimes: --checksum skips them, size+mtime updates them."""
    pair = Pair(tmp_path)
    write_tree(pair.dst_root, pair.src_files, mtime=OLD_MTIME)
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--checksum", "--json")
    summary = json.loads(out)
    assert code == EXIT_OK and summary["files_written"] == 0 and summary["skipped"] == summary["checked"]
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, "--json")
    assert code == EXIT_OK and json.loads(out)["updated"] == summary["checked"]  # by mtime: source newer


def test_a_picks_file_that_cannot_be_rewritten_is_a_failed_item(tmp_path: Path, cli) -> None:
    """Mapping needs the picks JSON; a broken one is blocked in the plan and an error of the sync."""
    broken = picks_path("TS_001", "alice", "1", "ribosome")
    files = {**basic_source(("TS_001",)), broken: b"\x00 not json"}
    pair = Pair(tmp_path, files)
    mapped = ["--target-runs", "TS_001:exp1"]
    code, out, err = cli("plan", "-s", pair.src, "-t", pair.dst, *mapped, "--json")
    assert code == EXIT_OK, err
    (blocked,) = [e for e in json.loads(out)["entities"] if e["action"] == "blocked"]
    assert "not valid JSON" in blocked["reason"]
    code, out, err = cli("sync", "-s", pair.src, "-t", pair.dst, *mapped, "--no-progress")
    assert code == EXIT_PARTIAL, (out, err)
    assert "Summary (partial)" in out and "errors: 1" in out
    (line,) = [ln for ln in out.splitlines() if ln.strip().startswith("error ")]
    assert broken in line and "not valid JSON" in line
    tree = pair.target_tree()
    assert "ExperimentRuns/exp1/Picks/bob_0_membrane.json" in tree  # the rest was done
    assert not any(p.endswith("alice_1_ribosome.json") for p in tree)
    code, out, _ = cli("sync", "-s", pair.src, "-t", pair.dst, *mapped, "--no-progress", "--json")
    summary = json.loads(out)
    assert code == EXIT_PARTIAL and [e["path"] for e in summary["errors"]] == [broken]


@pytest.mark.parametrize("extra", [(), ("--watch", "0.1")], ids=["sync", "watch"])
def test_a_sync_that_lands_just_before_our_lock_is_seen_not_clobbered(
        tmp_path: Path, cli, monkeypatch, extra: tuple[str, ...]) -> None:
    """`synctui sync` (and each sync of a watch) lists and plans under its lock: a file
    another sync wrote just before is a conflict, left in place."""
    from sync_helpers import sync_lands_before_the_lock, two_sources_one_file

    a_cfg, b_cfg, t_cfg, rel = two_sources_one_file(tmp_path)
    landed = sync_lands_before_the_lock(monkeypatch, b_cfg, t_cfg)
    if extra:  # one round of the watch, then a Ctrl-C
        from synctui.sync import watch

        def interrupt(_seconds: float) -> None:
            raise KeyboardInterrupt

        real = watch.WatchLoop.run
        monkeypatch.setattr(watch.WatchLoop, "run",
                            lambda self, check, sync, say: real(self, check, sync, say, wait=interrupt))
    code, out, err = cli("sync", "--no-progress", "-s", str(a_cfg), "-t", str(t_cfg), *extra)
    assert landed == [1], "the other sync wrote first"
    assert code in (EXIT_OK, EXIT_CONFLICTS), err
    assert "conflict" in out
    assert (tmp_path / "t" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
