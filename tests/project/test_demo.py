"""The demo projects: valid copick, readable by zarr/trimesh, deterministic, and
set up so that a sync source -> target shows every plan action."""

from __future__ import annotations

import ctypes
import getpass
import glob
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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
# zarr warns on opening the copick 2 flavour's stores: copick 2 writes numcodecs.shuffle
pytestmark = pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3")


#: sha256 over every file of a demo folder: its path, bytes and mtime (see ``demo_digest``)
DIGESTS = {
    1: "908f6c94c10908f1934a45672950449961bcd9c81ece01cb0dc7f03a30bbf1ed",
    2: "f4042c38626c25d2204d641662b08ed110a70c781c0804c8772c1b8334c25aca",
}


@pytest.fixture(scope="module", params=[1, 2], ids=["copick1", "copick2"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    start = time.monotonic()
    paths = write_demo(str(tmp_path_factory.mktemp(f"demo{request.param}")), copick=request.param)
    assert time.monotonic() - start < 10
    return paths


@pytest.fixture(scope="module")
def copick(demo: DemoPaths) -> int:
    """The flavour of ``demo``: which copick's volume format it holds."""
    return 2 if "demo2" in os.path.basename(demo.directory) else 1


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


def demo_digest(directory: str) -> str:
    """One sha256 over every file below ``directory``: relative path, bytes, mtime.

    The configs name their roots by absolute path (copick resolves a relative root
    against the working directory, not the config), so the folder is replaced by a
    placeholder there; no other file may contain it.
    """
    h = hashlib.sha256()
    folder = os.path.abspath(directory).encode()
    for rel in _files(directory):
        full = os.path.join(directory, rel)
        with open(full, "rb") as fh:
            data = fh.read()
        if rel.endswith(".json") and "/" not in rel:
            data = data.replace(folder, b"<DEMO>")
        h.update(f"{rel}\0{len(data)}\0{os.stat(full).st_mtime_ns}\0".encode())
        h.update(data)
    return h.hexdigest()


#: OpenBLAS kernels to switch to: generic x86-64, then a newer x86-64, then 64-bit Arm
OTHER_KERNELS = ("Prescott", "Haswell", "ARMV8", "NeoverseN1")


def _openblas_core(python: str = sys.executable, env: dict[str, str] | None = None) -> str | None:
    """The OpenBLAS kernel numpy uses in ``python`` (None: numpy is not on OpenBLAS)."""
    out = subprocess.run([python, __file__, "--core"], capture_output=True, text=True, env=env,
                         timeout=60)
    return out.stdout.strip() or None


def _core_here() -> str:
    import numpy

    libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs",
                                  "*openblas*")) + glob.glob(os.path.join(
                                      os.path.dirname(numpy.__file__), ".dylibs", "*openblas*"))
    for lib in libs:
        dll = ctypes.CDLL(lib)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                     "openblas_get_corename64_", "openblas_get_corename"):
            func = getattr(dll, name, None)
            if func is not None:
                func.restype = ctypes.c_char_p
                return func().decode()
    return ""


def test_digest_is_the_same_on_every_machine(demo: DemoPaths, copick: int) -> None:
    """No BLAS, libm, clock, path, user or host reaches the bytes: one constant digest."""
    assert demo_digest(demo.directory) == DIGESTS[copick]


@pytest.mark.slow
def test_digest_with_another_blas_kernel(tmp_path: Path) -> None:
    """The same digests when OpenBLAS runs another CPU kernel (the issue: picks JSON
    differed in the last digit between machines)."""
    default = _openblas_core()
    if default is None:
        pytest.skip("numpy here does not use OpenBLAS")
    # the most generic kernels first (they run on any CPU of their family)
    for other in [k for k in OTHER_KERNELS if k.lower() != default.lower()]:
        env = dict(os.environ, OPENBLAS_CORETYPE=other)
        if _openblas_core(env=env) not in (None, default):
            break
    else:
        pytest.skip(f"this OpenBLAS ({default}) takes none of {', '.join(OTHER_KERNELS)}")
    out = subprocess.run([sys.executable, __file__, "--digest", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {str(k): v for k, v in DIGESTS.items()}


def test_data_files_name_no_path_user_or_host(demo: DemoPaths) -> None:
    """Text files only (JSON, zarr metadata, .meta): chunks are binary and may hold any bytes."""
    needles = {os.path.abspath(demo.directory).encode()}
    needles |= {n.encode() for n in (getpass.getuser(), socket.gethostname()) if len(n) > 3}
    text = (".json", ".zattrs", ".zarray", ".zgroup", ".meta", ".txt")
    for root in ROOTS:
        base = getattr(demo, root)
        for rel in (r for r in _files(base) if r.endswith(text)):
            with open(os.path.join(base, rel), "rb") as fh:
                data = fh.read()
            assert not [n for n in needles if n in data], rel


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
            if (name, rel) in strays or (name, rel.rsplit(".zarr/", 1)[0] + ".zarr") in strays:
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


def test_stores_are_one_copick_format(catalogs, copick: int) -> None:
    """copick 1.x reads zarr v2 only, and the copick 2 demo holds zarr v3 only."""
    for catalog in catalogs:
        for ent in _zarr_entities(catalog):
            v3 = "zarr.json" in ent.files
            assert v3 == (copick == 2), ent.path
            assert not any(m.endswith((".zarray", ".zgroup")) for m in ent.files) == v3, ent.path


def test_tomograms_are_copick_v2_or_v3(catalogs, copick: int) -> None:
    source, _ = catalogs
    tomos = [e for e in source.entities.values() if e.ref.kind is Kind.TOMOGRAM]
    assert len(tomos) == 4
    for ent in tomos:
        root = source.stores[ent.root].root
        path = os.path.join(root, ent.path)
        if copick == 2:  # as copick 2's write_ome_zarr: one shard per level, shuffle + zstd
            meta = json.load(open(os.path.join(path, "zarr.json")))
            assert meta["zarr_format"] == 3 and meta["attributes"]["ome"]["version"] == "0.5"
            ms = meta["attributes"]["ome"]["multiscales"][0]
            arr = json.load(open(os.path.join(path, "0", "zarr.json")))
            assert arr["chunk_key_encoding"] == {"name": "v2", "configuration": {"separator": "/"}}
            shard = arr["codecs"][0]
            assert shard["name"] == "sharding_indexed"
            assert shard["configuration"]["chunk_shape"] == [128, 128, 128]
            assert arr["chunk_grid"]["configuration"]["chunk_shape"] == [128, 128, 128]
            assert [c["name"] for c in shard["configuration"]["codecs"]] == [
                "bytes", "numcodecs.shuffle", "zstd"]
            assert {"0/0/0/0", "1/0/0/0", "2/0/0/0"} <= set(ent.files)
        else:
            assert {".zgroup", ".zattrs", "0/.zarray", "0/0/0/0", "1/.zarray", "2/.zarray"} <= set(ent.files)
            ms = json.load(open(os.path.join(path, ".zattrs")))["multiscales"][0]
            assert ms["version"] == "0.4"
            zarray = json.load(open(os.path.join(path, "0", ".zarray")))
            assert zarray["dtype"] == "<f4" and zarray["dimension_separator"] == "/"
            assert zarray["compressor"]["id"] == "blosc" and zarray["compressor"]["cname"] == "lz4"
            assert sum(1 for m in ent.files if m.startswith("0/") and not m.endswith(".zarray")
                       and not m.endswith(".zattrs")) > 4
        assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
        assert all(a["unit"] == "angstrom" and a["type"] == "space" for a in ms["axes"])
        scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
        assert [d["path"] for d in ms["datasets"]] == ["0", "1", "2"]
        assert scales == [[10.0] * 3, [20.0] * 3, [40.0] * 3]


def test_zarr_opens_every_store(catalogs, copick: int) -> None:
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
            elif ent.ref.kind is Kind.INSTANCE:  # copick 2 stores instance ids as uint16 or wider
                assert data.dtype == (np.uint8 if copick == 1 else np.uint16) and data.max() > 0
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


def test_cli_writes_the_copick_2_flavour(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "synctui", "demo", "--no-tui", "--copick", "2",
                          str(tmp_path / "d")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "source config:" in out.stdout and out.stderr == ""
    assert demo_digest(str(tmp_path / "d")) == DIGESTS[2]
    bad = subprocess.run([sys.executable, "-m", "synctui", "demo", "--no-tui", "--copick", "3",
                          str(tmp_path / "e")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert not (tmp_path / "e").exists()


def _main(argv: list[str]) -> int:
    """``--core``: print the OpenBLAS kernel; ``--digest DIR``: both flavours' digests."""
    if argv[:1] == ["--core"]:
        print(_core_here())
        return 0
    if argv[:1] == ["--digest"]:
        out = {}
        for flavour in (1, 2):
            folder = os.path.join(argv[1], f"demo{flavour}")
            write_demo(folder, copick=flavour)
            out[str(flavour)] = demo_digest(folder)
        print(json.dumps(out))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
