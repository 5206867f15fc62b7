"""Two small, realistic copick projects that show every sync decision at once.

``write_demo(directory, copick=1)`` writes::

    directory/source.json   directory/source/{static,overlay}/   (project "demo-source")
    directory/target.json   directory/target/{static,overlay}/   (project "demo-target")
    directory/rules.json    exclude user "bot", map object apoferritin -> ferritin,
                            overwrite "if-changed", but "never" for meshes

Everything is synthetic and the same bytes on every machine: fixed seeds, fixed
mtimes (every file is dated ``EPOCH_NS`` = 2026-01-01 00:00 UTC unless listed
below), no absolute path, user or host in a data file, and only arithmetic IEEE
rounds the same everywhere (rotations from integer quaternions, norms by
``math.sqrt``, polynomial bumps instead of ``exp``; no BLAS, no libm).  About 10 MB,
written in a few seconds.  Tomograms are 64x96x96 float32 at 10 Å: smooth blobs at
the true particle positions, a membrane sheet and noise.  As copick
does, tomograms live in the static roots and annotations in the overlays.

Syncing source -> target with ``rules.json`` gives these actions (paths below
``ExperimentRuns/``, ``VS`` = ``VoxelSpacing10.000``):

====================  =============================================================
action                entity (source -> target)
====================  =============================================================
skip (same)           TS_001 ``.meta``, ``VS/.meta``, ``VS/wbp.zarr`` (identical, in
                      the target's *static* root); TS_002 ``.meta``, ``VS/.meta``;
                      TS_001 ``Picks/alice_1_ribosome.json``;
                      TS_001 ``Segmentations/10.000_alice_1_membrane.zarr``;
                      ``Objects/ribosome.zarr`` (all byte-identical, same mtime)
skip (renamed same)   TS_001 ``Picks/alice_1_apoferritin.json`` -> the target's
                      ``alice_1_ferritin.json`` already holds the rewritten copy
create                all of TS_003 (metas, wbp, picks); TS_001
                      ``VS/wbp_sobel_features.zarr``,
                      ``Filaments/alice_1_microtubule.json``,
                      ``Segmentations/10.000_alice_1_organelles-multilabel.zarr``;
                      TS_002 ``Meshes/alice_1_ribosome.glb``,
                      ``InstanceSegmentations/10.000_alice_1_ribosome.zarr``,
                      ``PanopticSegmentations/10.000_alice_1_organelles.zarr``,
                      ``Picks/alice_1_proteasome.json``
create (renamed)      TS_002 ``Picks/alice_1_apoferritin.json`` -> ``alice_1_ferritin.json``
add-object            ``proteasome``: the target config lacks it (label 3 is free)
update                TS_001 ``Picks/bob_1_ribosome.json``: the target has bob's older
                      version (6 of 8 points, dated a day earlier)
update + delete       TS_002 ``VS/wbp.zarr`` in the target overlay: chunk ``0/0/0/0``
                      differs (older) and stale key ``0/2/0/0`` (from an earlier,
                      deeper reconstruction) is not in the source store
conflict              TS_002 ``Picks/alice_1_ribosome.json``: same size, one score
                      edited in the target a day *after* the source
blocked               TS_001 ``VS/denoised.zarr``: the target's *static*
                      root holds a different denoising, which an overlay copy
                      cannot shadow
exists                TS_001 ``Meshes/alice_1_ribosome.glb``: the target's older,
                      coarser mesh is kept because meshes are overwrite "never"
excluded              TS_001 ``Picks/bot_0_ribosome.json`` (user ``bot``)
extra (target only)   TS_001 ``Picks/carol_1_ribosome.json``
unrecognised          source ``TS_001/Picks/notes.txt`` (SOURCE_STRAY), target
                      ``TS_002/Segmentations/membrane-draft.zarr`` (TARGET_STRAY):
                      both skipped by copick 1.31 and 2 without failing (not
                      ``*.json``; not ``<vs>_<user>_<session>_<name>``)
====================  =============================================================

Formats: with ``copick=1`` (``synctui demo``) every store is zarr v2 as copick 1.x
writes it (``.zgroup``, ``.zattrs`` with OME-Zarr 0.4 ``multiscales``, Blosc-LZ4,
``/`` dimension separator, 32³ chunks); with ``copick=2`` (``synctui demo --copick 2``)
every store is zarr v3 as copick 2's ``write_ome_zarr`` writes it (``zarr.json``,
OME-Zarr 0.5 ``ome`` attribute, ``v2``/``/`` chunk keys, 128³ chunks in one shard
per level, shuffle + zstd for floats, zstd for labels, instance ids as uint16).  So
the ``wbp.zarr`` update is one chunk of 32³ (v2) or the one shard of level 0 (v3).
The target config carries an unknown key, ``lab_notes``, that a rewrite must keep.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from synctui.errors import SyncTuiError
from synctui.project.layout import EntityRef, Kind, entity_path

EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
DAY_NS = 86_400 * 10**9
OLDER_NS = EPOCH_NS - DAY_NS
NEWER_NS = EPOCH_NS + DAY_NS

VS = 10.0
SHAPE = (64, 96, 96)  # z, y, x voxels at VS
CHUNKS = (32, 32, 32)  # zarr v2 (copick 1.x): several chunks per level
V3_CHUNKS = (128, 128, 128)  # copick 2's default inner chunk; one shard per level
COPICK_VERSIONS = (1, 2)
RUNS = ("TS_001", "TS_002", "TS_003")
MARKER = ".synctui-demo"
SOURCE_STRAY = "ExperimentRuns/TS_001/Picks/notes.txt"
TARGET_STRAY = "ExperimentRuns/TS_002/Segmentations/membrane-draft.zarr"

RULES: dict[str, Any] = {
    "synctui_rules": 1,
    "include": {},
    "exclude": {"users": ["bot"]},
    "kinds": [],
    "map": {"objects": {"apoferritin": "ferritin"}},
    "overwrite": "if-changed",
    "overwrite_by_kind": {"mesh": "never"},
}

SOURCE_OBJECTS: list[dict[str, Any]] = [
    {"name": "ribosome", "is_particle": True, "label": 1, "color": [0, 117, 220, 255],
     "pdb_id": "6EK0", "identifier": "GO:0022626", "radius": 150.0, "map_threshold": 0.05},
    {"name": "membrane", "is_particle": False, "label": 2, "color": [255, 204, 153, 255],
     "identifier": "GO:0016020"},
    {"name": "proteasome", "is_particle": True, "label": 3, "color": [153, 63, 0, 255],
     "pdb_id": "5GJR", "identifier": "GO:0000502", "radius": 100.0},
    {"name": "apoferritin", "is_particle": True, "label": 4, "color": [76, 0, 92, 255],
     "pdb_id": "4V1W", "identifier": "GO:0070288", "radius": 60.0},
    {"name": "microtubule", "is_particle": True, "label": 5, "color": [25, 25, 25, 255],
     "identifier": "GO:0005874", "radius": 125.0,
     "metadata": {"copick": {"filament": {"polar": True, "helical_rise_a": 9.4}}}},
]
PARTICLES = {"ribosome": 12, "apoferritin": 8, "proteasome": 5}  # true particles per run
RADIUS = {o["name"]: o.get("radius") for o in SOURCE_OBJECTS}
LABEL = {o["name"]: o["label"] for o in SOURCE_OBJECTS}


@dataclass(frozen=True)
class DemoPaths:
    """Where ``write_demo`` put things (all absolute)."""

    directory: str
    source_config: str
    target_config: str
    rules_file: str
    source_root: str
    target_root: str
    source_static: str
    source_overlay: str
    target_static: str
    target_overlay: str


def demo_paths(directory: str) -> DemoPaths:
    d = os.path.abspath(directory)
    src, dst = os.path.join(d, "source"), os.path.join(d, "target")
    return DemoPaths(
        directory=d, source_config=os.path.join(d, "source.json"),
        target_config=os.path.join(d, "target.json"), rules_file=os.path.join(d, "rules.json"),
        source_root=src, target_root=dst,
        source_static=os.path.join(src, "static"), source_overlay=os.path.join(src, "overlay"),
        target_static=os.path.join(dst, "static"), target_overlay=os.path.join(dst, "overlay"))


def write_demo(directory: str, copick: int = 1) -> DemoPaths:
    """Write both demo projects, their configs and the rules file into ``directory``.

    ``copick`` picks the volume format: 1 writes zarr v2 stores only (copick 1.x reads
    them), 2 zarr v3 stores only, as copick 2 writes them.  Re-running replaces an
    earlier demo in the same folder byte for byte; a ``source``/``target`` folder that
    is not ours is refused rather than deleted.
    """
    if copick not in COPICK_VERSIONS:
        raise SyncTuiError(f"--copick must be one of {', '.join(map(str, COPICK_VERSIONS))}, "
                           f"not {copick}")
    paths = demo_paths(directory)
    _prepare(paths)
    world = _World(copick=copick)
    roots = {name: _Root(getattr(paths, name)) for name in
             ("source_static", "source_overlay", "target_static", "target_overlay")}
    _write_source(world, roots["source_static"], roots["source_overlay"])
    _write_target(world, roots)
    _write_configs(paths)
    for root in roots.values():
        root.settle_mtimes()
    for path in (paths.source_config, paths.target_config, paths.rules_file,
                 os.path.join(paths.directory, MARKER)):
        os.utime(path, ns=(EPOCH_NS, EPOCH_NS))
    return paths


def _prepare(paths: DemoPaths) -> None:
    """Clear an earlier demo; never touch folders the demo did not create."""
    marker = os.path.join(paths.directory, MARKER)
    ours = os.path.exists(marker)
    for root in (paths.source_root, paths.target_root):
        if os.path.lexists(root):
            if not ours:
                raise SyncTuiError(f"{root} already exists and is not a synctui demo; "
                                   "choose an empty folder")
            shutil.rmtree(root)
    os.makedirs(paths.directory, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as fh:
        fh.write("written by synctui.project.demo.write_demo\n")


# ---------------------------------------------------------------------------
# deterministic synthetic content


def _rng(*keys: object) -> np.random.Generator:
    """A generator seeded from names, so each piece is stable on its own."""
    return np.random.default_rng(zlib.crc32("/".join(map(str, keys)).encode()))


def _rotation(rng: np.random.Generator) -> list[list[float]]:
    """A random proper rotation from a small-integer quaternion, in exact arithmetic.

    Every entry is an integer over the quaternion's squared norm, rounded once by
    ``Fraction``: no BLAS, no libm, so the same bits on every machine (a unit
    quaternion normalised with ``np.linalg.norm`` differed in the last digit
    between OpenBLAS kernels).
    """
    while True:
        w, x, y, z = (int(v) for v in rng.integers(-6, 7, size=4))
        n2 = w * w + x * x + y * y + z * z
        if n2:
            break
    rows = [
        [w * w + x * x - y * y - z * z, 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), w * w - x * x + y * y - z * z, 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), w * w - x * x - y * y + z * z],
    ]
    return [[float(Fraction(v, n2)) for v in row] for row in rows]


def _transform(rot: list[list[float]]) -> list[list[float]]:
    """copick's ``transformation_``: a 4x4 with the rotation and no shift."""
    return [[*row, 0.0] for row in rot] + [[0.0, 0.0, 0.0, 1.0]]


def _norm(v: np.ndarray) -> float:
    """Euclidean length by correctly rounded float steps in a fixed order (not BLAS)."""
    return math.sqrt(sum(float(c) * float(c) for c in v))


def _bump(r2: np.ndarray, sigma: float) -> np.ndarray:
    """A gaussian-like bump, ``(1 - r²/(3σ)²)³`` inside ``3σ``: only +, -, * and /,
    which IEEE rounds the same everywhere (``np.exp`` varies with the CPU's SIMD)."""
    t = np.clip(1.0 - r2 / (9.0 * sigma * sigma), 0.0, None)
    return t * t * t


def _extent_a() -> np.ndarray:
    """Volume size in Å as (x, y, z)."""
    return np.array(SHAPE[::-1], dtype=float) * VS


@dataclass
class _World:
    """True particle positions (Å, x/y/z) and orientations of every run."""

    copick: int = 1  # which copick's volume format the demo writes
    particles: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    rotations: dict[str, dict[str, list[list[list[float]]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for run in RUNS:
            self.particles[run], self.rotations[run] = {}, {}
            for obj, n in PARTICLES.items():
                rng = _rng("particles", run, obj)
                margin = RADIUS[obj] or 50.0
                lo, hi = np.full(3, margin), _extent_a() - margin
                lo[2] = max(lo[2], 200.0)  # keep particles below the membrane sheet
                self.particles[run][obj] = np.round(rng.uniform(lo, hi, size=(n, 3)), 1)
                self.rotations[run][obj] = [_rotation(rng) for _ in range(n)]


def _membrane_z(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Height (voxels) of a gently tilted membrane sheet near the top of the volume."""
    return 8.0 + 0.04 * y + 0.02 * x


def _clean_density(world: _World, run: str) -> np.ndarray:
    """Noise-free density: bumps at the particles plus the membrane."""
    vol = np.zeros(SHAPE, dtype=np.float32)
    for obj, pts in world.particles[run].items():
        sigma = (RADIUS[obj] or 50.0) / VS / 2
        for x, y, z in pts / VS:
            _add_blob(vol, (z, y, x), sigma, 1.0)
    zz, yy, xx = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    dz = zz - _membrane_z(yy, xx)
    vol += (0.8 * _bump(dz * dz, 1.5)).astype(np.float32)
    return vol


def _add_blob(vol: np.ndarray, centre: tuple[float, ...], sigma: float, height: float) -> None:
    """Add a bump in a local box (fast: particles are small)."""
    box = []
    for c, n in zip(centre, vol.shape, strict=True):
        box.append(slice(max(0, int(c - 3 * sigma)), min(n, int(c + 3 * sigma) + 1)))
    grids = np.ogrid[tuple(box)]
    r2 = sum((g - c) * (g - c) for g, c in zip(grids, centre, strict=True))
    vol[tuple(box)] += (height * _bump(r2, sigma)).astype(np.float32)


def _quantise(vol: np.ndarray, step: float = 1 / 64) -> np.ndarray:
    """Round to a grid so the demo compresses to a few MB (real data would not)."""
    return (np.round(vol / step) * step).astype(np.float32)


def _noisy(clean: np.ndarray, sigma: float, *keys: object) -> np.ndarray:
    noise = _rng("noise", *keys).normal(0.0, sigma, clean.shape).astype(np.float32)
    return _quantise(clean + noise)


def _bin2(vol: np.ndarray) -> np.ndarray:
    z, y, x = (s // 2 for s in vol.shape)
    return vol[: 2 * z, : 2 * y, : 2 * x].reshape(z, 2, y, 2, x, 2).mean(axis=(1, 3, 5)).astype(vol.dtype)


def _pyramid(vol: np.ndarray, levels: int = 3) -> list[np.ndarray]:
    out = [vol]
    for _ in range(levels - 1):
        out.append(_bin2(out[-1]))
    return out


def _spheres(world: _World, run: str, obj: str, value_of: Callable[[int], int]) -> np.ndarray:
    """uint8 volume with a sphere per particle of ``obj``; ``value_of(i)`` is its voxel value."""
    out = np.zeros(SHAPE, dtype=np.uint8)
    r = 0.8 * (RADIUS[obj] or 50.0) / VS
    zz, yy, xx = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    for i, (x, y, z) in enumerate(world.particles[run][obj] / VS):
        out[(zz - z) * (zz - z) + (yy - y) * (yy - y) + (xx - x) * (xx - x) <= r * r] = value_of(i)
    return out


def _membrane_mask() -> np.ndarray:
    zz, yy, xx = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    return np.abs(zz - _membrane_z(yy, xx)) <= 2.0


# ---------------------------------------------------------------------------
# annotations


def _point(loc: np.ndarray, rot: list[list[float]], instance_id: int, score: float) -> dict[str, Any]:
    x, y, z = (round(float(v), 1) for v in loc)
    return {"location": {"x": x, "y": y, "z": z}, "transformation_": _transform(rot),
            "instance_id": instance_id, "score": score}


def _header(obj: str, user: str, session: str, run: str) -> dict[str, Any]:
    return {"pickable_object_name": obj, "user_id": user, "session_id": session,
            "run_name": run, "voxel_spacing": VS, "unit": "angstrom"}


def _picks(world: _World, run: str, obj: str, user: str, session: str, *,
           take: int | None = None, jitter: float = 5.0, extra: int = 0) -> dict[str, Any]:
    """A copick picks file: true positions (jittered), some false positives."""
    rng = _rng("picks", run, obj, user, session)
    pts, rots = world.particles[run][obj], world.rotations[run][obj]
    n = len(pts) if take is None else take
    points = []
    for i in range(n):
        loc = pts[i] + rng.normal(0, jitter, 3)
        points.append(_point(loc, rots[i], i + 1, round(float(rng.uniform(0.5, 0.99)), 2)))
    for j in range(extra):  # false positives, low score
        loc = rng.uniform(100, _extent_a() - 100)
        points.append(_point(loc, _rotation(rng), n + j + 1, round(float(rng.uniform(0.1, 0.4)), 2)))
    return {**_header(obj, user, session, run), "points": points, "trust_orientation": True}


def _filaments(run: str, obj: str, user: str, session: str) -> dict[str, Any]:
    """Two gently curved filaments sampled every 40 Å, in copick's filaments format
    (``instance_id`` >= 1, ``points`` as ``[x, y, z]`` lists, integer ``version``)."""
    rng = _rng("filaments", run, obj)
    filaments = []
    for f in range(2):
        start = rng.uniform([100, 100, 250], [300, 800, 500])
        direction = np.array([1.0, rng.uniform(-0.3, 0.3), rng.uniform(-0.1, 0.1)])
        direction /= _norm(direction)
        bend = np.array([0, 1.0, 0]) * rng.uniform(-0.004, 0.004)
        points, pos = [], start
        for i in range(12):
            tangent = direction + bend * i * 40
            points.append([round(float(c), 3) for c in pos])
            pos = pos + 40 * tangent / _norm(tangent)
        filaments.append({"instance_id": f + 1, "points": points, "polarity_known": False,
                          "score": 1.0, "radius": 125.0, "metadata": {}, "curve": None})
    return {**_header(obj, user, session, run), "version": 1, "filaments": filaments}


def _json_bytes(data: Any) -> bytes:
    """copick writes indented JSON; keep that shape."""
    return (json.dumps(data, indent=4) + "\n").encode("utf-8")


_ICOSAHEDRON_FACES = (
    (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
    (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
    (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1))


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    n = _norm(np.asarray(v))
    return (v[0] / n, v[1] / n, v[2] / n)


def _midpoint(verts: list[tuple[float, float, float]], middle: dict[tuple[int, int], int],
              a: int, b: int) -> int:
    """Index of the unit vertex between ``a`` and ``b``, made once per edge."""
    key = (min(a, b), max(a, b))
    if key not in middle:
        va, vb = verts[a], verts[b]
        verts.append(_unit(((va[0] + vb[0]) / 2, (va[1] + vb[1]) / 2, (va[2] + vb[2]) / 2)))
        middle[key] = len(verts) - 1
    return middle[key]


def _icosphere(subdivisions: int) -> tuple[list[tuple[float, float, float]], list[tuple[int, int, int]]]:
    """A unit icosphere (shared vertices, so watertight) in plain float arithmetic.

    Built here rather than by trimesh, whose normalisation goes through BLAS.
    """
    t = (1.0 + math.sqrt(5.0)) / 2.0
    verts = [_unit(v) for v in (
        (-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t),
        (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1))]
    faces = list(_ICOSAHEDRON_FACES)
    for _ in range(subdivisions):
        middle: dict[tuple[int, int], int] = {}
        new_faces = []
        for a, b, c in faces:
            ab, bc, ca = (_midpoint(verts, middle, p, q) for p, q in ((a, b), (b, c), (c, a)))
            new_faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new_faces
    return verts, faces


def _glb(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """A binary glTF 2.0 with one triangle mesh, written here so that the bytes do not
    depend on trimesh's exporter version (copick reads it with trimesh)."""
    import struct

    index_bin = np.ascontiguousarray(faces, dtype="<u4").tobytes()
    vertex_bin = np.ascontiguousarray(vertices, dtype="<f4").tobytes()
    v32 = vertices.astype(np.float32)
    gltf = {
        "asset": {"version": "2.0", "generator": "synctui demo"},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 1}, "indices": 0, "mode": 4}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5125, "type": "SCALAR", "count": int(faces.size),
             "min": [int(faces.min())], "max": [int(faces.max())]},
            {"bufferView": 1, "componentType": 5126, "type": "VEC3", "count": len(vertices),
             "min": [float(v) for v in v32.min(axis=0)], "max": [float(v) for v in v32.max(axis=0)]},
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(index_bin), "target": 34963},
            {"buffer": 0, "byteOffset": len(index_bin), "byteLength": len(vertex_bin),
             "target": 34962},
        ],
        "buffers": [{"byteLength": len(index_bin) + len(vertex_bin)}],
    }
    head = json.dumps(gltf, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 4)
    body = index_bin + vertex_bin
    body += b"\0" * (-len(body) % 4)
    total = 12 + 8 + len(head) + 8 + len(body)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(head), b"JSON")
            + head + struct.pack("<I4s", len(body), b"BIN\0") + body)


def _mesh_glb(world: _World, run: str, obj: str, subdivisions: int) -> bytes:
    """Icospheres at the particles of ``obj``, as binary glTF (coordinates in Å)."""
    r = 0.8 * (RADIUS[obj] or 50.0)
    unit, tris = _icosphere(subdivisions)
    sphere, faces = np.array(unit) * r, np.array(tris, dtype=np.int64)
    centres = world.particles[run][obj]
    vertices = np.concatenate([sphere + c for c in centres])
    indices = np.concatenate([faces + i * len(sphere) for i in range(len(centres))])
    return _glb(vertices, indices)


# ---------------------------------------------------------------------------
# volumes


def _multiscales(name: str, n_levels: int, axes: list[dict[str, str]]) -> dict[str, Any]:
    spatial = sum(1 for a in axes if a.get("type") == "space")
    datasets = []
    for i in range(n_levels):
        scale = [1.0] * (len(axes) - spatial) + [VS * 2**i] * spatial
        datasets.append({"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    return {"name": name, "axes": axes, "datasets": datasets}


_ZYX = [{"name": n, "type": "space", "unit": "angstrom"} for n in "zyx"]
_CZYX = [{"name": "c", "type": "channel"}, *_ZYX]


def _blosc() -> Any:
    import numcodecs

    return numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)


def write_ome_v2(path: str, levels: list[np.ndarray], name: str, *,
                 axes: list[dict[str, str]] | None = None,
                 chunks: tuple[int, ...] = CHUNKS) -> None:
    """An OME-Zarr 0.4 multiscale group as copick 1.x writes it (zarr v2)."""
    import zarr

    axes = axes or _ZYX
    attrs = {"multiscales": [{"version": "0.4", **_multiscales(name, len(levels), axes)}]}
    group = zarr.create_group(zarr.storage.LocalStore(path), zarr_format=2, attributes=attrs,
                              overwrite=True)
    for i, data in enumerate(levels):
        group.create_array(str(i), data=data, chunks=chunks, compressors=_blosc(), fill_value=0,
                           chunk_key_encoding={"name": "v2", "separator": "/"},
                           config={"write_empty_chunks": True})


def write_ome_v3(path: str, levels: list[np.ndarray], name: str, *,
                 axes: list[dict[str, str]] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
    """An OME-Zarr 0.5 multiscale group as copick 2's ``write_ome_zarr`` writes it: zarr v3,
    128³ inner chunks (one per channel), one chunk-aligned shard per level, ``v2``/``/``
    chunk keys, shuffle + zstd(3) for floats and zstd(3) for labels."""
    import zarr
    from zarr.codecs import ZstdCodec

    axes = axes or _ZYX
    ms = _multiscales(name, len(levels), axes)
    multiscale: dict[str, Any] = {"datasets": ms["datasets"], "name": "/", "axes": axes}
    if metadata is not None:
        multiscale["metadata"] = metadata
    attrs = {"ome": {"version": "0.5", "multiscales": [multiscale]}}
    group = zarr.create_group(zarr.storage.LocalStore(path), zarr_format=3, attributes=attrs,
                              overwrite=True)
    for i, data in enumerate(levels):
        chunks = (1,) * (data.ndim - 3) + V3_CHUNKS
        shards = tuple(c * -(-n // c) for n, c in zip(data.shape, chunks, strict=True))
        with _quiet_zarr():
            compressors: tuple[Any, ...] = (ZstdCodec(level=3),)
            if data.dtype.kind == "f":
                from zarr.codecs import Shuffle

                compressors = (Shuffle(elementsize=data.dtype.itemsize), *compressors)
            group.create_array(str(i), data=data, chunks=chunks, shards=shards,
                               compressors=compressors,
                               chunk_key_encoding={"name": "v2", "separator": "/"},
                               dimension_names=[a["name"] for a in axes])


@contextlib.contextmanager
def _quiet_zarr() -> Iterator[None]:
    """zarr warns that ``numcodecs.shuffle`` is not in the v3 spec; copick 2 uses it anyway."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")
        yield


def _features_axes(copick: int) -> list[dict[str, str]]:
    """copick 1.x calls the leading axis of a feature map a channel, copick 2 a ``feature``."""
    return _CZYX if copick == 1 else [{"name": "feature"}, *_ZYX]


def _write_volume(world: _World, path: str, levels: list[np.ndarray], name: str, *,
                  axes: list[dict[str, str]] | None = None,
                  metadata: dict[str, Any] | None = None) -> None:
    """One OME-Zarr store in the format of the demo's copick version."""
    if world.copick == 1:
        lead = levels[0].shape[:-3]
        write_ome_v2(path, levels, name, axes=axes, chunks=(*lead, *CHUNKS))
    else:
        write_ome_v3(path, levels, name, axes=axes, metadata=metadata)


# ---------------------------------------------------------------------------
# roots


class _Root:
    """One project root being written; remembers which files get a non-default mtime."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.mtimes: dict[str, int] = {}
        os.makedirs(path, exist_ok=True)

    def abs(self, rel: str) -> str:
        return os.path.join(self.path, *rel.split("/"))

    def write(self, rel: str, data: bytes, mtime_ns: int | None = None) -> str:
        full = self.abs(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(data)
        if mtime_ns is not None:
            self.mtimes[full] = mtime_ns
        return full

    def date(self, rel: str, mtime_ns: int) -> None:
        """Give a file written by someone else (zarr) a non-default mtime."""
        self.mtimes[self.abs(rel)] = mtime_ns

    def store(self, ref: EntityRef) -> str:
        """Absolute path of a zarr entity (created by the zarr writer)."""
        full = self.abs(entity_path(ref))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def copy_from(self, other: _Root, rel: str) -> None:
        """Copy a file or a whole store byte for byte (mtimes settle to EPOCH later)."""
        src, dst = other.abs(rel), self.abs(rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)

    def settle_mtimes(self) -> None:
        """Give every file and folder its fixed mtime, so plans are deterministic."""
        for dirpath, _dirs, files in os.walk(self.path, topdown=False):
            for name in files:
                full = os.path.join(dirpath, name)
                when = self.mtimes.get(full, EPOCH_NS)
                os.utime(full, ns=(when, when))
            os.utime(dirpath, ns=(EPOCH_NS, EPOCH_NS))


def _ref(kind: Kind, run: str | None = None, **fields: Any) -> EntityRef:
    if kind in (Kind.VS_META, Kind.TOMOGRAM, Kind.FEATURES) or kind.is_segmentation:
        fields.setdefault("voxel_spacing", VS)
    return EntityRef(kind, run=run, **fields)


def _tomo(run: str, tomo_type: str) -> EntityRef:
    return _ref(Kind.TOMOGRAM, run, tomo_type=tomo_type)


def _ann(kind: Kind, run: str, user: str, session: str, name: str) -> str:
    return entity_path(EntityRef(kind, run=run, user=user, session=session, name=name))


def _write_source(world: _World, static: _Root, overlay: _Root) -> None:
    for run in RUNS:
        _write_static_run(world, static, run)
    _write_extras(world, static)
    _write_source_annotations(world, overlay)
    overlay.write(SOURCE_STRAY, b"TS_001: re-pick the ribosomes near the membrane\n")


def _write_static_run(world: _World, static: _Root, run: str) -> None:
    """Metas and the wbp tomogram of one run (zarr v2, three levels)."""
    static.write(entity_path(_ref(Kind.RUN_META, run)), b"meta")
    static.write(entity_path(_ref(Kind.VS_META, run)), b"meta")
    clean = _clean_density(world, run)
    _write_volume(world, static.store(_tomo(run, "wbp")),
                  _pyramid(_noisy(clean, 0.25, run, "wbp")), "wbp")


def _write_extras(world: _World, static: _Root) -> None:
    """TS_001's denoised (zarr v3) tomogram and sobel features; the ribosome density map."""
    clean = _clean_density(world, "TS_001")
    _write_volume(world, static.store(_tomo("TS_001", "denoised")),
                  _pyramid(_noisy(clean, 0.03, "TS_001", "denoised")), "denoised")
    features = _quantise(np.stack(np.gradient(clean)).astype(np.float32), 1 / 32)
    ref = _ref(Kind.FEATURES, "TS_001", tomo_type="wbp", feature_type="sobel")
    _write_volume(world, static.store(ref), [features], "wbp_sobel_features",
                  axes=_features_axes(world.copick))
    template = np.zeros((32, 32, 32), dtype=np.float32)
    _add_blob(template, (16, 16, 14), 5.0, 1.0)  # large subunit
    _add_blob(template, (16, 16, 21), 3.5, 0.7)  # small subunit
    _write_volume(world, static.store(_ref(Kind.DENSITY_MAP, name="ribosome")),
                  [_quantise(template)], "ribosome")


def _write_source_annotations(world: _World, overlay: _Root) -> None:
    for run in RUNS:
        overlay.write(_ann(Kind.PICKS, run, "alice", "1", "ribosome"),
                      _json_bytes(_picks(world, run, "ribosome", "alice", "1")))
    for run in ("TS_001", "TS_002"):
        overlay.write(_ann(Kind.PICKS, run, "alice", "1", "apoferritin"),
                      _json_bytes(_picks(world, run, "apoferritin", "alice", "1")))
        overlay.write(_ann(Kind.MESH, run, "alice", "1", "ribosome"),
                      _mesh_glb(world, run, "ribosome", subdivisions=2))
    overlay.write(_ann(Kind.PICKS, "TS_002", "alice", "1", "proteasome"),
                  _json_bytes(_picks(world, "TS_002", "proteasome", "alice", "1")))
    overlay.write(_ann(Kind.PICKS, "TS_001", "bob", "1", "ribosome"),
                  _json_bytes(_picks(world, "TS_001", "ribosome", "bob", "1", take=8, jitter=8.0)))
    overlay.write(_ann(Kind.PICKS, "TS_001", "bot", "0", "ribosome"),
                  _json_bytes(_picks(world, "TS_001", "ribosome", "bot", "0", jitter=12.0, extra=3)))
    overlay.write(_ann(Kind.FILAMENTS, "TS_001", "alice", "1", "microtubule"),
                  _json_bytes(_filaments("TS_001", "microtubule", "alice", "1")))
    _write_segmentations(world, overlay)


def _write_segmentations(world: _World, overlay: _Root) -> None:
    """Binary, multilabel, instance and panoptic segmentations (one level; uint8, but
    instance ids as uint16 for copick 2, whose writer never picks a smaller type for them)."""
    seg = _ref(Kind.SEGMENTATION, "TS_001", user="alice", session="1", name="membrane")
    _write_volume(world, overlay.store(seg), [_membrane_mask().astype(np.uint8)], "membrane")
    labels = np.where(_membrane_mask(), LABEL["membrane"], 0).astype(np.uint8)
    for obj in ("ribosome", "apoferritin"):
        spheres = _spheres(world, "TS_001", obj, lambda _i, o=obj: LABEL[o])
        labels = np.where(spheres > 0, spheres, labels)
    multi = _ref(Kind.MULTILABEL, "TS_001", user="alice", session="1", name="organelles")
    _write_volume(world, overlay.store(multi), [labels], "organelles-multilabel")
    ids = np.uint8 if world.copick == 1 else np.uint16
    instances = _spheres(world, "TS_002", "ribosome", lambda i: i + 1).astype(ids)  # = pick ids
    inst = _ref(Kind.INSTANCE, "TS_002", user="alice", session="1", name="ribosome")
    _write_volume(world, overlay.store(inst), [instances], "ribosome")
    semantic = np.where(instances > 0, LABEL["ribosome"], 0).astype(ids)
    pan = _ref(Kind.PANOPTIC, "TS_002", user="alice", session="1", name="organelles")
    _write_volume(world, overlay.store(pan), [np.stack([semantic, instances])], "organelles",
                  axes=_CZYX, metadata={"copick": {"segmentation_type": "panoptic",
                                                   "channels": ["label", "instance"]}})


# ---------------------------------------------------------------------------
# the target: partly in sync, partly not (see the module docstring)


def _write_target(world: _World, roots: dict[str, _Root]) -> None:
    src_static, src_overlay = roots["source_static"], roots["source_overlay"]
    static, overlay = roots["target_static"], roots["target_overlay"]
    # same: identical bytes, and the same (EPOCH) mtimes once settled
    for rel in (entity_path(_ref(Kind.RUN_META, "TS_001")), entity_path(_ref(Kind.VS_META, "TS_001")),
                entity_path(_tomo("TS_001", "wbp"))):
        static.copy_from(src_static, rel)
    for rel in (entity_path(_ref(Kind.RUN_META, "TS_002")), entity_path(_ref(Kind.VS_META, "TS_002")),
                entity_path(_ref(Kind.DENSITY_MAP, name="ribosome"))):
        overlay.copy_from(src_static, rel)
    overlay.copy_from(src_overlay, _ann(Kind.PICKS, "TS_001", "alice", "1", "ribosome"))
    overlay.copy_from(src_overlay, entity_path(
        _ref(Kind.SEGMENTATION, "TS_001", user="alice", session="1", name="membrane")))
    _write_target_changes(world, src_static, src_overlay, static, overlay)


def _write_target_changes(world: _World, src_static: _Root, src_overlay: _Root,
                          static: _Root, overlay: _Root) -> None:
    # renamed, same: what mapping apoferritin -> ferritin would write
    apo = json.loads(_read(src_overlay, _ann(Kind.PICKS, "TS_001", "alice", "1", "apoferritin")))
    apo["pickable_object_name"] = "ferritin"
    overlay.write(_ann(Kind.PICKS, "TS_001", "alice", "1", "ferritin"), _json_bytes(apo))
    # update: bob's older version, 6 of his 8 points, a day older
    overlay.write(_ann(Kind.PICKS, "TS_001", "bob", "1", "ribosome"),
                  _json_bytes(_picks(world, "TS_001", "ribosome", "bob", "1", take=6, jitter=8.0)),
                  OLDER_NS)
    # conflict: same size, one score edited in the target after the source was written
    rel = _ann(Kind.PICKS, "TS_002", "alice", "1", "ribosome")
    overlay.write(rel, _same_size_edit(_read(src_overlay, rel)), NEWER_NS)
    # extra: only the target has carol's picks
    overlay.write(_ann(Kind.PICKS, "TS_001", "carol", "1", "ribosome"),
                  _json_bytes(_picks(world, "TS_001", "ribosome", "carol", "1", take=10)),
                  EPOCH_NS + 3 * DAY_NS)
    # exists: an older, coarser mesh (meshes are overwrite "never")
    overlay.write(_ann(Kind.MESH, "TS_001", "alice", "1", "ribosome"),
                  _mesh_glb(world, "TS_001", "ribosome", subdivisions=1), OLDER_NS)
    _write_stale_store(world, src_static, overlay)
    # blocked: a different denoising of TS_001 in the target's read-only static root
    den = _tomo("TS_001", "denoised")
    clean = _clean_density(world, "TS_001")
    _write_volume(world, static.store(den),
                  _pyramid(_noisy(clean, 0.03, "TS_001", "denoised-v0")), "denoised")
    # unrecognised: a segmentation saved by hand under a name copick skips (not 4 parts)
    _write_volume(world, overlay.abs(TARGET_STRAY), [_membrane_mask().astype(np.uint8)],
                  "membrane draft")


def _read(root: _Root, rel: str) -> bytes:
    with open(root.abs(rel), "rb") as fh:
        return fh.read()


def _same_size_edit(raw: bytes) -> bytes:
    """Change the first point's score s to 1.5 - s: a real edit of identical size.

    Scores have two decimals in [0.5, 0.99], so s and 1.5 - s print with as many
    characters; an equal size makes the planner look at mtimes (newer: conflict).
    """
    data = json.loads(raw)
    point = data["points"][0]
    point["score"] = round(1.5 - point["score"], 2)
    out = _json_bytes(data)
    if len(out) != len(raw):
        raise RuntimeError("demo conflict edit changed the file size")
    return out


def _write_stale_store(world: _World, src_static: _Root, overlay: _Root) -> None:
    """TS_002's wbp in the target overlay: chunk (v3: shard) 0/0/0/0 differs, and an
    extra, stale key 0/2/0/0 is left from an earlier, deeper reconstruction."""
    import zarr

    rel = entity_path(_tomo("TS_002", "wbp"))
    overlay.copy_from(src_static, rel)
    with _quiet_zarr():
        level0 = zarr.open_array(zarr.storage.LocalStore(overlay.abs(rel)), path="0", mode="r+")
        chunk = np.ascontiguousarray(level0[:32, :32, :32])
        _add_blob(chunk, (16, 16, 16), 1.5, 3.0)  # a gold bead the source's reconstruction erased
        level0[:32, :32, :32] = _quantise(chunk)
    overlay.date(f"{rel}/0/0/0/0", OLDER_NS)
    overlay.write(f"{rel}/0/2/0/0", _read(src_static, f"{rel}/0/0/0/0"), OLDER_NS)


# ---------------------------------------------------------------------------
# configs and rules


def _config(name: str, description: str, user: str, objects: list[dict[str, Any]],
            root: str) -> dict[str, Any]:
    return {
        "config_type": "filesystem",
        "name": name,
        "description": description,
        "version": "0.5.0",
        "pickable_objects": objects,
        "user_id": user,
        "overlay_root": "local://" + os.path.join(root, "overlay"),
        "static_root": "local://" + os.path.join(root, "static"),
        "overlay_fs_args": {"auto_mkdir": True},
    }


def _target_objects() -> list[dict[str, Any]]:
    """The target knows apoferritin as ferritin and has never heard of proteasome."""
    out = []
    for obj in copy.deepcopy(SOURCE_OBJECTS):
        if obj["name"] == "proteasome":
            continue
        if obj["name"] == "apoferritin":
            obj["name"] = "ferritin"
        out.append(obj)
    return out


def _write_configs(paths: DemoPaths) -> None:
    source = _config("demo-source", "synctui demo: the workstation project (alice, bob, bot)",
                     "alice", copy.deepcopy(SOURCE_OBJECTS), paths.source_root)
    target = _config("demo-target", "synctui demo: the shared project on the cluster", "carol",
                     _target_objects(), paths.target_root)
    target["lab_notes"] = "TS_002 wbp re-reconstructed in December; ask carol before deleting picks"
    for path, data in ((paths.source_config, source), (paths.target_config, target),
                       (paths.rules_file, RULES)):
        with open(path, "wb") as fh:
            fh.write(_json_bytes(data))


__all__ = ["DemoPaths", "demo_paths", "write_demo", "write_ome_v2", "write_ome_v3", "EPOCH_NS",
           "COPICK_VERSIONS",
           "SOURCE_STRAY", "TARGET_STRAY", "RULES", "SOURCE_OBJECTS"]
