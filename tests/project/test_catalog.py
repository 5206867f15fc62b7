"""What a project holds, as copick sees it: overlay + static, entities made of files."""

from __future__ import annotations

from pathlib import Path

import pytest

from synctui.errors import StoreError
from synctui.project.catalog import build_entities, open_project
from synctui.project.layout import EntityRef, Kind
from synctui.storage.base import FileInfo

R1, R2, R3 = "ExperimentRuns/TS_001", "ExperimentRuns/TS_002", "ExperimentRuns/TS_003"
TOMO = "VoxelSpacing10.000/wbp.zarr"
PICKS = "Picks/alice_1_ribosome.json"


def picks_ref(run: str) -> EntityRef:
    return EntityRef(Kind.PICKS, run=run, user="alice", session="1", name="ribosome")


def tomo_ref(run: str) -> EntityRef:
    return EntityRef(Kind.TOMOGRAM, run=run, voxel_spacing=10.0, tomo_type="wbp")


def test_overlay_and_static_merge(make_project, tmp_path: Path) -> None:
    config = make_project(
        {
            f"{R1}/{PICKS}": b'{"overlay": 1}',  # also in static: hidden by it
            f"{R1}/Picks/bob_2_ribosome.json": b"{}",
            f"{R2}/.meta": b"meta",
        },
        static={
            f"{R1}/.meta": b"meta",
            f"{R1}/{PICKS}": b'{"static": true}',
            f"{R1}/{TOMO}/.zattrs": b"{}",
            f"{R3}/.meta": b"meta",
        },
    )
    (tmp_path / "project/overlay/ExperimentRuns/TS_004").mkdir()  # an empty run still counts
    cat = open_project(str(config))
    assert cat.runs == {"TS_001", "TS_002", "TS_003", "TS_004"}

    ribo = cat.entities[picks_ref("TS_001")]
    assert ribo.root == "static" and ribo.read_only  # static wins
    assert cat.store_for(ribo).read_bytes(ribo.path) == b'{"static": true}'
    assert cat.shadowed == [picks_ref("TS_001")]  # the overlay copy copick cannot see

    bob = cat.entities[picks_ref("TS_001").with_(user="bob", session="2")]
    assert bob.root == "overlay" and not bob.read_only
    assert cat.entities[tomo_ref("TS_001")].read_only
    assert cat.entities[EntityRef(Kind.RUN_META, run="TS_002")].root == "overlay"
    assert cat.entities[EntityRef(Kind.RUN_META, run="TS_003")].root == "static"
    assert len(cat.entities) == 6
    assert cat.unrecognised == []


def test_zarr_store_is_one_entity_of_many_files(make_project) -> None:
    members = {".zattrs": b'{"multiscales": []}', ".zgroup": b'{"zarr_format": 2}',
               "0/.zarray": b"{}", "0/0/0/0": b"\x00" * 100, "0/0/0/1": b"\x01" * 50,
               "1/.zarray": b"{}", "1/0/0/0": b"\x02" * 10}
    config = make_project({f"{R1}/{TOMO}/{m}": data for m, data in members.items()}
                          | {f"{R1}/{PICKS}": b"[]"})
    cat = open_project(str(config))
    tomo = cat.entities[tomo_ref("TS_001")]
    assert set(tomo.files) == set(members)
    assert tomo.size == sum(len(d) for d in members.values())
    assert tomo.file_path("0/0/0/1") == f"{R1}/{TOMO}/0/0/0/1"
    assert tomo.mtime_ns == max(f.mtime_ns for f in tomo.files.values())
    picks = cat.entities[picks_ref("TS_001")]
    assert list(picks.files) == [""] and picks.file_path("") == f"{R1}/{PICKS}"
    assert cat.file_count == len(members) + 1
    assert cat.total_bytes == tomo.size + 2
    assert [e.ref.kind for e in cat.by_run()["TS_001"]] == [Kind.PICKS, Kind.TOMOGRAM]


def test_unrecognised_entries_are_listed_with_reasons(make_project) -> None:
    config = make_project({
        f"{R1}/{PICKS}": b"[]",
        f"{R1}/Picks/alice_ribosome.json": b"[]",
        f"{R1}/Notes/todo.txt": b"",
        f"{R1}/Notes/more.txt": b"",
        f"{R1}/Segmentations/10.000_a_1_b_c.zarr/.zattrs": b"{}",
        f"{R1}/Segmentations/10.000_a_1_b_c.zarr/0/0/0/0": b"",
        "ExperimentRuns/TS:bad/.meta": b"meta",
        f"{R1}/Picks/.DS_Store": b"",  # hidden: not even unrecognised
        "README.md": b"not copick's business",
    })
    cat = open_project(str(config))
    reasons = {u.path: u.reason for u in cat.unrecognised}
    assert set(reasons) == {f"{R1}/Picks/alice_ribosome.json", f"{R1}/Notes",
                            f"{R1}/Segmentations/10.000_a_1_b_c.zarr", "ExperimentRuns/TS:bad/.meta"}
    assert "<user>_<session>_<object>" in reasons[f"{R1}/Picks/alice_ribosome.json"]
    assert "unknown folder 'Notes'" in reasons[f"{R1}/Notes"]
    assert "forbidden" in reasons["ExperimentRuns/TS:bad/.meta"]
    assert list(cat.entities) == [picks_ref("TS_001")]


def test_missing_overlay_root_is_an_empty_project(make_project, tmp_path: Path) -> None:
    config = make_project()
    (tmp_path / "project/overlay").rmdir()
    cat = open_project(str(config))
    assert cat.entities == {} and cat.runs == set() and cat.unrecognised == []
    assert cat.file_count == 0 and cat.total_bytes == 0 and cat.by_run() == {}


def test_missing_static_root_is_a_clear_error(make_project, tmp_path: Path) -> None:
    config = make_project({f"{R1}/.meta": b"meta"}, static={})
    (tmp_path / "project/static").rmdir()
    with pytest.raises(StoreError) as info:
        open_project(str(config))
    assert str(tmp_path / "project/static") in str(info.value)
    assert "does not exist" in str(info.value)


def test_open_project_accepts_a_loaded_config(make_project) -> None:
    from synctui.project.config import load_config

    cfg = load_config(make_project({f"{R1}/.meta": b"meta"}))
    cat = open_project(cfg)
    assert cat.config is cfg and set(cat.stores) == {"overlay"}


def test_build_entities_is_pure() -> None:
    listing = [
        FileInfo("ExperimentRuns", 0, 1, kind="dir"),
        FileInfo("ExperimentRuns/TS_009", 0, 1, kind="dir"),
        FileInfo("ExperimentRuns/.trash", 0, 1, kind="dir"),
        FileInfo(f"{R1}/{TOMO}/.zarray", 10, 5),
        FileInfo(f"{R1}/{TOMO}/0/0/0", 20, 7),
        FileInfo("Objects/ribosome.zarr/.zattrs", 3, 2),
    ]
    entities, runs, unknown = build_entities(listing, "overlay")
    assert runs == {"TS_001", "TS_009"}
    assert unknown == []
    tomo = entities[tomo_ref("TS_001")]
    assert tomo.size == 30 and tomo.mtime_ns == 7 and tomo.root == "overlay"
    assert entities[EntityRef(Kind.DENSITY_MAP, name="ribosome")].files[".zattrs"].size == 3


def test_temps_are_found_in_both_shapes_and_user_files_are_not_temps() -> None:
    """Visible temps (made where the server hides dotfiles) are temps even inside a zarr
    store; a user's file merely named like one is not."""
    listing = [
        FileInfo(f"{R1}/{TOMO}/.zarray", 10, 5),
        FileInfo(f"{R1}/{TOMO}/0/0/0", 20, 7),
        FileInfo(f"{R1}/{TOMO}/0/0/synctui-tmp-1.0123456789ab", 20, 7),
        FileInfo(f"{R1}/Picks/.synctui-tmp-a_1_ribosome.json.0123456789ab", 5, 7),
        FileInfo(f"{R1}/Picks/synctui-tmp-a_1_ribosome.json.fedcba987654", 5, 7),
        FileInfo(f"{R1}/synctui-tmp-notes.txt", 5, 7),
    ]
    temps: list[str] = []
    entities, _, unknown = build_entities(listing, "overlay", temps)
    assert sorted(temps) == sorted(f.path for f in listing[2:5])
    assert set(entities[tomo_ref("TS_001")].files) == {".zarray", "0/0/0"}
    assert [u.path for u in unknown] == [f"{R1}/synctui-tmp-notes.txt"]


def test_a_bundle_joins_its_store_and_a_stray_one_is_taken_file_by_file() -> None:
    """A zarr store's bundle becomes its entity's keys, parsed only when asked for; a
    bundle of a folder that is no entity's store is listed as its files one by one."""
    from sync_helpers import find_record

    from synctui.storage.bundle import FileBundle

    store = "ExperimentRuns/TS_1/VoxelSpacing10.000/wbp.zarr"
    chunks = [FileInfo(f"{store}/0/0/{i}", 10 + i, 1_700_000_000_000_000_000 + i) for i in range(3)]
    stray = "ExperimentRuns/TS_1/notes/x.zarr"
    listing = [FileBundle(store, [find_record(f) for f in chunks]),
               FileInfo(f"{store}/.zarray", 2, 5),
               FileBundle(stray, [find_record(FileInfo(f"{stray}/0", 1, 1))])]
    entities, runs, unknown = build_entities(listing, "overlay")
    ent = entities[EntityRef(Kind.TOMOGRAM, run="TS_1", voxel_spacing=10.0, tomo_type="wbp")]
    assert ent.file_count == 4 and ent.bundle is not None and list(ent.listed) == [".zarray"]
    assert ent.files == {".zarray": FileInfo(f"{store}/.zarray", 2, 5),
                         **{f.path[len(store) + 1:]: f for f in chunks}}
    assert runs == {"TS_1"}
    one_by_one = build_entities([FileInfo(f"{stray}/0", 1, 1)], "overlay")
    assert len(entities) == 1 and unknown == one_by_one[2] and unknown
