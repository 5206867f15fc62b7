"""Inspection: sensible fields for every kind, and damaged data reported, never raised."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from synctui.format import human_bytes
from synctui.project.catalog import Entity, build_entities, open_project
from synctui.project.config import load_config
from synctui.project.demo import DemoPaths, write_demo, write_ome_v2
from synctui.project.inspect import Inspection, inspect_config, inspect_entity
from synctui.project.layout import EntityRef, Kind
from synctui.storage.local import LocalStore

RUN1 = "ExperimentRuns/TS_001"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    return write_demo(str(tmp_path_factory.mktemp("demo")))


@pytest.fixture(scope="module")
def source(demo: DemoPaths):
    return open_project(demo.source_config)


@pytest.fixture(scope="module")
def source_v3(tmp_path_factory: pytest.TempPathFactory):
    """The copick 2 demo's source: zarr v3 stores only."""
    return open_project(write_demo(str(tmp_path_factory.mktemp("demo2")), copick=2).source_config)


def _inspect(catalog, ref: EntityRef) -> Inspection:
    ent = catalog.entities[ref]
    insp = inspect_entity(catalog.store_for(ent), ent)
    assert insp.error is None, insp.error
    return insp


def test_every_demo_entity_inspects_cleanly(source, source_v3) -> None:
    for ent, catalog in [(e, c) for c in (source, source_v3) for e in c.entities.values()]:
        insp = inspect_entity(catalog.store_for(ent), ent)
        assert insp.error is None, (ent.path, insp.error)
        assert insp.kind == ent.ref.kind and insp.title
        assert insp.get("Path") == ent.path
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in insp.fields)


def test_v2_tomogram(source) -> None:
    insp = _inspect(source, EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=10.0, tomo_type="wbp"))
    assert insp.get("Format") == "zarr v2 group (OME-Zarr 0.4)"
    assert insp.get("Levels") == "3"
    assert insp.get("Voxel size") == "10.000 Å"
    assert insp.get("Level voxel sizes") == "10, 20, 40 Å"
    assert insp.get("Level 0") == "64 × 96 × 96 float32, chunks 32 × 32 × 32, separator '/'"
    assert "lz4" in insp.get("Compression")
    assert insp.get("Root") == "static (read-only)"


def test_v3_tomogram(source_v3) -> None:
    insp = _inspect(source_v3, EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=10.0,
                                      tomo_type="denoised"))
    assert insp.get("Format") == "zarr v3 group (OME-Zarr 0.5)"
    assert insp.get("Levels") == "3"
    assert "in shards" in insp.get("Level 0")
    assert "zstd" in insp.get("Codecs")
    assert insp.get("Voxel size") == "10.000 Å"


def test_features_and_segmentations(source) -> None:
    feat = _inspect(source, EntityRef(Kind.FEATURES, run="TS_001", voxel_spacing=10.0,
                                      tomo_type="wbp", feature_type="sobel"))
    assert feat.get("Level 0").startswith("3 × 64 × 96 × 96 float32")
    assert feat.get("Axes") == "c, z, y, x (angstrom)"
    seg = _inspect(source, EntityRef(Kind.MULTILABEL, run="TS_001", voxel_spacing=10.0,
                                     user="alice", session="1", name="organelles"))
    assert seg.get("Levels") == "1" and "uint8" in seg.get("Level 0")
    assert seg.title == "TS_001 / 10.000_alice_1_organelles-multilabel"
    dmap = _inspect(source, EntityRef(Kind.DENSITY_MAP, name="ribosome"))
    assert dmap.title == "Objects / ribosome"


def test_picks(source) -> None:
    insp = _inspect(source, EntityRef(Kind.PICKS, run="TS_001", user="bot", session="0",
                                      name="ribosome"))
    assert insp.get("Points") == "15"
    assert (insp.get("User"), insp.get("Session"), insp.get("Object")) == ("bot", "0", "ribosome")
    assert insp.get("Unit") == "angstrom" and insp.get("Trust orientation") == "yes"
    low, high = (float(v) for v in insp.get("Score").split(" – "))
    assert 0 < low < high <= 1
    assert insp.get("Name check") is None


def test_filaments_mesh_meta(source) -> None:
    fil = _inspect(source, EntityRef(Kind.FILAMENTS, run="TS_001", user="alice", session="1",
                                     name="microtubule"))
    assert fil.get("Filaments") == "2" and fil.get("Points") == "24"
    mesh = _inspect(source, EntityRef(Kind.MESH, run="TS_001", user="alice", session="1",
                                      name="ribosome"))
    assert int(mesh.get("Vertices").replace(",", "")) > 0
    assert int(mesh.get("Faces").replace(",", "")) > 0
    assert mesh.get("Watertight") == "yes" and mesh.get("Bounds")
    meta = _inspect(source, EntityRef(Kind.RUN_META, run="TS_001"))
    assert meta.get("Content") == "'meta'" and meta.get("Note") is None


def test_inspect_config(demo: DemoPaths) -> None:
    insp = inspect_config(load_config(demo.target_config))
    assert insp.error is None and insp.kind == "config"
    assert insp.get("Name") == "demo-target"
    assert insp.get("Objects").startswith("4 ")
    assert "ferritin (4)" in insp.get("Object names")
    assert insp.get("Other keys (kept)") == "lab_notes"
    assert insp.get("Static root") == os.path.join(demo.target_root, "static")
    bare = inspect_config(load_config({"overlay_root": "/tmp/x", "pickable_objects": []}))
    assert bare.error is None and bare.get("Static root").startswith("none")


def test_human_bytes() -> None:
    assert human_bytes(0) == "0 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 2**30) == "5.0 GiB"
    assert human_bytes(3 * 2**40) == "3.0 TiB"


# ---------------------------------------------------------------------------
# damaged data


def _entity(root: str, ref: EntityRef) -> tuple[LocalStore, Entity]:
    store = LocalStore(root)
    entities, _runs, _unknown = build_entities(store.scan(), "overlay")
    return store, entities[ref]


def _write(root: str, rel: str, data: bytes) -> None:
    full = os.path.join(root, rel)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as fh:
        fh.write(data)


PICKS = EntityRef(Kind.PICKS, run="TS_001", user="alice", session="1", name="ribosome")
MESH = EntityRef(Kind.MESH, run="TS_001", user="alice", session="1", name="ribosome")
TOMO = EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=10.0, tomo_type="wbp")


@pytest.mark.parametrize("data, reason", [
    (b'{"points": [', "malformed JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"[1, 2, 3]", "must be a JSON object"),
    (b'{"points": {"a": 1}}', "points must be a list"),
    (b'{"points": [{"score": 1}]}', "no location"),
    (b'{"points": [{"location": {"x": 1, "y": 2, "z": 3}, "transformation_": "eye"}]}',
     "not a 4×4 matrix"),
])
def test_bad_picks_give_error(tmp_path, data: bytes, reason: str) -> None:
    _write(str(tmp_path), PICKS.path, data)
    insp = inspect_entity(*_entity(str(tmp_path), PICKS))
    assert insp.error is not None and reason in insp.error
    assert "\n" not in insp.error
    assert insp.get("Path") == PICKS.path  # the common fields are still there


def test_picks_whose_names_disagree_with_the_file(tmp_path) -> None:
    body = {"pickable_object_name": "ferritin", "user_id": "alice", "session_id": "1",
            "points": []}
    _write(str(tmp_path), PICKS.path, json.dumps(body).encode())
    insp = inspect_entity(*_entity(str(tmp_path), PICKS))
    assert insp.error is None
    assert "ferritin" in insp.get("Name check") and insp.get("Points") == "0"


def test_bad_filaments_give_error(tmp_path) -> None:
    ref = EntityRef(Kind.FILAMENTS, run="TS_001", user="alice", session="1", name="microtubule")
    _write(str(tmp_path), ref.path, b'{"filaments": [{"instance_id": 1, "points": [[1, 2]]}]}')
    insp = inspect_entity(*_entity(str(tmp_path), ref))
    assert insp.error is not None and "filaments[0]" in insp.error


def test_truncated_glb_gives_error(tmp_path, source) -> None:
    ent = source.entities[MESH]
    raw = source.store_for(ent).read_bytes(ent.path)
    for broken in (raw[: len(raw) // 2], raw[:20], b"", b"not a mesh at all"):
        _write(str(tmp_path), MESH.path, broken)
        insp = inspect_entity(*_entity(str(tmp_path), MESH))
        assert insp.error is not None, len(broken)
        assert "\n" not in insp.error


def _copy_tomogram(source, root: str) -> str:
    ent = source.entities[TOMO]
    dst = os.path.join(root, TOMO.path)
    shutil.copytree(os.path.join(source.store_for(ent).root, ent.path), dst)
    return dst


def test_zarr_missing_level_metadata(tmp_path, source) -> None:
    store_dir = _copy_tomogram(source, str(tmp_path))
    os.unlink(os.path.join(store_dir, "1", ".zarray"))
    insp = inspect_entity(*_entity(str(tmp_path), TOMO))
    assert insp.error == "1/.zarray is missing"
    assert insp.get("Level 0")  # what could be read is still shown


def test_zarr_without_any_metadata(tmp_path, source) -> None:
    store_dir = _copy_tomogram(source, str(tmp_path))
    for name in (".zgroup", ".zattrs"):
        os.unlink(os.path.join(store_dir, name))
    insp = inspect_entity(*_entity(str(tmp_path), TOMO))
    assert insp.error is not None and "no zarr metadata" in insp.error


def test_zarr_with_corrupt_attrs(tmp_path, source) -> None:
    store_dir = _copy_tomogram(source, str(tmp_path))
    _write(store_dir, ".zattrs", b'{"multiscales": [')
    insp = inspect_entity(*_entity(str(tmp_path), TOMO))
    assert insp.error is not None and insp.error.startswith(".zattrs: malformed JSON")


def test_zarr_v3_with_bad_zarr_json(tmp_path, source_v3) -> None:
    ref = EntityRef(Kind.TOMOGRAM, run="TS_001", voxel_spacing=10.0, tomo_type="denoised")
    ent = source_v3.entities[ref]
    dst = os.path.join(str(tmp_path), ref.path)
    shutil.copytree(os.path.join(source_v3.store_for(ent).root, ent.path), dst)
    _write(dst, "0/zarr.json", b'{"zarr_format": 3, "node_type": "array"}')
    insp = inspect_entity(*_entity(str(tmp_path), ref))
    assert insp.error is not None and "lacks shape" in insp.error


def test_group_without_multiscales_lists_its_arrays(tmp_path, source) -> None:
    store_dir = _copy_tomogram(source, str(tmp_path))
    _write(store_dir, ".zattrs", b"{}")
    insp = inspect_entity(*_entity(str(tmp_path), TOMO))
    assert insp.error is None
    assert insp.get("Format") == "zarr v2 group" and insp.get("Levels") == "3"
    assert insp.get("Voxel size") is None


def test_root_array_features(tmp_path) -> None:
    """Some copick tools write features as a bare array at the store root."""
    import numpy as np
    import zarr

    ref = EntityRef(Kind.FEATURES, run="TS_001", voxel_spacing=10.0, tomo_type="wbp",
                    feature_type="dino")
    zarr.create_array(zarr.storage.LocalStore(os.path.join(str(tmp_path), ref.path)),
                      data=np.zeros((4, 8, 8, 8), dtype="float32"), chunks=(4, 8, 8, 8),
                      zarr_format=2)
    insp = inspect_entity(*_entity(str(tmp_path), ref))
    assert insp.error is None
    assert insp.get("Format") == "zarr v2 array"
    assert insp.get("Array").startswith("4 × 8 × 8 × 8 float32")


def test_file_gone_since_the_scan(tmp_path) -> None:
    _write(str(tmp_path), PICKS.path, b'{"points": []}')
    store, ent = _entity(str(tmp_path), PICKS)
    os.unlink(os.path.join(str(tmp_path), PICKS.path))
    insp = inspect_entity(store, ent)
    assert insp.error is not None and "no longer exists" in insp.error


def test_odd_meta_is_noted_not_an_error(tmp_path) -> None:
    ref = EntityRef(Kind.RUN_META, run="TS_001")
    _write(str(tmp_path), ref.path, b"something else")
    insp = inspect_entity(*_entity(str(tmp_path), ref))
    assert insp.error is None and insp.get("Note")


def test_ome_v2_writer_roundtrip(tmp_path) -> None:
    import numpy as np
    import zarr

    data = np.arange(64 * 64 * 64, dtype="float32").reshape(64, 64, 64)
    write_ome_v2(str(tmp_path / "t.zarr"), [data], "t")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t.zarr"), path="0", mode="r")[...],
                                  data)
