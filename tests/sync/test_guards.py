"""SyncJob's safety guards (issue #12, items 1 and 9): roots checked before planning, and a
prune that looks like a mistake refused before anything is written, over every transport."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safety_helpers import plan_job, run_job
from sync_helpers import TRASH, Pair, basic_source, read_tree
from transports import Transport, over

from synctui.errors import EXIT_BAD_INPUT, PruneRefused, RootError
from synctui.sync.api import JobOptions, SyncJob
from synctui.sync.plan import Act, PlanOptions

PRUNE = PlanOptions(prune=True)


def synced_pair(base: Path, transport: Transport | None = None, **kw) -> Pair:
    """A source and a target that holds everything the source has (and nothing more)."""
    pair = Pair(base, transport=transport, **kw)
    run_job(SyncJob(pair.src, pair.dst))
    return pair


def repoint(config: str, root: str) -> str:
    """A copy of ``config`` whose overlay is ``root`` (same fs_args: same server)."""
    path = Path(config).with_name("typo.json")
    data = json.loads(Path(config).read_text())
    data["overlay_root"] = root
    path.write_text(json.dumps(data))
    return str(path)


def sibling_root(config: str, name: str) -> str:
    """The overlay root URL of ``config`` with its last folder replaced by ``name``."""
    url = json.loads(Path(config).read_text())["overlay_root"]
    return url.rsplit("/", 1)[0] + "/" + name


def trash_of(root: Path) -> list[Path]:
    return sorted((root / TRASH).rglob("*")) if (root / TRASH).exists() else []


# -- roots -----------------------------------------------------------------------------------

@over(["local", "ssh-source", "dav-source"])
def test_a_missing_source_root_is_refused_before_planning(tmp_path: Path, transport: Transport) -> None:
    pair = synced_pair(tmp_path, transport)
    before = pair.target_tree()
    typo = repoint(pair.src, sibling_root(pair.src, "no-such-folder"))
    job = SyncJob(typo, pair.dst, options=PRUNE)
    with pytest.raises(RootError) as err:
        run_job(job)
    assert err.value.problem == RootError.MISSING and err.value.exit_code == EXIT_BAD_INPUT
    message = str(err.value)
    assert "overlay_root" in message and "no-such-folder" in message and "typo.json" in message
    assert "\n" not in message and "nothing was written" in message
    assert pair.target_tree() == before and trash_of(pair.dst_root) == []
    assert not (pair.src_root.parent / "no-such-folder").exists()  # not even a lock folder


@over(["local", "ssh-source", "dav-source"])
def test_a_source_root_that_is_a_file_is_refused(tmp_path: Path, transport: Transport) -> None:
    pair = synced_pair(tmp_path, transport)
    before = pair.target_tree()
    (pair.src_root.parent / "a-file").write_bytes(b"not a project")
    typo = repoint(pair.src, sibling_root(pair.src, "a-file"))
    with pytest.raises(RootError) as err:
        run_job(SyncJob(typo, pair.dst, options=PRUNE))
    assert err.value.problem == RootError.NOT_A_FOLDER and err.value.exit_code == EXIT_BAD_INPUT
    assert "overlay_root" in str(err.value) and "a-file" in str(err.value)
    assert pair.target_tree() == before and trash_of(pair.dst_root) == []


def test_with_both_roots_broken_the_source_is_named(tmp_path: Path) -> None:
    """Both sides are listed at once; the source's error still wins, as when they were not."""
    pair = Pair(tmp_path)
    shutil.rmtree(pair.dst_root)
    pair.dst_root.write_bytes(b"a file where the project should be")
    typo = repoint(pair.src, sibling_root(pair.src, "no-such-folder"))
    for _ in range(3):  # whichever side's listing ends first
        with pytest.raises(RootError) as err:
            run_job(SyncJob(typo, pair.dst))
        assert err.value.problem == RootError.MISSING and "no-such-folder" in str(err.value)
    assert pair.dst_root.read_bytes() == b"a file where the project should be"


@over(["local", "ssh-target", "dav-target", "nginx-target"])
def test_a_target_root_that_is_a_file_is_refused_and_nothing_is_written(tmp_path: Path,
                                                                       transport: Transport) -> None:
    pair = Pair(tmp_path, transport=transport)
    shutil.rmtree(pair.dst_root)
    pair.dst_root.write_bytes(b"a file where the project should be")
    with pytest.raises(RootError) as err:
        run_job(SyncJob(pair.src, pair.dst))
    assert err.value.problem == RootError.NOT_A_FOLDER and err.value.exit_code == EXIT_BAD_INPUT
    assert "overlay_root" in str(err.value)
    assert pair.dst_root.read_bytes() == b"a file where the project should be"


@over(["local", "ssh-target", "dav-target"])
def test_a_missing_target_root_is_a_new_project_and_is_created(tmp_path: Path, transport: Transport) -> None:
    pair = Pair(tmp_path, transport=transport)
    shutil.rmtree(pair.dst_root)
    summary = run_job(SyncJob(pair.src, pair.dst))
    assert summary.exit_code == 0 and pair.target_tree() == pair.src_files


def test_a_source_listing_that_fails_part_way_is_refused(tmp_path: Path) -> None:
    """Unreadable as root (chmod stops nobody): a symlink loop makes the listing fail."""
    pair = synced_pair(tmp_path)
    (pair.src_root / "ExperimentRuns" / "loop").symlink_to("loop")
    with pytest.raises(RootError) as err:
        run_job(SyncJob(pair.src, pair.dst, options=PRUNE))
    assert err.value.problem == RootError.UNREADABLE and err.value.exit_code == EXIT_BAD_INPUT
    assert "cannot be listed" in str(err.value) and "ExperimentRuns/loop" in str(err.value)


# -- the prune guard -------------------------------------------------------------------------

@over(["local", "ssh-source", "dav-target"])
def test_a_prune_after_an_empty_source_listing_is_refused(tmp_path: Path, transport: Transport) -> None:
    pair = synced_pair(tmp_path, transport)
    before = pair.target_tree()
    shutil.rmtree(pair.src_root)
    pair.src_root.mkdir()  # an emptied (or never mounted) source folder
    with pytest.raises(PruneRefused) as err:
        run_job(SyncJob(pair.src, pair.dst, options=PRUNE, job_options=JobOptions(max_delete=1000)))
    assert err.value.why == PruneRefused.EMPTY_SOURCE and err.value.exit_code == EXIT_BAD_INPUT
    assert err.value.pruned == err.value.target_entities > 0
    assert "--prune-all" in str(err.value) and "nothing was written" in str(err.value)
    assert pair.target_tree() == before and trash_of(pair.dst_root) == []
    # asked for explicitly, it goes (into the trash)
    summary = run_job(SyncJob(pair.src, pair.dst, options=PRUNE, job_options=JobOptions(prune_all=True)))
    assert summary.deleted == err.value.pruned and pair.target_tree() == {}
    assert summary.trash is not None and read_tree(pair.dst_root / summary.trash) == before


def test_pruning_more_than_half_of_the_target_needs_an_override(tmp_path: Path) -> None:
    runs = ("TS_001", "TS_002", "TS_003")
    pair = synced_pair(tmp_path, source_files=basic_source(runs))
    total = len(SyncJob(pair.src, pair.dst).plan().entities)
    shutil.rmtree(pair.src_root / "ExperimentRuns" / "TS_002")
    shutil.rmtree(pair.src_root / "ExperimentRuns" / "TS_003")
    before = pair.target_tree()
    job = SyncJob(pair.src, pair.dst, options=PRUNE)
    plan = plan_job(job)
    pruned = sum(1 for e in plan.entities if e.action is Act.DELETE)
    assert pruned * 2 > total
    assert any("will not run" in w and "more than half" in w for w in plan.warnings)  # the dry run says so
    with pytest.raises(PruneRefused) as err:
        run_job(SyncJob(pair.src, pair.dst, options=PRUNE))
    assert err.value.why == PruneRefused.OVER_HALF and err.value.pruned == pruned
    assert f"--max-delete {pruned}" in str(err.value)
    assert pair.target_tree() == before
    # --max-delete N replaces the half rule: below N it goes ahead, above N it is refused
    with pytest.raises(PruneRefused) as err:
        run_job(SyncJob(pair.src, pair.dst, options=PRUNE, job_options=JobOptions(max_delete=pruned - 1)))
    assert err.value.why == PruneRefused.OVER_MAX_DELETE
    # ... also together with prune_all: an explicit number always caps
    with pytest.raises(PruneRefused):
        run_job(SyncJob(pair.src, pair.dst, options=PRUNE,
                        job_options=JobOptions(max_delete=pruned - 1, prune_all=True)))
    assert pair.target_tree() == before
    summary = run_job(SyncJob(pair.src, pair.dst, options=PRUNE, job_options=JobOptions(max_delete=pruned)))
    assert summary.deleted == pruned and summary.exit_code == 0


def test_a_small_prune_needs_no_override(tmp_path: Path) -> None:
    pair = synced_pair(tmp_path)
    (pair.src_root / "ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb").unlink()
    summary = run_job(SyncJob(pair.src, pair.dst, options=PRUNE))
    assert summary.deleted == 1 and summary.exit_code == 0


def test_a_saved_plan_from_before_the_counts_is_guarded_by_a_fresh_listing(tmp_path: Path) -> None:
    pair = synced_pair(tmp_path)
    shutil.rmtree(pair.src_root)
    pair.src_root.mkdir()
    plan = plan_job(SyncJob(pair.src, pair.dst, options=PRUNE))
    plan.source_entities = plan.target_entities = None  # as in a plan file of an older version
    job = SyncJob(pair.src, pair.dst, options=PRUNE)
    job.scan()
    with pytest.raises(PruneRefused) as err:
        run_job(job, plan)
    assert err.value.why == PruneRefused.EMPTY_SOURCE
    assert trash_of(pair.dst_root) == []
