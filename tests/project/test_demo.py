"""The demo projects: valid copick, readable by zarr/trimesh, deterministic, and
set up so that a sync source -> target shows every plan action."""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pytest

from synctui.errors import SyncTuiError
from synctui.project.catalog import open_project
from synctui.project.config import load_config
from synctui.project.demo import (
    EPOCH_NS,
    SOURCE_STRAY,
    TARGET_STRAY,
    DemoPaths,
    demo_paths,
    write_demo,
)
from synctui.project.layout import EntityRef, Kind, Unrecognised, parse_path

ROOTS = ("source_static", "source_overlay", "target_static", "target_overlay")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    start = time.monotonic()
    paths = write_demo(str(tmp_path_factory.mktemp("demo")))
    assert time.monotonic() - start < 10
    return paths


@pytest.fixture(scope="module")
def catalogs(demo: DemoPaths):
    return open_project(demo.source_config), open_project(demo.target_config)


def _files(root: str) -> list[str]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            out.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/"))
    return sorted(out)


def _snapshot(directory: str) -> dict[str, tuple[str, int]]:
    snap = {}
    for rel in _files(directory):
        full = os.path.join(directory, rel)
        with open(full, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        snap[rel] = (digest, os.stat(full).st_mtime_ns)
    return snap


def test_configs_and_rules(demo: DemoPaths) -> None:
    src, dst = load_config(demo.source_config), load_config(demo.target_config)
    for cfg, root in ((src, demo.source_root), (dst, demo.target_root)):
        assert cfg.raw["version"] == "0.5.0"
        assert cfg.raw["overlay_root"] == "local://" + os.path.join(root, "overlay")
        assert cfg.overlay.path == os.path.join(root, "overlay")
        assert cfg.static is not None and cfg.static.path == os.path.join(root, "static")
    assert src.object("ribosome").is_particle and src.object("ribosome").label == 1
    assert src.object("ribosome").pdb_id and src.object("ribosome").radius
    assert not src.object("membrane").is_particle and src.object("membrane").label == 2
    assert src.object("proteasome").label == 3 and src.object("apoferritin").label == 4
    assert "lab_notes" in dst.raw
    assert dst.object("ferritin") is not None and dst.object("apoferritin") is None
    assert dst.object("proteasome") is None
    with open(demo.rules_file, encoding="utf-8") as fh:
        rules = json.load(fh)
    assert rules == {"synctui_rules": 1, "include": {}, "exclude": {"users": ["bot"]}, "kinds": [],
                     "map": {"objects": {"apoferritin": "ferritin"}}, "overwrite": "if-changed",
                     "overwrite_by_kind": {"mesh": "never"}}


def test_every_path_parses(demo: DemoPaths) -> None:
    strays = {("source_overlay", SOURCE_STRAY), ("target_overlay", TARGET_STRAY)}
    for name in ROOTS:
        files = _files(getattr(demo, name))
        assert files, name
        for rel in files:
            parsed = parse_path(rel)
            if (name, rel) in strays:
                assert isinstance(parsed, Unrecognised), rel
            else:
                assert isinstance(parsed, tuple), (name, rel, parsed)


def test_size_and_mtimes(demo: DemoPaths) -> None:
    total = sum(os.path.getsize(os.path.join(demo.directory, rel)) for rel in _files(demo.directory))
    assert total < 25 * 2**20
    for rel in _files(demo.source_root):
        assert os.stat(os.path.join(demo.source_root, rel)).st_mtime_ns == EPOCH_NS, rel


def test_catalogs_find_every_kind(catalogs) -> None:
    source, target = catalogs
    assert {ref.kind for ref in source.entities} == set(Kind)
    assert source.runs == {"TS_001", "TS_002", "TS_003"}
    assert target.runs == {"TS_001", "TS_002"}
    assert [u.path for u in source.unrecognised] == [SOURCE_STRAY]
    assert [u.path for u in target.unrecognised] == [TARGET_STRAY]
    assert {ref.kind for ref in target.entities} >= {
        Kind.RUN_META, Kind.VS_META, Kind.TOMOGRAM, Kind.PICKS, Kind.MESH, Kind.SEGMENTATION,
        Kind.DENSITY_MAP}
    wbp = EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=10.0, tomo_type="wbp")
    assert source.entities[wbp].root == "static" and target.entities[wbp].root == "static"
    picks = EntityRef(Kind.PICKS, run="TS_001", user="alice", session="1", name="ribosome")
    assert source.entities[picks].root == "overlay"
    assert not source.shadowed and not target.shadowed


def _zarr_entities(catalog):
    return [e for e in catalog.entities.values() if e.ref.kind.is_zarr]


def test_tomograms_are_copick_v2_or_v3(catalogs) -> None:
    source, _ = catalogs
    tomos = [e for e in source.entities.values() if e.ref.kind is Kind.TOMOGRAM]
    assert len(tomos) == 4
    formats = set()
    for ent in tomos:
        root = source.stores[ent.root].root
        path = os.path.join(root, ent.path)
        if "zarr.json" in ent.files:
            formats.add(3)
            meta = json.load(open(os.path.join(path, "zarr.json")))
            assert meta["zarr_format"] == 3 and meta["attributes"]["ome"]["version"] == "0.5"
            arr = json.load(open(os.path.join(path, "0", "zarr.json")))
            assert "zstd" in json.dumps(arr["codecs"])
            continue
        formats.add(2)
        assert {".zgroup", ".zattrs", "0/.zarray", "0/0/0/0", "1/.zarray", "2/.zarray"} <= set(ent.files)
        ms = json.load(open(os.path.join(path, ".zattrs")))["multiscales"][0]
        assert ms["version"] == "0.4"
        assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
        assert all(a["unit"] == "angstrom" and a["type"] == "space" for a in ms["axes"])
        scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
        assert [d["path"] for d in ms["datasets"]] == ["0", "1", "2"]
        assert scales == [[10.0] * 3, [20.0] * 3, [40.0] * 3]
        zarray = json.load(open(os.path.join(path, "0", ".zarray")))
        assert zarray["dtype"] == "<f4" and zarray["dimension_separator"] == "/"
        assert zarray["compressor"]["id"] == "blosc" and zarray["compressor"]["cname"] == "lz4"
        assert sum(1 for m in ent.files if m.startswith("0/") and not m.endswith(".zarray")
                   and not m.endswith(".zattrs")) > 4
    assert formats == {2, 3}


def test_zarr_opens_every_store(catalogs) -> None:
    import zarr

    for catalog in catalogs:
        for ent in _zarr_entities(catalog):
            path = os.path.join(catalog.stores[ent.root].root, ent.path)
            group = zarr.open_group(path, mode="r")
            arrays = dict(group.arrays())
            assert "0" in arrays, ent.path
            data = arrays["0"][...]
            assert data.size and np.isfinite(data.astype(float)).all()
            if ent.ref.kind is Kind.FEATURES:
                assert data.ndim == 4 and data.dtype == np.float32
            elif ent.ref.kind is Kind.PANOPTIC:
                assert data.shape[0] == 2
            elif ent.ref.kind.is_segmentation:
                assert data.dtype == np.uint8 and data.max() > 0
            elif ent.ref.kind is Kind.TOMOGRAM:
                assert len(arrays) == 3 and data.dtype == np.float32


def test_multilabel_holds_object_labels(demo: DemoPaths) -> None:
    import zarr

    path = os.path.join(demo.source_overlay, "ExperimentRuns/TS_001/Segmentations/"
                        "10.000_alice_1_organelles-multilabel.zarr")
    values = set(np.unique(zarr.open_array(path, path="0", mode="r")[...]).tolist())
    assert values == {0, 1, 2, 4}  # background, ribosome, membrane, apoferritin


def test_stale_store_differs_in_one_chunk(demo: DemoPaths) -> None:
    import zarr

    rel = "ExperimentRuns/TS_002/VoxelSpacing10.000/wbp.zarr"
    src = zarr.open_array(os.path.join(demo.source_static, rel), path="0", mode="r")[...]
    dst = zarr.open_array(os.path.join(demo.target_overlay, rel), path="0", mode="r")[...]
    differs = np.argwhere(src != dst)
    assert differs.size and (differs < 32).all()  # only chunk 0/0/0/0
    src_keys = set(_files(os.path.join(demo.source_static, rel)))
    dst_keys = set(_files(os.path.join(demo.target_overlay, rel)))
    assert dst_keys - src_keys == {"0/2/0/0"}


def test_picks_and_filaments_are_copick_json(catalogs) -> None:
    source, _ = catalogs
    annotations = [e for e in source.entities.values() if e.ref.kind in (Kind.PICKS, Kind.FILAMENTS)]
    assert any(e.ref.kind is Kind.FILAMENTS for e in annotations)
    for ent in annotations:
        data = json.loads(source.stores[ent.root].read_bytes(ent.path))
        ref = ent.ref
        assert (data["pickable_object_name"], data["user_id"], data["session_id"], data["run_name"]) \
            == (ref.name, ref.user, ref.session, ref.run)
        assert data["unit"] == "angstrom"
        assert data["voxel_spacing"] == 10.0
        if ref.kind is Kind.FILAMENTS:  # copick's CopickFilamentsFile
            assert data["version"] == 1 and len(data["filaments"]) >= 1
            for fil in data["filaments"]:
                assert fil["instance_id"] >= 1 and len(fil["points"]) >= 2
                assert all(len(p) == 3 for p in fil["points"])
            continue
        assert data["trust_orientation"] is True
        for point in data["points"]:
            assert set(point["location"]) == {"x", "y", "z"}
            mat = np.array(point["transformation_"])
            assert mat.shape == (4, 4)
            rot = mat[:3, :3]
            np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
            assert np.linalg.det(rot) == pytest.approx(1.0)
            np.testing.assert_array_equal(mat[3], [0, 0, 0, 1])
            assert isinstance(point["instance_id"], int) and 0 <= point["score"] <= 1


def test_meshes_load_in_trimesh(catalogs) -> None:
    import io

    import trimesh

    for catalog in catalogs:
        meshes = [e for e in catalog.entities.values() if e.ref.kind is Kind.MESH]
        assert meshes
        for ent in meshes:
            raw = catalog.stores[ent.root].read_bytes(ent.path)
            mesh = trimesh.load(io.BytesIO(raw), file_type="glb", force="mesh")
            assert len(mesh.faces) > 0 and mesh.is_watertight


def test_rerun_is_byte_identical(tmp_path) -> None:
    write_demo(str(tmp_path))
    first = _snapshot(str(tmp_path))
    write_demo(str(tmp_path))
    assert _snapshot(str(tmp_path)) == first


def test_refuses_a_folder_that_is_not_a_demo(tmp_path) -> None:
    paths = demo_paths(str(tmp_path))
    os.makedirs(paths.source_root)
    keep = os.path.join(paths.source_root, "precious.txt")
    open(keep, "w").close()
    with pytest.raises(SyncTuiError, match="not a synctui demo"):
        write_demo(str(tmp_path))
    assert os.path.exists(keep)


def test_plan_shows_every_action(demo: DemoPaths, catalogs) -> None:
    """The scenario table in the demo's docstring, checked against the real planner."""
    plan_mod = pytest.importorskip("synctui.sync.plan")
    rules_mod = pytest.importorskip("synctui.sync.rules")
    source, target = catalogs
    plan = plan_mod.make_plan(source, target, rules_mod.RuleSet.load(demo.rules_file))
    assert {a.value for a in plan.actions_present()} == {
        "create", "update", "delete", "add-object", "conflict", "blocked", "exists", "excluded", "skip"}
    by_path = {e.source_path: e for e in plan.entities}
    run1, run2 = "ExperimentRuns/TS_001", "ExperimentRuns/TS_002"
    expect = {
        f"{run1}/Picks/alice_1_ribosome.json": "skip",
        f"{run1}/Picks/alice_1_apoferritin.json": "skip",
        f"{run1}/VoxelSpacing10.000/wbp.zarr": "skip",
        "Objects/ribosome.zarr": "skip",
        f"{run1}/Picks/bob_1_ribosome.json": "update",
        f"{run2}/VoxelSpacing10.000/wbp.zarr": "update",
        f"{run2}/Picks/alice_1_ribosome.json": "conflict",
        f"{run1}/VoxelSpacing10.000/denoised.zarr": "blocked",
        f"{run1}/Meshes/alice_1_ribosome.glb": "exists",
        f"{run1}/Picks/bot_0_ribosome.json": "excluded",
        f"{run2}/Picks/alice_1_apoferritin.json": "create",
        "ExperimentRuns/TS_003/VoxelSpacing10.000/wbp.zarr": "create",
    }
    assert {p: by_path[p].action.value for p in expect} == expect
    renamed = by_path[f"{run2}/Picks/alice_1_apoferritin.json"]
    assert renamed.target_path == f"{run2}/Picks/alice_1_ferritin.json"
    stale = by_path[f"{run2}/VoxelSpacing10.000/wbp.zarr"]
    assert sorted((f.action.value, f.target_path.rsplit(".zarr/", 1)[1]) for f in stale.files) == [
        ("delete", "0/2/0/0"), ("update", "0/0/0/0")]
    assert [o.name for o in plan.objects] == ["proteasome"]
