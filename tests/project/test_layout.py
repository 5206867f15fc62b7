"""The copick layout both ways: every entity kind <-> its path under a root."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from synctui.project.layout import (
    EntityRef,
    Kind,
    Unrecognised,
    entity_path,
    format_vs,
    parse_path,
    parse_vs,
    ref_problem,
)
from synctui.project.names import name_problem, run_name_problem

R = "ExperimentRuns/TS_001"

# (entity, its path, a member file inside it or "" for single-file entities)
EVERY_KIND = [
    (EntityRef(Kind.RUN_META, run="TS_001"), f"{R}/.meta", ""),
    (EntityRef(Kind.VS_META, run="TS_001", voxel_spacing=10.0),
     f"{R}/VoxelSpacing10.000/.meta", ""),
    (EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=10.0, tomo_type="wbp"),
     f"{R}/VoxelSpacing10.000/wbp.zarr", "0/0/0/0"),
    (EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=7.84, tomo_type="denoised"),
     f"{R}/VoxelSpacing7.840/denoised.zarr", "zarr.json"),
    (EntityRef(Kind.FEATURES, run="TS_001", voxel_spacing=10.0, tomo_type="wbp",
               feature_type="cellcanvas01"),
     f"{R}/VoxelSpacing10.000/wbp_cellcanvas01_features.zarr", ".zattrs"),
    (EntityRef(Kind.PICKS, run="TS_001", user="alice", session="1", name="ribosome"),
     f"{R}/Picks/alice_1_ribosome.json", ""),
    (EntityRef(Kind.FILAMENTS, run="TS_001", user="bob", session="0", name="actin"),
     f"{R}/Filaments/bob_0_actin.json", ""),
    (EntityRef(Kind.MESH, run="TS_001", user="membrain", session="7", name="membrane"),
     f"{R}/Meshes/membrain_7_membrane.glb", ""),
    (EntityRef(Kind.SEGMENTATION, run="TS_001", voxel_spacing=10.0, user="alice", session="1",
               name="membrane"),
     f"{R}/Segmentations/10.000_alice_1_membrane.zarr", "0/.zarray"),
    (EntityRef(Kind.MULTILABEL, run="TS_001", voxel_spacing=10.0, user="alice", session="1",
               name="organelles"),
     f"{R}/Segmentations/10.000_alice_1_organelles-multilabel.zarr", "0/1/2/3"),
    (EntityRef(Kind.INSTANCE, run="TS_001", voxel_spacing=13.48, user="cellpose", session="0",
               name="ribosome"),
     f"{R}/InstanceSegmentations/13.480_cellpose_0_ribosome.zarr", ".zgroup"),
    (EntityRef(Kind.PANOPTIC, run="TS_001", voxel_spacing=10.0, user="alice", session="2",
               name="cell"),
     f"{R}/PanopticSegmentations/10.000_alice_2_cell.zarr", "0/0/0/0/0"),
    (EntityRef(Kind.DENSITY_MAP, name="ribosome"), "Objects/ribosome.zarr", "0/0/0/0"),
]


@pytest.mark.parametrize(("ref", "path", "member"), EVERY_KIND, ids=[r.kind.value for r, _, _ in EVERY_KIND])
def test_every_kind_formats_and_parses(ref: EntityRef, path: str, member: str) -> None:
    assert entity_path(ref) == path
    assert ref.path == path
    assert ref_problem(ref) is None
    full = f"{path}/{member}" if member else path
    assert parse_path(full) == (ref, member)


def test_every_kind_is_covered() -> None:
    assert {ref.kind for ref, _, _ in EVERY_KIND} == set(Kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_kind_properties_agree(kind: Kind) -> None:
    ref = next(r for r, _, _ in EVERY_KIND if r.kind is kind)
    path = entity_path(ref)
    assert kind.is_zarr == path.endswith(".zarr")
    assert kind.is_meta == path.endswith("/.meta")
    assert kind.is_annotation == (path.endswith(".json") or path.endswith(".glb"))
    assert kind.is_segmentation == ("Segmentations/" in path)
    assert kind.label


def test_display_names() -> None:
    shown = {ref.kind: ref.display for ref, _, _ in EVERY_KIND}
    assert shown[Kind.PICKS] == "alice_1_ribosome"
    assert shown[Kind.MULTILABEL] == "10.000_alice_1_organelles-multilabel"
    assert shown[Kind.TOMOGRAM] in ("wbp @ 10.000", "denoised @ 7.840")
    assert shown[Kind.RUN_META] == ".meta"
    assert shown[Kind.VS_META] == "VoxelSpacing10.000/.meta"
    assert shown[Kind.DENSITY_MAP] == "ribosome"


def test_voxel_spacing_format() -> None:
    assert format_vs(10) == "10.000"
    assert format_vs(7.8399999) == "7.840"
    assert parse_vs("10.000") == 10.0
    for bad in ("abc", "0", "-1", "nan", "inf", ""):
        assert parse_vs(bad) is None


def test_voxel_spacing_folder_without_decimals_still_parses() -> None:
    ref, member = parse_path(f"{R}/VoxelSpacing10/wbp.zarr/.zattrs")  # type: ignore[misc]
    assert ref.voxel_spacing == 10.0 and member == ".zattrs"


# -- hidden and foreign files ---------------------------------------------------------

@pytest.mark.parametrize("path", [
    ".synctui/lock",
    ".DS_Store",
    "copick_config.json",
    "README.md",
    f"{R}/Picks/.DS_Store",
    f"{R}/Picks/.synctui-tmp-alice_1_ribosome.json.0123456789ab",
    "ExperimentRuns/.hidden/Picks/alice_1_ribosome.json",
    f"{R}/VoxelSpacing10.000/.wbp.zarr/0/0/0",
    f"{R}/VoxelSpacing10.000/wbp.zarr/.ipynb_checkpoints/x",
    "Objects/.trash/ribosome.zarr/.zattrs",
])
def test_hidden_and_foreign_files_are_ignored(path: str) -> None:
    assert parse_path(path) is None


@pytest.mark.parametrize("member", [".zarray", ".zattrs", ".zgroup", ".zmetadata", "0/.zarray",
                                    "0/.zattrs", "zarr.json", "0/zarr.json", "0/c/0/0/0"])
def test_zarr_metadata_inside_stores_is_kept(member: str) -> None:
    ref = EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=10.0, tomo_type="wbp")
    assert parse_path(f"{entity_path(ref)}/{member}") == (ref, member)


# -- what copick would not read --------------------------------------------------------

@pytest.mark.parametrize(("path", "where", "words"), [
    ("ExperimentRuns/stray.txt", "ExperimentRuns/stray.txt", "not a run"),
    (f"{R}/Notes/x.txt", f"{R}/Notes", "unknown folder 'Notes'"),
    (f"{R}/Picks/alice_ribosome.json", f"{R}/Picks/alice_ribosome.json", "<user>_<session>_<object>"),
    (f"{R}/Picks/alice_1_ribo_some.json", f"{R}/Picks/alice_1_ribo_some.json", "<user>_<session>_<object>"),
    (f"{R}/Picks/alice_1_ribosome.txt", f"{R}/Picks/alice_1_ribosome.txt", "end in .json"),
    (f"{R}/Picks/sub/alice_1_ribosome.json", f"{R}/Picks/sub", "not folders"),
    (f"{R}/Meshes/alice_1_ribosome.json", f"{R}/Meshes/alice_1_ribosome.json", "end in .glb"),
    (f"{R}/Picks/al:ce_1_ribosome.json", f"{R}/Picks/al:ce_1_ribosome.json", "user id"),
    (f"{R}/Picks/alice_1 2_ribosome.json", f"{R}/Picks/alice_1 2_ribosome.json", "session id"),
    (f"{R}/Picks/alice_1_ribo*.json", f"{R}/Picks/alice_1_ribo*.json", "object name"),
    (f"{R}/VoxelSpacingX/wbp.zarr/0", f"{R}/VoxelSpacingX", "does not name a voxel spacing"),
    (f"{R}/VoxelSpacing10.000", f"{R}/VoxelSpacing10.000", "must be a folder"),
    (f"{R}/VoxelSpacing10.000/wbp.mrc", f"{R}/VoxelSpacing10.000/wbp.mrc", "not a .zarr store"),
    (f"{R}/VoxelSpacing10.000/wbp.zarr", f"{R}/VoxelSpacing10.000/wbp.zarr", "must be a folder"),
    (f"{R}/VoxelSpacing10.000/my_features.zarr/0", f"{R}/VoxelSpacing10.000/my_features.zarr",
     "<tomo_type>_<feature_type>_features"),
    (f"{R}/VoxelSpacing10.000/wbpfeatures.zarr/0", f"{R}/VoxelSpacing10.000/wbpfeatures.zarr",
     "contains 'features'"),
    (f"{R}/VoxelSpacing10.000/w_b_p.zarr/0", f"{R}/VoxelSpacing10.000/w_b_p.zarr", "'_'"),
    (f"{R}/Segmentations/10.000_alice_membrane.zarr/0", f"{R}/Segmentations/10.000_alice_membrane.zarr",
     "<voxel_spacing>_<user>_<session>_<name>"),
    (f"{R}/Segmentations/ten_alice_1_membrane.zarr/0", f"{R}/Segmentations/ten_alice_1_membrane.zarr",
     "not a voxel spacing"),
    (f"{R}/InstanceSegmentations/10.000_a_1_x-multilabel.zarr/0",
     f"{R}/InstanceSegmentations/10.000_a_1_x-multilabel.zarr", "-multilabel"),
    ("ExperimentRuns/a:b/.meta", "ExperimentRuns/a:b/.meta", "run name"),
    (f"{R}/Segmentations", f"{R}/Segmentations", "must be a folder"),
    (f"{R}/InstanceSegmentations", f"{R}/InstanceSegmentations", "must be a folder"),
    (f"{R}/Picks", f"{R}/Picks", "must hold files"),
    (f"{R}/Segmentations/", f"{R}/Segmentations/", "not a .zarr store"),
    ("Objects/ribosome.mrc", "Objects/ribosome.mrc", "not a .zarr store"),
    ("Objects", "Objects", "must be a folder"),
    ("Objects/apo_ferritin.zarr/.zattrs", "Objects/apo_ferritin.zarr", "object name"),
])
def test_unrecognised_paths_say_why(path: str, where: str, words: str) -> None:
    result = parse_path(path)
    assert isinstance(result, Unrecognised), result
    assert result.path == where
    assert words in result.reason


def test_ref_problem_for_bad_refs() -> None:
    good = EntityRef(Kind.PICKS, run="TS_001", user="alice", session="1", name="ribosome")
    assert ref_problem(good.with_(name="apo_ferritin")) is not None
    assert ref_problem(good.with_(user=None)) == "user id must be a string, got NoneType"
    assert ref_problem(good.with_(run="../x")) is not None
    tomo = EntityRef(Kind.TOMOGRAM, run="r", voxel_spacing=10.0, tomo_type="wbp")
    assert "positive" in (ref_problem(tomo.with_(voxel_spacing=0)) or "")
    assert "features" in (ref_problem(tomo.with_(tomo_type="myfeatures")) or "")


@pytest.mark.parametrize("ref", [
    EntityRef(Kind.PICKS, run="r", user=".alice", session="1", name="ribosome"),
    EntityRef(Kind.TOMOGRAM, run="r", voxel_spacing=10.0, tomo_type=".wbp"),
    EntityRef(Kind.DENSITY_MAP, name=".ribosome"),
])
def test_refs_whose_file_would_be_hidden_are_invalid(ref: EntityRef) -> None:
    """A mapping to such a name would write a file no scan (ours or copick's) ever sees."""
    assert parse_path(entity_path(ref) + ("/.zattrs" if ref.kind.is_zarr else "")) is None
    assert "would hide it" in (ref_problem(ref) or "")
    # later in the name a '.' is harmless
    assert ref_problem(EntityRef(Kind.PICKS, run="r", user="a", session=".1", name=".x")) is None


# -- properties ------------------------------------------------------------------------

name_chars = st.characters(
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
    blacklist_characters='_<>:"/\\|?*',
).filter(lambda ch: not ch.isspace())
any_names = st.text(name_chars, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
# first in a file name, a leading '.' would hide the file: copick ignores hidden files
names = any_names.filter(lambda s: not s.startswith("."))
run_chars = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='/\\<>:"|?*')
runs = st.text(run_chars, min_size=1, max_size=12).filter(lambda s: not s.startswith("."))
spacings = st.integers(1, 10**6).map(lambda i: float(format_vs(i / 1000)))
seg_names = any_names.filter(lambda s: not s.endswith("-multilabel"))
tomo_types = names.filter(lambda s: "features" not in s)
member_parts = st.one_of(st.sampled_from([".zarray", ".zattrs", ".zgroup", "zarr.json", "c"]),
                         st.integers(0, 99).map(str))


@st.composite
def refs(draw: st.DrawFn) -> EntityRef:
    kind = draw(st.sampled_from(list(Kind)))
    run, vs = draw(runs), draw(spacings)
    user, session = draw(names), draw(any_names)
    if kind is Kind.RUN_META:
        return EntityRef(kind, run=run)
    if kind is Kind.VS_META:
        return EntityRef(kind, run=run, voxel_spacing=vs)
    if kind is Kind.TOMOGRAM:
        return EntityRef(kind, run=run, voxel_spacing=vs, tomo_type=draw(tomo_types))
    if kind is Kind.FEATURES:
        return EntityRef(kind, run=run, voxel_spacing=vs, tomo_type=draw(tomo_types),
                         feature_type=draw(any_names))
    if kind.is_annotation:
        return EntityRef(kind, run=run, user=user, session=session, name=draw(any_names))
    if kind is Kind.DENSITY_MAP:
        return EntityRef(kind, name=draw(names))
    user = draw(any_names)  # the voxel spacing comes first in segmentation file names
    name = draw(any_names if kind is Kind.MULTILABEL else seg_names)
    return EntityRef(kind, run=run, voxel_spacing=vs, user=user, session=session, name=name)


@given(refs(), st.lists(member_parts, min_size=1, max_size=5))
def test_entity_path_round_trips(ref: EntityRef, parts: list[str]) -> None:
    assert ref_problem(ref) is None
    member = "/".join(parts) if ref.kind.is_zarr else ""
    path = entity_path(ref) + (f"/{member}" if member else "")
    assert parse_path(path) == (ref, member)


path_words = st.sampled_from([
    "ExperimentRuns", "Objects", "TS_001", "VoxelSpacing10.000", "VoxelSpacing", "Picks",
    "Filaments", "Meshes", "Segmentations", "InstanceSegmentations", "PanopticSegmentations",
    ".meta", ".zarray", "wbp.zarr", "a_b_features.zarr", "a_1_b.json", "a_1_b.glb",
    "10.000_a_1_b.zarr", "10.000_a_1_b-multilabel.zarr", "x.zarr", "", ".", "..", "0",
])
word_lists = st.lists(st.one_of(path_words, st.text(max_size=8)), max_size=7).map("/".join)
any_paths = st.one_of(
    st.text(max_size=60),
    word_lists,
    word_lists.map(lambda rest: f"{R}/{rest}"),  # deep inside a run, where most rules are
)


@given(any_paths)
def test_parse_path_never_crashes(path: str) -> None:
    result = parse_path(path)
    if result is None:
        return
    if isinstance(result, Unrecognised):
        assert result.reason and "\n" not in result.reason
        assert path.startswith(result.path)
        return
    ref, member = result
    assert isinstance(ref, EntityRef) and isinstance(member, str)
    assert ref_problem(ref) is None  # whatever parses is something copick can hold
    assert ref.kind.is_zarr or member == ""


bad_names = st.one_of(
    st.tuples(names, st.sampled_from(["\t", "\x01", "\x7f", " ", "\u00a0", *'<>:"\\|?*']), names)
    .map("".join),
    st.just(""),
)
# an empty tomogram type makes ".zarr", a hidden folder copick ignores
bad_tomo_types = bad_names.filter(bool)


@given(bad_names, st.sampled_from(["user", "session", "object"]))
def test_invalid_annotation_names_are_unrecognised(bad: str, which: str) -> None:
    parts = {"user": "alice", "session": "1", "object": "ribosome"}
    parts[which] = bad
    path = f"{R}/Picks/{parts['user']}_{parts['session']}_{parts['object']}.json"
    result = parse_path(path)
    assert isinstance(result, Unrecognised)
    assert result.reason


@given(bad_tomo_types)
def test_invalid_tomogram_types_are_unrecognised(bad: str) -> None:
    assert name_problem(bad) is not None
    result = parse_path(f"{R}/VoxelSpacing10.000/{bad}.zarr/.zattrs")
    assert isinstance(result, Unrecognised) and result.reason


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12))
def test_run_names_parse_exactly_when_valid(run: str) -> None:
    assume("/" not in run)
    result = parse_path(f"ExperimentRuns/{run}/.meta")
    if run.startswith("."):  # hidden (also "." and ".."): ignored, or flagged for .zarray etc.
        assert result is None or isinstance(result, Unrecognised)
    elif run_name_problem(run) is None:
        assert result == (EntityRef(Kind.RUN_META, run=run), "")
    else:
        assert isinstance(result, Unrecognised) and result.reason
