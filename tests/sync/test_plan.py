"""The dry run on real (tiny) projects: every action, with its reason, paths, bytes and precondition."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from planproj import RUNS, SEC, T0, Proj, apply_plan, by_source, by_target, picks_json, plan, zarr

from synctui.errors import PlanError
from synctui.sync.plan import Act, Baseline, Plan, PlanOptions, is_zarr_metadata, make_plan
from synctui.sync.rules import RuleSet

TOMO = f"{RUNS}/run1/VoxelSpacing10.000/wbp.zarr"
PICKS = f"{RUNS}/run1/Picks/alice_1_ribosome.json"
MESH = f"{RUNS}/run1/Meshes/alice_1_membrane.glb"
SEG = f"{RUNS}/run1/Segmentations/10.000_alice_1_membrane.zarr"
META = f"{RUNS}/run1/.meta"


@pytest.fixture
def src(tmp_path: Path) -> Proj:
    return Proj(tmp_path / "src")


@pytest.fixture
def dst(tmp_path: Path) -> Proj:
    return Proj(tmp_path / "dst")


def source_files() -> dict[str, bytes | str]:
    return {
        META: "meta",
        f"{RUNS}/run1/VoxelSpacing10.000/.meta": "meta",
        **zarr(TOMO, {"0/0/0/0": b"\x01" * 100, "0/0/0/1": b"\x02" * 50, "1/0/0/0": b"\x03" * 10}),
        PICKS: picks_json(),
        MESH: b"glTF\x02\x00\x00\x00binary",
        **zarr(SEG, {"0/0/0/0": b"\x00" * 30}),
    }


# -- create ------------------------------------------------------------------------------

def test_create_every_entity_with_paths_bytes_reason_and_precondition(src: Proj, dst: Proj) -> None:
    files = source_files()
    src.write(files)
    p = plan(src, dst)
    assert {e.action for e in p.entities} == {Act.CREATE}
    ents = by_target(p)
    assert set(ents) == {META, f"{RUNS}/run1/VoxelSpacing10.000/.meta", TOMO, PICKS, MESH, SEG}
    tomo = ents[TOMO]
    assert tomo.kind.value == "tomogram" and tomo.source_path == TOMO and tomo.reason == "not in target"
    assert tomo.bytes == 100 + 50 + 10 + len('{"zarr_format": 2}') + len('{"multiscales": []}')
    assert tomo.n_files == 5 and len(tomo.files) == 5
    for fa in tomo.files:
        assert fa.action is Act.CREATE and fa.source_path == fa.target_path
        assert fa.src_mtime_ns == T0 and fa.src_size == fa.size and fa.dst_size is None
    # metadata keys come after every chunk, so a half-made store never looks complete
    members = [fa.target_path.removeprefix(TOMO + "/") for fa in tomo.files]
    assert members[-2:] == [".zarray", ".zattrs"]
    assert sorted(members[:3]) == ["0/0/0/0", "0/0/0/1", "1/0/0/0"]
    assert ents[PICKS].bytes == len(files[PICKS]) and ents[PICKS].kind.value == "picks"
    assert ents[MESH].files[0].size == len(files[MESH])
    assert p.transfer_files == 2 + 5 + 1 + 1 + 3
    assert p.transfer_bytes == sum(len(c) for c in files.values())
    counts = p.counts()
    assert counts[Act.CREATE].entities == 6 and counts[Act.CREATE].files == 12
    assert not p.is_noop


def test_unchanged_is_skip_and_the_plan_is_a_noop(src: Proj, dst: Proj) -> None:
    src.write(source_files())
    dst.write(source_files())
    p = plan(src, dst)
    assert {e.action for e in p.entities} == {Act.SKIP}
    assert all(e.reason == "unchanged" and e.files == [] and e.bytes == 0 for e in p.entities)
    assert p.is_noop and p.transfer_files == 0


# -- update, one reason at a time ------------------------------------------------------------

def test_update_when_size_differs(src: Proj, dst: Proj) -> None:
    src.write({PICKS: picks_json(n=3)})
    dst.write({PICKS: picks_json(n=2)})
    ent = by_target(plan(src, dst))[PICKS]
    assert ent.action is Act.UPDATE
    s, t = len(picks_json(n=3)), len(picks_json(n=2))
    assert ent.reason == f"size differs (source {s}, target {t})"
    (fa,) = ent.files
    assert (fa.action, fa.source_path, fa.target_path, fa.size) == (Act.UPDATE, PICKS, PICKS, s)
    assert (fa.src_size, fa.src_mtime_ns, fa.dst_size, fa.dst_mtime_ns) == (s, T0, t, T0)


def test_update_when_source_is_newer(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"new mesh"}, mtime_ns=T0 + 5 * SEC)
    dst.write({MESH: b"old mesh"})
    ent = by_target(plan(src, dst))[MESH]
    assert (ent.action, ent.reason) == (Act.UPDATE, "source newer")
    assert ent.bytes == len(b"new mesh")


def test_checksum_finds_same_size_same_mtime_edits(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"AAAA"})
    dst.write({MESH: b"BBBB"})
    assert by_target(plan(src, dst))[MESH].action is Act.SKIP  # size+mtime cannot tell
    ent = by_target(plan(src, dst, checksum=True))[MESH]
    assert (ent.action, ent.reason) == (Act.UPDATE, "checksum differs")


def test_checksum_ignores_mtimes_of_identical_content(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"same"}, mtime_ns=T0 + 9 * SEC)
    dst.write({MESH: b"same"})
    assert by_target(plan(src, dst))[MESH].action is Act.UPDATE
    ent = by_target(plan(src, dst, checksum=True))[MESH]
    assert (ent.action, ent.reason) == (Act.SKIP, "unchanged")


def test_modify_window_treats_close_mtimes_as_equal(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"same"}, mtime_ns=T0 + SEC // 2)
    dst.write({MESH: b"same"})
    assert by_target(plan(src, dst))[MESH].action is Act.UPDATE
    assert by_target(plan(src, dst, mtime_tolerance_ns=SEC))[MESH].action is Act.SKIP


def test_zarr_update_moves_only_changed_chunks_metadata_last_then_stale_keys(src: Proj, dst: Proj) -> None:
    src.write(zarr(TOMO, {"0/0/0/0": b"a" * 10, "0/0/0/1": b"b" * 10, "0/0/0/2": b"new"},
                   meta='{"zarr_format": 2, "shape": [3]}'))
    dst.write(zarr(TOMO, {"0/0/0/0": b"a" * 10, "0/0/0/1": b"b" * 11, "9/9/9/9": b"stale"}))
    ent = by_target(plan(src, dst))[TOMO]
    assert ent.action is Act.UPDATE
    got = [(fa.action, fa.target_path.removeprefix(TOMO + "/")) for fa in ent.files]
    assert got == [(Act.CREATE, "0/0/0/2"), (Act.UPDATE, "0/0/0/1"), (Act.UPDATE, ".zarray"),
                   (Act.DELETE, "9/9/9/9")] or got == [
        (Act.UPDATE, "0/0/0/1"), (Act.CREATE, "0/0/0/2"), (Act.UPDATE, ".zarray"), (Act.DELETE, "9/9/9/9")]
    reasons = {m: fa.reason for fa, (_, m) in zip(ent.files, got, strict=True)}
    assert reasons["0/0/0/2"] == "new in store"
    assert reasons["0/0/0/1"] == "size differs (source 10, target 11)"
    assert reasons["9/9/9/9"] == "stale key: not in the source store"
    stale = ent.files[-1]
    assert stale.source_path is None and stale.size == 0 and stale.dst_size == 5 and stale.dst_mtime_ns == T0
    # only what moves counts
    assert ent.bytes == 3 + 10 + len('{"zarr_format": 2, "shape": [3]}')
    counts = plan(src, dst).counts()
    assert counts[Act.UPDATE].entities == 1
    assert (counts[Act.CREATE].files, counts[Act.UPDATE].files, counts[Act.DELETE].files) == (1, 2, 1)


def test_metadata_after_chunks_in_every_update(src: Proj, dst: Proj) -> None:
    chunks = {f"0/{i}/0/0": b"x" * (i + 1) for i in range(20)}
    src.write(zarr(TOMO, chunks, meta='{"v": 2}'), mtime_ns=T0 + SEC)
    dst.write(zarr(TOMO, {k: b"y" for k in chunks}, meta='{"v": 1}'))
    (ent,) = plan(src, dst).entities
    flags = [is_zarr_metadata(fa.target_path) for fa in ent.files]
    assert flags == sorted(flags) and flags.count(True) == 2


def test_a_store_with_only_stale_keys_is_an_update_that_deletes(src: Proj, dst: Proj) -> None:
    src.write(zarr(SEG, {"0/0/0/0": b"x"}))
    dst.write(zarr(SEG, {"0/0/0/0": b"x", "0/0/0/1": b"y", "0/0/1/0": b"z"}))
    ent = by_target(plan(src, dst))[SEG]
    assert ent.action is Act.UPDATE and ent.reason == "2 stale key(s) to remove"
    assert [fa.action for fa in ent.files] == [Act.DELETE, Act.DELETE]
    assert ent.bytes == 0


def test_stale_keys_only_for_zarr_stores(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"m"})
    dst.write({MESH: b"m"})
    assert by_target(plan(src, dst))[MESH].action is Act.SKIP


# -- excluded, exists, always -------------------------------------------------------------

def test_excluded_names_the_rule_and_never_writes(src: Proj, dst: Proj) -> None:
    src.write(source_files())
    rules = RuleSet(exclude={"kinds": ["meshes"], "users": ["alice"]})
    ents = by_target(plan(src, dst, rules))
    assert ents[MESH].action is Act.EXCLUDED
    assert ents[MESH].reason == "kind 'mesh' is excluded (exclude kinds 'meshes')"
    assert ents[PICKS].action is Act.EXCLUDED and ents[PICKS].reason == "user 'alice' matches exclude 'alice'"
    assert ents[PICKS].files == [] and ents[PICKS].bytes == len(picks_json())
    assert ents[TOMO].action is Act.CREATE


def test_overwrite_never_reports_exists(src: Proj, dst: Proj) -> None:
    src.write({PICKS: picks_json(n=3), MESH: b"same"}, mtime_ns=T0 + SEC)
    dst.write({PICKS: picks_json(n=1), MESH: b"same"}, mtime_ns=T0 + SEC)
    ents = by_target(plan(src, dst, RuleSet(overwrite="never")))
    assert ents[PICKS].action is Act.EXISTS
    assert "overwrite policy is 'never'" in ents[PICKS].reason and "size differs" in ents[PICKS].reason
    assert ents[MESH].action is Act.SKIP  # identical is still simply unchanged


def test_overwrite_by_kind(src: Proj, dst: Proj) -> None:
    src.write({PICKS: picks_json(n=3), **zarr(TOMO, {"0/0/0/0": b"new!"})})
    dst.write({PICKS: picks_json(n=1), **zarr(TOMO, {"0/0/0/0": b"old"})})
    ents = by_target(plan(src, dst, RuleSet(overwrite_by_kind={"picks": "never"})))
    assert ents[PICKS].action is Act.EXISTS
    assert ents[TOMO].action is Act.UPDATE
    ents = by_target(plan(src, dst, RuleSet(overwrite="never", overwrite_by_kind={"tomograms": "if-changed"})))
    assert ents[PICKS].action is Act.EXISTS and ents[TOMO].action is Act.UPDATE


def test_overwrite_always_rewrites_unchanged_files(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"same", **zarr(TOMO, {"0/0/0/0": b"c"})})
    dst.write({MESH: b"same", **zarr(TOMO, {"0/0/0/0": b"c"})})
    ents = by_target(plan(src, dst, RuleSet(overwrite_by_kind={"meshes": "always"})))
    assert ents[MESH].action is Act.UPDATE and ents[MESH].reason == "overwrite policy 'always'"
    assert ents[TOMO].action is Act.SKIP
    ents = by_target(plan(src, dst, RuleSet(overwrite="always")))
    assert ents[TOMO].action is Act.UPDATE and len(ents[TOMO].files) == 3


# -- conflict ------------------------------------------------------------------------------

def test_target_newer_than_source_is_a_conflict(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"source", **zarr(TOMO, {"0/0/0/0": b"aa", "0/0/0/1": b"bb"})})
    dst.write({MESH: b"edited", **zarr(TOMO, {"0/0/0/0": b"aa", "0/0/0/1": b"bb"})}, mtime_ns=T0 + 60 * SEC)
    dst.touch(f"{TOMO}/0/0/0/0", T0)
    dst.touch(f"{TOMO}/.zarray", T0)
    dst.touch(f"{TOMO}/.zattrs", T0)
    p = plan(src, dst)
    ents = by_target(p)
    assert (ents[MESH].action, ents[MESH].reason) == (Act.CONFLICT, "target newer than source")
    # one newer chunk holds back the whole store
    assert ents[TOMO].action is Act.CONFLICT
    assert not any(e.action.writes for e in p.entities) and p.transfer_files == 0
    ents = by_target(plan(src, dst, overwrite_conflicts=True))
    assert ents[MESH].action is Act.UPDATE and "conflict overwritten" in ents[MESH].reason
    assert ents[TOMO].action is Act.UPDATE


def test_a_resolved_conflict_carries_its_resolution_whatever_its_reason_says(
        src: Proj, dst: Proj, tmp_path: Path) -> None:
    from synctui.sync.plan import resolve_conflict

    src.write({MESH: b"source"})
    dst.write({MESH: b"edited"}, mtime_ns=T0 + 60 * SEC)
    p = plan(src, dst)
    ent = by_target(p)[MESH]
    resolve_conflict(ent, "keep-target")
    assert (ent.action, ent.resolution) == (Act.EXISTS, "keep-target")
    ent.reason = "reworded"  # the decision is the field, not the words
    resolve_conflict(ent, "take-source")  # a mind changed
    assert (ent.action, ent.resolution) == (Act.UPDATE, "take-source")
    p.save(str(tmp_path / "p.json"))
    assert by_target(Plan.load(str(tmp_path / "p.json")))[MESH].resolution == "take-source"
    plain = by_target(plan(src, dst, overwrite_conflicts=True))[MESH]
    with pytest.raises(PlanError, match="not a conflict"):
        resolve_conflict(plain, "keep-target")


def test_target_newer_and_different_size_is_still_a_conflict(src: Proj, dst: Proj) -> None:
    """Someone edited the target after the source was last written: don't clobber it."""
    src.write({PICKS: picks_json(n=2)})
    dst.write({PICKS: picks_json(n=5)}, mtime_ns=T0 + 60 * SEC)
    ent = by_target(plan(src, dst))[PICKS]
    assert ent.action is Act.CONFLICT and "target newer than source" in ent.reason
    assert by_target(plan(src, dst, overwrite_conflicts=True))[PICKS].action is Act.UPDATE


def _with_etag(cat, path: str, etag: str | None):
    """A WebDAV-like listing: the target file at ``path`` shows ``etag``."""
    for ent in cat.entities.values():
        if ent.path == path:
            ent.files[""] = dataclasses.replace(ent.files[""], etag=etag)
            return cat
    raise AssertionError(f"{path} not in the catalog")


@pytest.mark.parametrize(("etag", "mtime_off", "edited"), [
    ("e1", 3600 * SEC, False),  # the etag is what we recorded: the server's own mtime does not matter
    ("e2", 0, True),  # same size and mtime, another etag: someone wrote it since
    (None, SEC // 2, False),  # no etag in the listing: size and mtime within the tolerance
    (None, 5 * SEC, True),
])
def test_mapped_annotation_edited_check_uses_the_recorded_etag(src: Proj, dst: Proj, etag: str | None,
                                                               mtime_off: int, edited: bool) -> None:
    """A picks file written under a name mapping: was the target edited since synctui wrote it?
    The same rules as for plain files: etag when both sides have one, else size+mtime."""
    rules = RuleSet(maps={"users": {"alice": "carol"}})
    target = f"{RUNS}/run1/Picks/carol_1_ribosome.json"
    src.write({PICKS: picks_json(n=4)}, mtime_ns=T0 + 120 * SEC)  # the source moved on
    written = picks_json(user="carol", n=2)
    dst.write({target: written}, mtime_ns=T0 + 60 * SEC)  # newer than the source's last sync
    base = Baseline(src_size=len(picks_json(n=2)), src_mtime_ns=T0, dst_size=len(written),
                    dst_mtime_ns=T0 + 60 * SEC + mtime_off, dst_etag="e1")
    tcat = _with_etag(dst.open(), target, etag)
    p = make_plan(src.open(), tcat, rules, PlanOptions(mtime_tolerance_ns=SEC), baseline={target: base})
    ent = by_target(p)[target]
    if edited:
        assert (ent.action, ent.reason) == (Act.CONFLICT, "target changed since the last sync")
    else:
        assert ent.action is Act.UPDATE and "rewriting names" in ent.reason
    # the same file without a mapping follows the same rules
    dst.write({PICKS: written.replace("carol", "alice")}, mtime_ns=T0 + 60 * SEC)
    base = dataclasses.replace(base, dst_size=len(written.replace("carol", "alice")))
    tcat = _with_etag(dst.open(), PICKS, etag)
    plain = by_target(make_plan(src.open(), tcat, RuleSet(), PlanOptions(mtime_tolerance_ns=SEC),
                                baseline={PICKS: base}))[PICKS]
    assert plain.action is (Act.CONFLICT if edited else Act.UPDATE)


# -- blocked by the target's static root -------------------------------------------------------

def test_static_target_entity_with_other_content_is_blocked(tmp_path: Path, src: Proj) -> None:
    dst = Proj(tmp_path / "dst-static", static=True)
    src.write({MESH: b"new mesh", PICKS: picks_json(), **zarr(TOMO, {"0/0/0/0": b"x"})})
    dst.write({MESH: b"old", PICKS: picks_json()}, static=True)
    dst.write(zarr(TOMO, {"0/0/0/0": b"x"}), static=True)
    ents = by_target(plan(src, dst))
    assert ents[MESH].action is Act.BLOCKED
    assert "read-only static root" in ents[MESH].reason and "size differs" in ents[MESH].reason
    assert (ents[PICKS].action, ents[PICKS].reason) == (Act.SKIP, "unchanged (target's static root)")
    assert ents[TOMO].action is Act.SKIP
    # even 'always' and --overwrite-conflicts never write into a static root
    p = plan(src, dst, RuleSet(overwrite="always"), overwrite_conflicts=True)
    assert {e.action for e in p.entities} == {Act.BLOCKED}
    assert p.is_noop


def test_static_entity_shadows_the_overlay_copy(tmp_path: Path, src: Proj) -> None:
    dst = Proj(tmp_path / "dst-static", static=True)
    src.write({MESH: b"source"})
    dst.write({MESH: b"static copy"}, static=True)
    dst.write({MESH: b"source"})  # copick never reads this one
    assert by_target(plan(src, dst))[MESH].action is Act.BLOCKED


def test_a_static_source_entity_is_read_from_the_static_root(tmp_path: Path, dst: Proj) -> None:
    src = Proj(tmp_path / "src-static", static=True)
    src.write({**zarr(TOMO, {"0/0/0/0": b"data"})}, static=True)
    src.write({PICKS: picks_json()})
    ents = by_target(plan(src, dst))
    assert ents[TOMO].action is Act.CREATE and ents[TOMO].source_root == "static"
    assert ents[PICKS].source_root == "overlay"


# -- prune -----------------------------------------------------------------------------------

def test_prune_deletes_whole_target_entities_only_when_asked(src: Proj, dst: Proj) -> None:
    src.write({PICKS: picks_json()})
    old_tomo = f"{RUNS}/run1/VoxelSpacing10.000/old.zarr"
    dst.write({PICKS: picks_json(), MESH: b"gone", **zarr(old_tomo, {"0/0/0/0": b"xx"})})
    p = plan(src, dst)
    assert MESH not in by_target(p) and p.is_noop
    p = plan(src, dst, prune=True)
    ents = by_target(p)
    assert ents[MESH].action is Act.DELETE and ents[MESH].source is None
    assert ents[MESH].reason == "not in source (prune asked for)"
    assert [fa.target_path for fa in ents[MESH].files] == [MESH]
    assert ents[old_tomo].action is Act.DELETE and ents[old_tomo].n_files == 3
    assert {fa.target_path for fa in ents[old_tomo].files} == {
        f"{old_tomo}/{m}" for m in ("0/0/0/0", ".zarray", ".zattrs")}
    assert all(fa.action is Act.DELETE and fa.source_path is None for fa in ents[old_tomo].files)
    assert ents[old_tomo].bytes == 2 + len('{"zarr_format": 2}') + len('{"multiscales": []}')
    assert ents[PICKS].action is Act.SKIP


def test_prune_only_touches_what_the_filters_cover(src: Proj, dst: Proj) -> None:
    src.write({PICKS: picks_json(), f"{RUNS}/run2/.meta": "meta"})
    run2_mesh = f"{RUNS}/run2/Meshes/alice_1_membrane.glb"
    dst.write({MESH: b"run1 mesh", run2_mesh: b"run2 mesh",
               f"{RUNS}/run1/Picks/bob_1_ribosome.json": picks_json(user="bob")})
    rules = RuleSet(include={"runs": ["run2"]})
    ents = by_target(plan(src, dst, rules, prune=True))
    assert ents[run2_mesh].action is Act.DELETE
    assert MESH not in ents and f"{RUNS}/run1/Picks/bob_1_ribosome.json" not in ents
    rules = RuleSet(include={"kinds": ["picks"]})
    ents = by_target(plan(src, dst, rules, prune=True))
    assert ents[f"{RUNS}/run1/Picks/bob_1_ribosome.json"].action is Act.DELETE
    assert MESH not in ents and run2_mesh not in ents
    rules = RuleSet(exclude={"users": ["bob"]})
    ents = by_target(plan(src, dst, rules, prune=True))
    assert f"{RUNS}/run1/Picks/bob_1_ribosome.json" not in ents
    assert ents[MESH].action is Act.DELETE


def test_prune_never_touches_the_static_root(tmp_path: Path, src: Proj) -> None:
    dst = Proj(tmp_path / "dst-static", static=True)
    src.write({META: "meta"})
    dst.write({MESH: b"static"}, static=True)
    dst.write({PICKS: picks_json()})
    ents = by_target(plan(src, dst, prune=True))
    assert MESH not in ents
    assert ents[PICKS].action is Act.DELETE


def test_prune_respects_run_mapping(src: Proj, dst: Proj) -> None:
    """Under run1 -> exp1 the target's exp1 entities are the source's run1 ones."""
    src.write({PICKS: picks_json()})
    exp_picks = f"{RUNS}/exp1/Picks/alice_1_ribosome.json"
    exp_mesh = f"{RUNS}/exp1/Meshes/alice_1_membrane.glb"
    dst.write({exp_mesh: b"old"})
    rules = RuleSet(include={"runs": ["run1"]}, maps={"runs": {"run1": "exp1"}})
    ents = by_target(plan(src, dst, rules, prune=True))
    assert ents[exp_picks].action is Act.CREATE
    assert ents[exp_mesh].action is Act.DELETE


def test_prune_never_deletes_target_names_the_mapping_moves_away_from(src: Proj, dst: Proj) -> None:
    """Syncing source run1 into target exp1 must not wipe the target's own, unrelated run1."""
    src.write({PICKS: picks_json()})
    theirs = f"{RUNS}/run1/Meshes/carol_1_membrane.glb"
    dst.write({theirs: b"the target's own run1", PICKS: picks_json()})
    rules = RuleSet(include={"runs": ["run1"]}, maps={"runs": {"run1": "exp1"}})
    p = plan(src, dst, rules, prune=True)
    assert not [e.target_path for e in p.entities if e.action is Act.DELETE]
    rules = RuleSet(maps={"users": {"alice": "al"}})
    p = plan(src, dst, rules, prune=True)
    deleted = {e.target_path for e in p.entities if e.action is Act.DELETE}
    # no source entity can land on alice's picks (alice becomes al): they are not this sync's
    # to delete; carol's mesh is a name the sync does cover, and the source lacks it
    assert deleted == {theirs}


# -- mapping problems become blocked entities, not crashes ---------------------------------------

def test_two_sources_onto_one_target_blocks_the_second(src: Proj, dst: Proj) -> None:
    a, b = f"{RUNS}/run1/Meshes/alice_1_membrane.glb", f"{RUNS}/run2/Meshes/alice_1_membrane.glb"
    src.write({a: b"one", b: b"two"})
    p = plan(src, dst, RuleSet(maps={"runs": {"run1": "exp", "run2": "exp"}}))
    ents = by_source(p)
    assert ents[a].action is Act.CREATE
    assert ents[b].action is Act.BLOCKED and "maps onto the same target" in ents[b].reason
    assert sum(1 for e in p.entities if e.action.writes) == 1


def test_a_mapped_name_copick_rejects_is_blocked(src: Proj, dst: Proj) -> None:
    src.write({MESH: b"m"})
    ent = by_source(plan(src, dst, RuleSet(maps={"users": {"alice": "al_ice"}})))[MESH]
    assert ent.action is Act.BLOCKED and ent.reason.startswith("cannot map:") and "'_'" in ent.reason


def test_mapping_renames_every_kind(src: Proj, dst: Proj) -> None:
    src.write(source_files())
    rules = RuleSet(maps={"runs": {"run1": "exp1"}, "objects": {"membrane": "mem"}, "users": {"alice": "al"}})
    p = plan(src, dst, rules)
    got = {e.source_path: e.target_path for e in p.entities}
    assert got[TOMO] == f"{RUNS}/exp1/VoxelSpacing10.000/wbp.zarr"
    assert got[MESH] == f"{RUNS}/exp1/Meshes/al_1_mem.glb"
    assert got[SEG] == f"{RUNS}/exp1/Segmentations/10.000_al_1_mem.zarr"
    assert got[META] == f"{RUNS}/exp1/.meta"
    tomo = by_source(p)[TOMO]
    assert all(fa.target_path.startswith(f"{RUNS}/exp1/") and fa.source_path.startswith(f"{RUNS}/run1/")
               for fa in tomo.files)


# -- pickable objects the target config lacks ---------------------------------------------------

def test_missing_object_becomes_an_addition_under_the_mapped_name(tmp_path: Path) -> None:
    src = Proj(tmp_path / "src", objects=[
        {"name": "ribosome", "is_particle": True, "label": 1, "color": [0, 117, 220, 255],
         "pdb_id": "7P6Z", "radius": 150.0, "custom": {"kept": True}},
        {"name": "membrane", "is_particle": False, "label": 2},
        {"name": "unused", "is_particle": True, "label": 9},
    ])
    dst = Proj(tmp_path / "dst", objects=[{"name": "proteasome", "is_particle": True, "label": 1}],
               my_lab_key={"anything": [1, 2]})
    src.write({PICKS: picks_json(), MESH: b"mesh"})
    before = dst.config.read_bytes()
    p = plan(src, dst, RuleSet(maps={"objects": {"ribosome": "ribo"}}))
    adds = {o.name: o for o in p.objects}
    assert set(adds) == {"ribo", "membrane"}
    ribo = adds["ribo"]
    assert ribo.source_name == "ribosome"
    # the source definition, renamed; label 1 is taken by proteasome, 2 by membrane (planned
    # first: Meshes/ sorts before Picks/), so the next free one
    assert ribo.definition == {"name": "ribo", "is_particle": True, "label": 3, "color": [0, 117, 220, 255],
                               "pdb_id": "7P6Z", "radius": 150.0, "custom": {"kept": True}}
    assert "label 1 is taken in the target, using 3" in ribo.reason and "'ribosome'" in ribo.reason
    assert adds["membrane"].definition == {"name": "membrane", "is_particle": False, "label": 2}
    assert "label" not in adds["membrane"].reason
    assert Act.ADD_OBJECT in p.actions_present() and p.counts()[Act.ADD_OBJECT].entities == 2
    assert not p.is_noop
    # planning never writes the target config: unknown keys and bytes untouched
    assert dst.config.read_bytes() == before


def test_no_addition_for_objects_the_target_has_or_entities_not_written(tmp_path: Path) -> None:
    src = Proj(tmp_path / "src")
    dst = Proj(tmp_path / "dst", objects=[{"name": "ribosome", "is_particle": True, "label": 5}])
    src.write({PICKS: picks_json(), MESH: b"mesh"})
    p = plan(src, dst, RuleSet(exclude={"kinds": ["meshes"]}))
    assert p.objects == []
    p = plan(src, dst)
    assert [o.name for o in p.objects] == ["membrane"]
    assert p.objects[0].definition == {"name": "membrane", "is_particle": False, "label": 2}


def test_an_object_neither_config_defines_is_added_with_a_warning(tmp_path: Path) -> None:
    src = Proj(tmp_path / "src", objects=[])
    dst = Proj(tmp_path / "dst", objects=[])
    src.write({f"{RUNS}/run1/Picks/alice_1_actin.json": picks_json(obj="actin")})
    p = plan(src, dst)
    (add,) = p.objects
    assert add.definition == {"name": "actin", "is_particle": True, "label": 1}
    assert any("actin" in w for w in p.warnings)


def test_tomograms_need_no_objects(tmp_path: Path) -> None:
    src = Proj(tmp_path / "src")
    dst = Proj(tmp_path / "dst", objects=[])
    src.write(zarr(TOMO, {"0/0/0/0": b"x"}))
    assert plan(src, dst).objects == []


# -- one plan with everything: reasons are never empty ----------------------------------------------

def test_every_entity_has_kind_paths_bytes_and_a_reason(src: Proj, dst: Proj) -> None:
    src.write(source_files())
    dst.write({PICKS: picks_json(n=1), MESH: b"glTF\x02\x00\x00\x00binary"})
    p = plan(src, dst, RuleSet(exclude={"kinds": ["meta"]}), prune=True)
    for ent in p.entities:
        assert ent.reason, ent
        assert ent.kind is ent.target.kind
        assert ent.target_path
        assert ent.source_path or ent.action is Act.DELETE
        for fa in ent.files:
            assert fa.reason and fa.target_path.startswith(ent.target_path)
            if fa.action is not Act.DELETE:
                assert fa.source_path and fa.src_size is not None and fa.src_mtime_ns is not None


# -- saving a plan ---------------------------------------------------------------------------------

@pytest.fixture
def rich_dst(tmp_path: Path) -> Proj:
    return Proj(tmp_path / "dst-rich", static=True)


def _rich_plan(src: Proj, dst: Proj) -> Plan:
    """One plan with every action there is."""
    src.write(source_files())
    src.write({f"{RUNS}/run1/Picks/bob_1_ribosome.json": picks_json(user="bob"),
               f"{RUNS}/run1/Filaments/alice_1_membrane.json": picks_json(obj="membrane")})
    dst.write({**zarr(TOMO, {"0/0/0/0": b"\x01" * 99, "7/7/7/7": b"stale"}),   # update + stale key
               MESH: b"pruned", f"{RUNS}/run9/.meta": "meta",                     # prune
               META: "meta",                                                       # skip
               **zarr(f"{RUNS}/run1/Segmentations/10.000_al_1_mem.zarr", {"0/0/0/0": b"other"})})  # exists
    dst.write({f"{RUNS}/run1/Meshes/al_1_mem.glb": b"edited in the target"}, mtime_ns=T0 + SEC)  # conflict
    dst.write({f"{RUNS}/run1/VoxelSpacing10.000/.meta": "static meta"}, static=True)  # blocked
    rules = RuleSet(maps={"users": {"alice": "al"}, "objects": {"membrane": "mem"}},   # add-object
                    exclude={"users": ["bob"]}, overwrite_by_kind={"segmentations": "never"})
    return plan(src, dst, rules, prune=True)


def test_plan_round_trip_keeps_every_action_and_precondition(src: Proj, rich_dst: Proj, tmp_path: Path) -> None:
    dst = rich_dst
    p = _rich_plan(src, dst)
    assert p.actions_present() == set(Act)
    path = tmp_path / "plan.json"
    p.save(str(path))
    loaded = Plan.load(str(path))
    assert loaded.entities == p.entities
    assert loaded.objects == p.objects
    assert loaded.options == p.options and loaded.rules == p.rules
    assert loaded.warnings == p.warnings and loaded.created_at == p.created_at
    assert (loaded.source_label, loaded.target_label) == (p.source_label, p.target_label)
    assert (loaded.source_config, loaded.target_config) == (str(src.config), str(dst.config))
    assert loaded.to_dict() == p.to_dict()
    assert RuleSet.from_dict(loaded.rules).to_dict() == RuleSet.from_dict(p.rules).to_dict()
    assert [(fa.target_path, fa.src_size, fa.src_mtime_ns, fa.dst_size, fa.dst_mtime_ns)
            for _, fa in loaded.file_actions()] == [
        (fa.target_path, fa.src_size, fa.src_mtime_ns, fa.dst_size, fa.dst_mtime_ns) for _, fa in p.file_actions()]


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],
    lambda text: "not json at all",
    lambda text: json.dumps({"synctui_plan": 99}),
    lambda text: json.dumps({"synctui_rules": 1}),
    lambda text: json.dumps([1, 2, 3]),
    lambda text: text.replace('"create"', '"teleport"', 1),
    lambda text: text.replace('"entities"', '"entitees"', 1),
    lambda text: text.replace('"kind": "tomogram"', '"kind": "hologram"', 1),
    lambda text: json.dumps({**json.loads(text), "options": {"warp": 9}}),
])
def test_damaged_plan_file_is_a_plan_error(src: Proj, rich_dst: Proj, tmp_path: Path, damage) -> None:
    p = _rich_plan(src, rich_dst)
    path = tmp_path / "plan.json"
    p.save(str(path))
    path.write_text(damage(path.read_text()))
    with pytest.raises(PlanError) as info:
        Plan.load(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_damaged_plan_file_bytes_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PlanError):
        Plan.load(str(path))
    with pytest.raises(PlanError, match="not found"):
        Plan.load(str(tmp_path / "missing.json"))
    with pytest.raises(PlanError):
        Plan.load(str(tmp_path))  # a folder


# -- executing the plan makes the next one empty ----------------------------------------------------

def test_after_applying_the_plan_nothing_is_left_to_do(src: Proj, rich_dst: Proj) -> None:
    dst = rich_dst
    p0 = _rich_plan(src, dst)
    # resolve the conflict the rich plan carries first, as a user would
    p = make_plan(src.open(), dst.open(), RuleSet.from_dict(p0.rules),
                  PlanOptions(prune=True, overwrite_conflicts=True))
    apply_plan(p, src.open(), dst.open())
    again = make_plan(src.open(), dst.open(), RuleSet.from_dict(p0.rules), PlanOptions(prune=True))
    assert again.is_noop, [(e.action, e.target_path, e.reason) for e in again.entities if e.action.writes]


def test_roots_as_local_urls_plain_paths_and_relative_paths(tmp_path: Path) -> None:
    src = Proj(tmp_path / "src", url=False, static=True)
    dst = Proj(tmp_path / "dst")
    data = dst.config_data()
    data["overlay_root"] = "overlay"  # relative to the config's folder
    dst.config.write_text(json.dumps(data))
    src.write({MESH: b"mesh"})
    src.write(zarr(TOMO, {"0/0/0/0": b"t"}), static=True)
    dst.write({MESH: b"mesh"})
    ents = by_target(plan(src, dst))
    assert (ents[MESH].action, ents[TOMO].action) == (Act.SKIP, Act.CREATE)
    assert ents[TOMO].source_root == "static"
