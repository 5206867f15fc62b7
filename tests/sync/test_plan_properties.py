"""Properties of the planner over random projects and random (also colliding) rule sets.

* no two actions ever write (create, update or delete) one target path;
* where a mapping is one-to-one, mapping then inverse-mapping gives back the entity;
* planning is idempotent: once the plan's writes are done, the next plan writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planproj import SEC, T0, Proj, apply_plan, picks_json

from synctui.project.catalog import Catalog, build_entities
from synctui.project.config import load_config
from synctui.project.layout import EntityRef, Kind, entity_path, ref_problem
from synctui.storage.base import FileInfo
from synctui.storage.local import LocalStore
from synctui.storage.local_scan import find_program
from synctui.sync.plan import Act, Plan, PlanOptions, make_plan
from synctui.sync.rules import MAP_DIMENSIONS, RuleSet

RUNS = ["r1", "r2", "r3"]
OBJECTS = ["a", "b", "c"]
USERS = ["u", "v"]
SESSIONS = ["0", "1"]
TOMO_TYPES = ["wbp", "raw"]
SEG_NAMES = [*OBJECTS, "cells"]
VOXEL_SPACINGS = [10.0, 7.84]
CHUNK_KEYS = ["0/0/0/0", "0/0/0/1", "0/1/0/0", "1/0/0/0"]
ALPHABET = {"runs": RUNS, "objects": OBJECTS, "users": USERS, "sessions": SESSIONS,
            "tomo_types": TOMO_TYPES, "seg_names": SEG_NAMES}
#: names a map may point at: the alphabet itself (collisions), fresh names, and names copick rejects
FRESH = ["x", "y", "z"]
INVALID = ["bad_name", "has space", ".hidden"]

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def refs(draw: st.DrawFn) -> EntityRef:
    kind = draw(st.sampled_from(list(Kind)))
    run = draw(st.sampled_from(RUNS))
    vs = draw(st.sampled_from(VOXEL_SPACINGS))
    if kind is Kind.RUN_META:
        return EntityRef(kind, run=run)
    if kind is Kind.VS_META:
        return EntityRef(kind, run=run, voxel_spacing=vs)
    if kind is Kind.TOMOGRAM:
        return EntityRef(kind, run=run, voxel_spacing=vs, tomo_type=draw(st.sampled_from(TOMO_TYPES)))
    if kind is Kind.FEATURES:
        return EntityRef(kind, run=run, voxel_spacing=vs, tomo_type=draw(st.sampled_from(TOMO_TYPES)),
                         feature_type="cellcanvas")
    if kind is Kind.DENSITY_MAP:
        return EntityRef(kind, name=draw(st.sampled_from(OBJECTS)))
    user, session = draw(st.sampled_from(USERS)), draw(st.sampled_from(SESSIONS))
    if kind.is_annotation:
        return EntityRef(kind, run=run, user=user, session=session, name=draw(st.sampled_from(OBJECTS)))
    names = OBJECTS if kind is Kind.SEGMENTATION else SEG_NAMES
    return EntityRef(kind, run=run, voxel_spacing=vs, user=user, session=session,
                     name=draw(st.sampled_from(names)))


@dataclass(frozen=True)
class Version:
    """One copy of an entity: content variant, which zarr keys, and how old."""

    variant: int
    keys: frozenset[str]
    age: int  # seconds after T0
    static: bool = False


versions = st.builds(Version, variant=st.integers(0, 2),
                     keys=st.frozensets(st.sampled_from(CHUNK_KEYS), min_size=1),
                     age=st.sampled_from([0, 0, 5, 10]))


def files_of(ref: EntityRef, v: Version) -> dict[str, bytes]:
    path = entity_path(ref)
    k = ref.kind
    if k.is_meta:
        return {path: b"meta"}
    if k in (Kind.PICKS, Kind.FILAMENTS):
        return {path: picks_json(obj=ref.name, user=ref.user, session=ref.session, run=ref.run,
                                 n=v.variant + 1).encode()}
    if k is Kind.MESH:
        return {path: b"glTF" + bytes([v.variant]) * (3 + v.variant)}
    out = {f"{path}/.zarray": b'{"zarr_format": 2, "v": %d}' % v.variant, f"{path}/.zattrs": b"{}"}
    out.update({f"{path}/{key}": bytes([v.variant]) * (4 + v.variant) for key in v.keys})
    return out


@st.composite
def project_pairs(draw: st.DrawFn) -> tuple[dict[EntityRef, Version], dict[EntityRef, Version], bool]:
    source = draw(st.dictionaries(refs(), versions, min_size=1, max_size=10))
    target_static = draw(st.booleans())
    target: dict[EntityRef, Version] = {}
    for ref, v in source.items():
        choice = draw(st.sampled_from(["same", "same", "other", "other", "absent"]))
        if choice == "same":
            target[ref] = v
        elif choice == "other":
            target[ref] = draw(versions)
    # target-only entities: some share names the rules may map onto
    target.update(draw(st.dictionaries(refs(), versions, max_size=5)))
    if target_static:
        target = {r: Version(v.variant, v.keys, v.age, static=draw(st.booleans()) and r.kind is not Kind.RUN_META)
                  for r, v in target.items()}
    return source, target, target_static


def pattern(dim: str) -> st.SearchStrategy[str]:
    if dim == "kinds":
        return st.sampled_from(["picks", "meshes", "segmentations", "tomograms", "meta", "features",
                                "filaments", "density-maps", "multilabel-segmentations"])
    if dim == "voxel_spacings":
        return st.sampled_from(["10", "7.84", "10.000"])
    if dim == "paths":
        return st.sampled_from(["ExperimentRuns/r1", "*/Picks/*", "Objects/*"])
    if dim == "seg_names":
        return st.sampled_from(SEG_NAMES)
    return st.sampled_from([*ALPHABET[dim], "*", f"{ALPHABET[dim][0][0]}*"])


def filters() -> st.SearchStrategy[dict[str, list[str]]]:
    dims = ["kinds", "runs", "objects", "users", "sessions", "voxel_spacings", "tomo_types", "seg_names", "paths"]
    return st.dictionaries(st.sampled_from(dims), st.just(None), max_size=1).flatmap(
        lambda chosen: st.fixed_dictionaries({d: st.lists(pattern(d), min_size=1, max_size=2) for d in chosen}))


def maps(names: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[dict[str, dict[str, str]]]:
    def one(dim: str) -> st.SearchStrategy[dict[str, str]]:
        dests = names or st.sampled_from([*ALPHABET[dim], *FRESH, *INVALID])
        return st.dictionaries(st.sampled_from(ALPHABET[dim]), dests, max_size=3)

    return st.fixed_dictionaries({}, optional={d: one(d) for d in MAP_DIMENSIONS}).map(
        lambda m: {d: {s: t for s, t in v.items() if s != t} for d, v in m.items() if any(s != t for s, t in v.items())})


rule_sets = st.builds(
    RuleSet, include=filters(), exclude=filters(), maps=maps(),
    overwrite=st.sampled_from(["if-changed", "never", "always"]),
    overwrite_by_kind=st.dictionaries(st.sampled_from(["picks", "tomograms", "segmentations"]),
                                      st.sampled_from(["if-changed", "never", "always"]), max_size=1))
options = st.builds(PlanOptions, overwrite_conflicts=st.booleans(), checksum=st.booleans(),
                    prune=st.booleans())


def write_projects(base: Path, source: dict[EntityRef, Version], target: dict[EntityRef, Version],
                   target_static: bool) -> tuple[Proj, Proj]:
    src = Proj(base / "src", objects=[{"name": "a", "is_particle": True, "label": 1},
                                      {"name": "b", "is_particle": False, "label": 2}])
    dst = Proj(base / "dst", objects=[{"name": "c", "is_particle": True, "label": 1}], static=target_static)
    for ref, v in source.items():
        src.write(files_of(ref, v), mtime_ns=T0 + v.age * SEC)
    for ref, v in target.items():
        dst.write(files_of(ref, v), mtime_ns=T0 + v.age * SEC, static=v.static)
    return src, dst


#: tmpfs when there is one: each example writes and removes a few hundred files and folders
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="synctui-prop-", dir=_SCRATCH))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def writes(p: Plan) -> list[str]:
    return [fa.target_path for _, fa in p.file_actions()]


@SETTINGS
@given(project_pairs(), rule_sets, options)
def test_no_two_actions_write_one_target_path(pair, rules: RuleSet, opts: PlanOptions) -> None:
    source, target, target_static = pair
    with scratch() as base:
        src, dst = write_projects(base, source, target, target_static)
        scat, tcat = src.open(), dst.open()
        p = make_plan(scat, tcat, rules, opts)
        dupes = [path for path, n in Counter(writes(p)).items() if n > 1]
        assert not dupes, dupes
        # and no two entities that may write claim one target entity
        claimed = Counter(e.target_path for e in p.entities if e.action not in (Act.EXCLUDED, Act.BLOCKED))
        assert not [path for path, n in claimed.items() if n > 1]
        for ent, fa in p.file_actions():
            assert ent.action.writes
            assert fa.target_path == ent.target_path or fa.target_path.startswith(ent.target_path + "/")
            if fa.action is Act.DELETE:
                continue
            assert ref_problem(ent.target) is None  # nothing copick would reject is ever written
            # nothing is ever written into the target's static root
            assert not (tent := tcat.entities.get(ent.target)) or not tent.read_only
        # deletes: whole entities only with prune, never in the static root, never of a written entity
        written = {e.target for e in p.entities if e.action in (Act.CREATE, Act.UPDATE)}
        for ent in p.entities:
            if ent.action is Act.DELETE:
                assert opts.prune and ent.source is None and ent.target not in written
                assert not tcat.entities[ent.target].read_only
        # every source entity is accounted for exactly once
        assert Counter(e.source for e in p.entities if e.source is not None) == Counter(list(scat.entities))


def _permutation(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.permutations(names).map(lambda perm: dict(zip(names, perm, strict=True)))


def _fresh_map(dim: str) -> st.SearchStrategy[dict[str, str]]:
    names = ALPHABET[dim]
    return st.lists(st.sampled_from(names), unique=True).map(
        lambda chosen: {n: f"{dim[0]}{n}{i}" for i, n in enumerate(chosen)})


@st.composite
def one_to_one_maps(draw: st.DrawFn) -> dict[str, dict[str, str]]:
    """Per dimension: a permutation of the names in use, or a partial map onto fresh names."""
    out: dict[str, dict[str, str]] = {}
    for dim, names in ALPHABET.items():
        # a permutation stays total (identity entries kept): a partial one could let the
        # object map and the segmentation-name map land two binary segmentations on one name
        m = draw(st.one_of(st.just({}), _permutation(names), _fresh_map(dim)))
        if m:
            out[dim] = m
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(refs(), min_size=1, max_size=30), one_to_one_maps())
def test_inverse_mapping_is_identity_where_one_to_one(ref_list: list[EntityRef], m: dict) -> None:
    rules = RuleSet(maps=m)
    inverse = rules.inverse()
    for ref in ref_list:
        mapped = rules.map_ref(ref)
        assert inverse.map_ref(mapped) == ref
        assert rules.map_ref(inverse.map_ref(mapped)) == mapped
    # one-to-one maps never merge two entities
    mapped = {rules.map_ref(r) for r in set(ref_list)}
    assert len(mapped) == len(set(ref_list))
    assert not [p for p in rules.check() if p.level == "error" and "both mapped" in p.message]


idempotent_rules = st.builds(
    RuleSet, include=filters(), exclude=filters(), maps=maps(),
    overwrite=st.sampled_from(["if-changed", "never"]),
    overwrite_by_kind=st.dictionaries(st.sampled_from(["picks", "tomograms", "segmentations"]),
                                      st.sampled_from(["if-changed", "never"]), max_size=1))


@SETTINGS
@given(project_pairs(), idempotent_rules, options)
def test_plan_is_idempotent(pair, rules: RuleSet, opts: PlanOptions) -> None:
    source, target, target_static = pair
    with scratch() as base:
        src, dst = write_projects(base, source, target, target_static)
        first = make_plan(src.open(), dst.open(), rules, opts)
        apply_plan(first, src.open(), dst.open())
        second = make_plan(src.open(), dst.open(), rules, opts)
        assert second.is_noop, [(e.action.value, e.target_path, e.reason)
                                for e in second.entities if e.action.writes] + [o.name for o in second.objects]
        # what the first plan left alone it still leaves alone, for the same reason
        left = {(e.target_path, e.action) for e in first.entities
                if e.action in (Act.CONFLICT, Act.BLOCKED, Act.EXCLUDED, Act.EXISTS)}
        now = {(e.target_path, e.action) for e in second.entities}
        assert left <= now


def decisions(p: Plan) -> list[tuple]:
    """Everything a plan decides, entity by entity and file by file."""
    return [(e.action, e.source_path, e.target_path, e.reason, e.n_files, e.bytes,
             [(fa.action, fa.target_path, fa.source_path, fa.reason, fa.keep_old) for fa in e.files])
            for e in p.entities] + [("adopted", sorted(a[0] for a in p.adopted))]


@SETTINGS
@given(project_pairs(), rule_sets, options, st.booleans())
@pytest.mark.skipif(find_program() is None, reason="no GNU find: nothing is bundled")
def test_bundled_listings_plan_what_file_by_file_listings_plan(pair, rules: RuleSet, opts: PlanOptions,
                                                              reconcile: bool) -> None:
    """find's bundles, compared unparsed, decide exactly what FileInfos one by one decide."""
    source, target, target_static = pair
    with scratch() as base:
        src, dst = write_projects(base, source, target, target_static)
        bundled = make_plan(src.open("find"), dst.open("find"), rules, opts, reconcile=reconcile)
        one_by_one = make_plan(src.open("scandir"), dst.open("scandir"), rules, opts, reconcile=reconcile)
        assert decisions(bundled) == decisions(one_by_one)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(project_pairs(), idempotent_rules)
def test_engine_run_leaves_nothing_to_do(pair, rules: RuleSet) -> None:
    from synctui.sync.engine import Engine

    source, target, target_static = pair
    with scratch() as base:
        src, dst = write_projects(base, source, target, target_static)
        opts = PlanOptions(prune=True)
        first = make_plan(src.open(), dst.open(), rules, opts)
        summary = Engine(first, src.open(), dst.open(), max_workers=2).run()
        assert not summary.errors, summary.errors
        second = make_plan(src.open(), dst.open(), rules, opts)
        assert second.is_noop, [(e.action.value, e.target_path, e.reason)
                                for e in second.entities if e.action.writes]


# -- in memory: build_entities + Catalog, no disk ---------------------------------------------

@settings(max_examples=150, deadline=None)
@given(project_pairs(), rule_sets, options.filter(lambda o: not o.checksum))
def test_in_memory_catalogs_never_double_write(pair, rules: RuleSet, opts: PlanOptions) -> None:
    source, target, _ = pair

    def catalog(entities: dict[EntityRef, Version]) -> Catalog:
        infos = [FileInfo(path, len(data), T0 + v.age * SEC)
                 for ref, v in entities.items() for path, data in files_of(ref, v).items()]
        ents, runs, unknown = build_entities(infos, "overlay")
        assert not unknown
        cfg = load_config({"pickable_objects": [], "overlay_root": "/nonexistent/synctui-prop"})
        return Catalog(config=cfg, entities=ents, runs=runs,
                       stores={"overlay": LocalStore("/nonexistent/synctui-prop")})

    # annotations are only read when a mapping rewrites them: keep those out of memory-only plans
    rules = RuleSet(include=rules.include, exclude={**rules.exclude, "kinds": ["picks", "filaments"]},
                    maps=rules.maps, overwrite=rules.overwrite, overwrite_by_kind=rules.overwrite_by_kind)
    p = make_plan(catalog(source), catalog(target), rules, opts)
    dupes = [path for path, n in Counter(writes(p)).items() if n > 1]
    assert not dupes, dupes
    assert len(p.entities) >= len(source)
