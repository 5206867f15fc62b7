"""RuleSet: filters on every dimension, mappings, copick's flag syntax, the rules file, check()."""

from __future__ import annotations

import json

import pytest

from synctui.errors import RulesError
from synctui.project.layout import EntityRef, Kind
from synctui.sync.rules import (
    RULES_VERSION,
    RuleSet,
    kinds_for,
    names_in,
    parse_copick_list,
    parse_copick_mapping,
)

# one entity of every kind, the way the catalog names them
TOMO = EntityRef(Kind.TOMOGRAM, run="run1", voxel_spacing=10.0, tomo_type="wbp")
FEAT = EntityRef(Kind.FEATURES, run="run1", voxel_spacing=10.0, tomo_type="wbp", feature_type="cellcanvas")
PICKS = EntityRef(Kind.PICKS, run="run1", user="alice", session="1", name="ribosome")
FILS = EntityRef(Kind.FILAMENTS, run="run1", user="alice", session="1", name="actin")
MESH = EntityRef(Kind.MESH, run="run2", user="bob", session="0", name="membrane")
SEG = EntityRef(Kind.SEGMENTATION, run="run1", voxel_spacing=10.0, user="alice", session="1", name="membrane")
MULTI = EntityRef(Kind.MULTILABEL, run="run1", voxel_spacing=10.0, user="alice", session="1", name="cells")
INST = EntityRef(Kind.INSTANCE, run="run1", voxel_spacing=7.84, user="bob", session="2", name="mito")
PAN = EntityRef(Kind.PANOPTIC, run="run1", voxel_spacing=7.84, user="bob", session="2", name="all")
RUN_META = EntityRef(Kind.RUN_META, run="run1")
VS_META = EntityRef(Kind.VS_META, run="run1", voxel_spacing=10.0)
DMAP = EntityRef(Kind.DENSITY_MAP, name="ribosome")
ALL = [TOMO, FEAT, PICKS, FILS, MESH, SEG, MULTI, INST, PAN, RUN_META, VS_META, DMAP]


def kept(rules: RuleSet) -> list[EntityRef]:
    return [r for r in ALL if rules.why_excluded(r) is None]


# -- kinds ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("tomograms", {TOMO}), ("tomogram", {TOMO}), ("features", {FEAT}), ("picks", {PICKS}),
    ("filaments", {FILS}), ("meshes", {MESH}), ("mesh", {MESH}),
    ("segmentations", {SEG, MULTI, INST, PAN}), ("binary-segmentations", {SEG}),
    ("multilabel-segmentations", {MULTI}), ("instance-segmentations", {INST}),
    ("panoptic_segmentations", {PAN}), ("density-maps", {DMAP}), ("meta", {RUN_META, VS_META}),
    ("Picks", {PICKS}), (" tomograms ", {TOMO}),
])
def test_include_kinds_by_group_and_value(name: str, expected: set[EntityRef]) -> None:
    assert set(kept(RuleSet(include={"kinds": [name]}))) == expected


def test_exclude_kinds_group_names_the_rule() -> None:
    rules = RuleSet(exclude={"kinds": ["segmentations"]})
    assert set(kept(rules)) == set(ALL) - {SEG, MULTI, INST, PAN}
    why = rules.why_excluded(INST)
    assert why is not None and "instance segmentation" in why and "'segmentations'" in why
    assert "exclude kinds" in why


def test_include_kinds_reason_lists_the_included_kinds() -> None:
    why = RuleSet(include={"kinds": ["picks", "meshes"]}).why_excluded(TOMO)
    assert why is not None and "tomogram" in why and "picks" in why and "meshes" in why


def test_unknown_kind_is_a_rules_error_listing_the_choices() -> None:
    with pytest.raises(RulesError, match="unknown entity kind 'pickz'.*picks"):
        RuleSet(include={"kinds": ["pickz"]})
    with pytest.raises(RulesError):
        kinds_for("volumes")


# -- every other dimension -------------------------------------------------------------

@pytest.mark.parametrize(("dim", "pattern", "in_", "out"), [
    ("runs", "run1", [TOMO, PICKS, SEG], [MESH]),
    ("runs", "run*", [TOMO, MESH], []),
    ("objects", "ribosome", [PICKS, DMAP], [FILS, MESH, SEG]),
    ("objects", "mem*", [MESH, SEG], [PICKS, FILS, DMAP]),
    ("users", "alice", [PICKS, FILS, SEG, MULTI], [MESH, INST, PAN]),
    ("sessions", "0", [MESH], [PICKS, SEG, INST]),
    ("sessions", "[12]", [PICKS, INST], [MESH]),
    ("tomo_types", "wbp", [TOMO, FEAT], []),
    ("tomo_types", "denoised", [], [TOMO, FEAT]),
    ("seg_names", "membrane", [SEG], [MULTI, INST, PAN]),
    ("seg_names", "c*", [MULTI], [SEG, INST, PAN]),
    ("paths", "ExperimentRuns/run1/Picks/*", [PICKS], [FILS, TOMO, MESH]),
    ("paths", "ExperimentRuns/run1/VoxelSpacing10.000", [TOMO, FEAT, VS_META], [INST, PICKS]),
    ("paths", "Objects/*", [DMAP], [TOMO]),
])
def test_include_filter(dim: str, pattern: str, in_: list[EntityRef], out: list[EntityRef]) -> None:
    rules = RuleSet(include={dim: [pattern]})
    for ref in in_:
        assert rules.why_excluded(ref) is None, ref
    for ref in out:
        why = rules.why_excluded(ref)
        assert why is not None, ref
        assert "not in include" in why and pattern in why


@pytest.mark.parametrize(("dim", "pattern", "out", "in_"), [
    ("runs", "run2", [MESH], [TOMO, PICKS]),
    ("objects", "ribosome", [PICKS, DMAP], [MESH, SEG]),
    ("users", "bob", [MESH, INST, PAN], [PICKS, SEG]),
    ("sessions", "0", [MESH], [PICKS]),
    ("voxel_spacings", "7.84", [INST, PAN], [TOMO, SEG, VS_META]),
    ("tomo_types", "wbp", [TOMO, FEAT], [PICKS, SEG]),
    ("seg_names", "cells", [MULTI], [SEG, PICKS]),
    ("paths", "*/Meshes/*", [MESH], [PICKS]),
    ("paths", "ExperimentRuns/run1/Segmentations", [SEG, MULTI], [INST, PAN, PICKS]),
])
def test_exclude_filter_names_the_rule(dim: str, pattern: str, out: list[EntityRef],
                                       in_: list[EntityRef]) -> None:
    rules = RuleSet(exclude={dim: [pattern]})
    for ref in out:
        why = rules.why_excluded(ref)
        assert why is not None, ref
        assert f"matches exclude {pattern!r}" in why
    for ref in in_:
        assert rules.why_excluded(ref) is None, ref


def test_filters_on_a_dimension_a_kind_lacks_do_not_apply() -> None:
    """--source-users alice must not drop tomograms, which have no user."""
    rules = RuleSet(include={"users": ["alice"], "objects": ["ribosome"], "seg_names": ["x"]})
    assert rules.why_excluded(TOMO) is None
    assert rules.why_excluded(RUN_META) is None
    assert rules.why_excluded(MESH) is not None


@pytest.mark.parametrize("spelling", ["10", "10.0", "10.000", "10.0001", " 10"])
def test_voxel_spacing_matches_numerically(spelling: str) -> None:
    rules = RuleSet(include={"voxel_spacings": [spelling.strip()]})
    assert rules.why_excluded(TOMO) is None
    assert rules.why_excluded(VS_META) is None
    assert rules.why_excluded(SEG) is None
    why = rules.why_excluded(INST)
    assert why is not None and "voxel spacing '7.840'" in why


def test_voxel_spacing_glob_still_works() -> None:
    rules = RuleSet(include={"voxel_spacings": ["7.*"]})
    assert rules.why_excluded(INST) is None
    assert rules.why_excluded(TOMO) is not None


def test_exclude_wins_over_include_and_kind_exclusion_comes_first() -> None:
    rules = RuleSet(include={"runs": ["run1"]}, exclude={"users": ["alice"], "kinds": ["picks"]})
    assert "exclude kinds" in (rules.why_excluded(PICKS) or "")
    assert "matches exclude 'alice'" in (rules.why_excluded(FILS) or "")
    assert rules.why_excluded(TOMO) is None
    assert "not in include runs" in (rules.why_excluded(MESH) or "")


def test_unknown_dimension_and_policy_are_rules_errors() -> None:
    with pytest.raises(RulesError, match="unknown filter 'colour'"):
        RuleSet(include={"colour": ["red"]})
    with pytest.raises(RulesError, match="unknown mapping 'paths'"):
        RuleSet(maps={"paths": {"a": "b"}})
    with pytest.raises(RulesError, match="unknown overwrite policy 'sometimes'"):
        RuleSet(overwrite="sometimes")
    with pytest.raises(RulesError, match="unknown overwrite policy"):
        RuleSet(overwrite_by_kind={"picks": "bogus"})
    with pytest.raises(RulesError, match="unknown entity kind"):
        RuleSet(overwrite_by_kind={"pickz": "never"})


def test_add_and_remove_filter() -> None:
    rules = RuleSet()
    rules.add_filter("include", "runs", "run1")
    rules.add_filter("include", "runs", "run1")
    rules.add_filter("exclude", "kinds", "meta")
    assert rules.include == {"runs": ["run1"]} and rules.exclude == {"kinds": ["meta"]}
    assert rules.why_excluded(MESH) is not None and rules.why_excluded(RUN_META) is not None
    rules.remove_filter("include", "runs", "run1")
    rules.remove_filter("exclude", "kinds", "meta")
    assert rules.is_empty and kept(rules) == ALL
    with pytest.raises(RulesError):
        rules.add_filter("include", "kinds", "nonsense")


# -- mappings -------------------------------------------------------------------------

def test_partial_run_map_keeps_unmapped_names() -> None:
    """copick crashes on a run missing from a partial map; we keep its name."""
    rules = RuleSet(maps={"runs": {"run1": "exp1"}})
    assert rules.map_ref(PICKS).run == "exp1"
    assert rules.map_ref(MESH) == MESH
    assert rules.map_ref(DMAP) == DMAP


def test_map_ref_rewrites_each_dimension_for_each_kind() -> None:
    rules = RuleSet(maps={"runs": {"run1": "exp1"}, "objects": {"ribosome": "ribo", "membrane": "mem"},
                          "users": {"alice": "al"}, "sessions": {"1": "7"}, "tomo_types": {"wbp": "raw"},
                          "seg_names": {"cells": "cytoplasm"}})
    assert rules.map_ref(PICKS) == EntityRef(Kind.PICKS, run="exp1", user="al", session="7", name="ribo")
    assert rules.map_ref(TOMO) == TOMO.with_(run="exp1", tomo_type="raw")
    assert rules.map_ref(FEAT) == FEAT.with_(run="exp1", tomo_type="raw")
    # a binary segmentation is named after its object: the object map renames it
    assert rules.map_ref(SEG) == SEG.with_(run="exp1", user="al", session="7", name="mem")
    assert rules.map_ref(MULTI) == MULTI.with_(run="exp1", user="al", session="7", name="cytoplasm")
    assert rules.map_ref(DMAP) == DMAP.with_(name="ribo")
    assert rules.map_ref(VS_META) == VS_META.with_(run="exp1")
    assert rules.map_ref(MESH) == MESH.with_(name="mem")  # run2 and bob keep their names


def test_seg_name_map_wins_over_object_map_for_binary_segmentations() -> None:
    rules = RuleSet(maps={"objects": {"membrane": "mem"}, "seg_names": {"membrane": "membrane2"}})
    assert rules.map_ref(SEG).name == "membrane2"


def test_set_mapping_to_itself_removes_it() -> None:
    rules = RuleSet()
    rules.set_mapping("runs", "run1", "exp1")
    assert rules.maps == {"runs": {"run1": "exp1"}}
    rules.set_mapping("runs", "run1", "run1")
    assert rules.maps == {}
    rules.set_mapping("objects", "a", "b")
    rules.set_mapping("objects", "a", None)
    assert rules.maps == {}
    with pytest.raises(RulesError):
        rules.set_mapping("voxel_spacings", "10", "20")


def test_inverse_undoes_a_one_to_one_map() -> None:
    rules = RuleSet(maps={"runs": {"run1": "exp1", "run2": "exp2"}, "objects": {"ribosome": "ribo"},
                          "users": {"alice": "al"}})
    inv = rules.inverse()
    for ref in ALL:
        assert inv.map_ref(rules.map_ref(ref)) == ref


# -- copick's flag syntax ---------------------------------------------------------------

def test_copick_list_and_mapping_syntax() -> None:
    assert parse_copick_list("run1, run2,,run3 ") == ["run1", "run2", "run3"]
    assert parse_copick_list(None) == [] and parse_copick_list("") == []
    assert parse_copick_mapping("run1:exp1,run2:exp2") == {"run1": "exp1", "run2": "exp2"}
    assert parse_copick_mapping(" run1 : exp1 , run3") == {"run1": "exp1", "run3": "run3"}
    assert parse_copick_mapping("ribosome") == {"ribosome": "ribosome"}
    assert parse_copick_mapping({"a": "b"}) == {"a": "b"}
    assert parse_copick_mapping(None) == {} and parse_copick_mapping("") == {}
    assert parse_copick_mapping("a:b,a:b") == {"a": "b"}


@pytest.mark.parametrize("text", ["a:", ":b", "a:b,:c", "run1:exp1,run2:", "a:b:c", "a:b,a:c", " : "])
def test_malformed_mapping_is_a_one_line_rules_error(text: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_copick_mapping(text, "--target-runs")
    message = str(info.value)
    assert message.startswith("--target-runs:") and "\n" not in message


# -- the rules file ---------------------------------------------------------------------

def full_rules() -> RuleSet:
    return RuleSet(
        include={"kinds": ["picks", "segmentations"], "runs": ["run*"], "voxel_spacings": ["10"]},
        exclude={"users": ["bob"], "sessions": ["0"], "paths": ["*/tmp/*"], "kinds": ["meta"]},
        maps={"runs": {"run1": "exp1"}, "objects": {"ribosome": "ribo"}, "seg_names": {"cells": "c"}},
        overwrite="never", overwrite_by_kind={"picks": "always", "segmentations": "if-changed"})


def test_rules_file_round_trip(tmp_path) -> None:
    rules = full_rules()
    path = tmp_path / "rules.json"
    rules.save(str(path))
    data = json.loads(path.read_text())
    assert data["synctui_rules"] == RULES_VERSION
    loaded = RuleSet.load(str(path))
    assert loaded.include == rules.include and loaded.exclude == rules.exclude
    assert loaded.maps == rules.maps and loaded.overwrite == "never"
    assert loaded.overwrite_by_kind == rules.overwrite_by_kind
    assert loaded.to_dict() == rules.to_dict()
    for ref in ALL:
        assert loaded.why_excluded(ref) == rules.why_excluded(ref)
        assert loaded.map_ref(ref) == rules.map_ref(ref)
    for kind in Kind:
        assert loaded.policy_for(kind) == rules.policy_for(kind)
    assert rules.copy().to_dict() == rules.to_dict()


def test_overwrite_by_kind_uses_groups() -> None:
    rules = full_rules()
    assert rules.policy_for(Kind.PICKS) == "always"
    assert rules.policy_for(Kind.INSTANCE) == "if-changed"
    assert rules.policy_for(Kind.TOMOGRAM) == "never"


def _one_line_error(path) -> str:
    with pytest.raises(RulesError) as info:
        RuleSet.load(str(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_unknown_version(tmp_path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"synctui_rules": 99, "include": {}}))
    assert "version 99 is not supported" in _one_line_error(path)


def test_not_a_rules_file(tmp_path) -> None:
    path = tmp_path / "copick_config.json"
    path.write_text(json.dumps({"pickable_objects": [], "overlay_root": "/tmp/x"}))
    assert "not a synctui rules file" in _one_line_error(path)
    path.write_text("[1, 2]")
    assert "not a synctui rules file" in _one_line_error(path)


def test_malformed_json(tmp_path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"synctui_rules": 1,\n  "include": {"runs": [}\n}')
    message = _one_line_error(path)
    assert "malformed JSON at line 2" in message


def test_missing_rules_file(tmp_path) -> None:
    assert "not found" in _one_line_error(tmp_path / "nope.json")


@pytest.mark.parametrize(("data", "needle"), [
    ({"include": {"runs": [1, 2]}}, "include.runs must be a list of strings"),
    ({"include": {"planets": ["x"]}}, "unknown filter 'planets'"),
    ({"map": {"runs": ["a", "b"]}}, "map.runs must be an object"),
    ({"map": {"colours": {"a": "b"}}}, "unknown mapping 'colours'"),
    ({"overwrite": "maybe"}, "unknown overwrite policy 'maybe'"),
    ({"kinds": ["nonsense"]}, "unknown entity kind 'nonsense'"),
])
def test_invalid_rules_content(tmp_path, data: dict, needle: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"synctui_rules": RULES_VERSION, **data}))
    assert needle in _one_line_error(path)


def test_a_bare_string_is_accepted_as_a_one_item_list() -> None:
    rules = RuleSet.from_dict({"synctui_rules": 1, "include": {"runs": "run1"}, "kinds": "picks"})
    assert rules.include == {"runs": ["run1"], "kinds": ["picks"]}


# -- check --------------------------------------------------------------------------------

def test_check_lists_every_problem_at_once() -> None:
    rules = RuleSet(maps={
        "runs": {"run1": "exp", "run2": "exp"},               # collision
        "objects": {"ribosome": "ribo_some",                  # invalid target name ('_')
                    "membrane": "proteasome",                 # the source keeps a 'proteasome'
                    "ghost": "spirit"},                       # no project has 'ghost'
    })
    source = {"runs": {"run1", "run2"}, "objects": {"ribosome", "membrane", "proteasome"}}
    problems = rules.check(source, {"runs": set(), "objects": set()})
    errors = [p.message for p in problems if p.level == "error"]
    warnings = [p.message for p in problems if p.level == "warning"]
    assert any("'run1' and 'run2' are both mapped onto 'exp'" in e for e in errors)
    assert any("'ribosome' -> 'ribo_some'" in e and "'_'" in e for e in errors)
    assert any("'membrane' -> 'proteasome'" in e and "keeps its name" in e for e in errors)
    assert len(errors) == 3
    assert warnings == ["map object 'ghost': no project has an object named 'ghost'"]
    with pytest.raises(RulesError) as info:
        rules.raise_on_errors(problems)
    assert "both mapped onto" in str(info.value) and "ribo_some" in str(info.value)


def test_check_run_names_and_session_names() -> None:
    rules = RuleSet(maps={"runs": {"run1": "a/b"}, "sessions": {"1": "two words"},
                          "users": {"alice": ""}})
    messages = [p.message for p in rules.check() if p.level == "error"]
    assert any("'a/b'" in m and "forbidden" in m for m in messages)
    assert any("whitespace" in m for m in messages)
    assert any("empty" in m for m in messages)


def test_check_accepts_a_swap_and_a_name_known_only_to_the_target() -> None:
    rules = RuleSet(maps={"objects": {"a": "b", "b": "a"}, "users": {"carol": "dave"}})
    problems = rules.check({"objects": {"a", "b"}, "users": set()}, {"users": {"carol"}})
    assert problems == []


def test_check_without_names_checks_the_map_only() -> None:
    assert RuleSet(maps={"runs": {"ghost": "exp1"}}).check() == []


def test_names_in_collects_every_dimension() -> None:
    names = names_in(ALL, runs=["empty-run"])
    assert names["runs"] == {"run1", "run2", "empty-run"}
    assert names["objects"] == {"ribosome", "actin", "membrane"}
    assert names["users"] == {"alice", "bob"} and names["sessions"] == {"0", "1", "2"}
    assert names["tomo_types"] == {"wbp"}
    assert names["seg_names"] == {"membrane", "cells", "mito", "all"}


def test_saving_where_it_cannot_is_a_rules_error(tmp_path) -> None:
    with pytest.raises(RulesError, match="cannot write the rules file"):
        full_rules().save(str(tmp_path / "missing" / "rules.json"))


def test_filter_reach_names_exactly_the_kinds_a_filter_passes_untouched() -> None:
    """FILTER_KINDS (what the app says include-only filters apply to) matches what they do."""
    from synctui.project.layout import Kind, parse_path
    from synctui.sync.rules import DIMENSIONS, FILTER_KINDS, _values, filter_reach

    paths = ["ExperimentRuns/r/.meta", "ExperimentRuns/r/VoxelSpacing10.000/.meta",
             "ExperimentRuns/r/VoxelSpacing10.000/wbp.zarr/.zattrs",
             "ExperimentRuns/r/VoxelSpacing10.000/wbp_sobel_features.zarr/.zattrs",
             "ExperimentRuns/r/Picks/u_1_ribosome.json", "ExperimentRuns/r/Filaments/u_1_tube.json",
             "ExperimentRuns/r/Meshes/u_1_ribosome.glb",
             "ExperimentRuns/r/Segmentations/10.000_u_1_membrane.zarr/.zattrs",
             "ExperimentRuns/r/Segmentations/10.000_u_1_cells-multilabel.zarr/.zattrs",
             "ExperimentRuns/r/InstanceSegmentations/10.000_u_1_ribosome.zarr/.zattrs",
             "ExperimentRuns/r/PanopticSegmentations/10.000_u_1_cells.zarr/.zattrs",
             "Objects/ribosome.zarr/.zattrs"]
    refs = {}
    for path in paths:
        parsed = parse_path(path)
        assert isinstance(parsed, tuple), path
        refs[parsed[0].kind] = parsed[0]
    assert set(refs) == set(Kind)
    for dim in DIMENSIONS:
        looked_at = set(Kind) if dim == "kinds" else {k for k, ref in refs.items()
                                                       if _values(ref, dim) is not None}
        assert looked_at == FILTER_KINDS[dim], dim
        said = filter_reach(dim)
        assert (said is None) == (looked_at == set(Kind))
    assert "tomogram" in filter_reach("objects") and "multilabel segmentation" in filter_reach("objects")
