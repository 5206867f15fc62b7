"""What an entity holds, as label/value pairs a UI can show without knowing copick.

Zarr stores are described from their metadata JSON (``.zarray``/``.zattrs``/
``zarr.json``) read through the store, so inspecting a remote tomogram costs a
few small reads and never imports zarr.  Meshes need trimesh, imported only
when a mesh is inspected.  Damaged data never raises: the Inspection comes
back with ``error`` set to a one-line reason and whatever fields were read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from synctui.errors import SyncTuiError
from synctui.format import human_bytes, score
from synctui.project.catalog import Entity
from synctui.project.config import ProjectConfig
from synctui.project.layout import Kind, format_vs
from synctui.storage.base import Store

_META_NAMES = frozenset({".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"})
_CONFIG_KEYS = frozenset({
    "config_type", "name", "description", "version", "pickable_objects", "user_id", "session_id",
    "overlay_root", "static_root", "overlay_fs_args", "static_fs_args", "runs", "voxel_spacings",
    "tomograms"})


@dataclass
class Inspection:
    """A human-readable description of one entity (or config)."""

    kind: str
    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None

    def add(self, label: str, value: object) -> None:
        self.fields.append((label, value if isinstance(value, str) else str(value)))

    def get(self, label: str) -> str | None:
        """The first value shown under ``label`` (handy for tests and summaries)."""
        return next((v for k, v in self.fields if k == label), None)


class _Bad(Exception):
    """Data that is not what its kind promises; the message is shown as is."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, (_Bad, SyncTuiError)):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def inspect_entity(store: Store, entity: Entity) -> Inspection:
    """Describe ``entity`` (read through ``store``); never raises."""
    ref = entity.ref
    insp = Inspection(kind=ref.kind, title=_title(entity))
    try:
        _common(insp, entity)
        _INSPECTORS.get(ref.kind, _inspect_zarr)(insp, store, entity)
    except Exception as exc:  # noqa: BLE001 - damaged data is reported, not raised
        insp.error = _one_line(exc)
    return insp


def _title(entity: Entity) -> str:
    ref = entity.ref
    if ref.kind is Kind.DENSITY_MAP:
        return f"Objects / {ref.name}"
    if ref.kind is Kind.RUN_META:
        return f"{ref.run} / run .meta"
    return f"{ref.run} / {ref.display}"


def _common(insp: Inspection, entity: Entity) -> None:
    insp.add("Kind", entity.ref.kind.label)
    insp.add("Path", entity.path)
    insp.add("Root", "static (read-only)" if entity.read_only else "overlay")
    if entity.ref.kind.is_zarr:
        insp.add("Files", f"{len(entity.files):,}")
    insp.add("Size", human_bytes(entity.size))
    if entity.mtime_ns:
        when = datetime.fromtimestamp(entity.mtime_ns / 1e9, UTC)
        insp.add("Modified", when.strftime("%Y-%m-%d %H:%M:%S UTC"))


def _read_json(store: Store, entity: Entity, member: str = "") -> Any:
    """Parse one member as JSON, turning every failure into a short reason."""
    where = member or entity.path.rsplit("/", 1)[-1]
    if member and member not in entity.files:
        raise _Bad(f"{member} is missing")
    raw = store.read_bytes(entity.file_path(member))
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise _Bad(f"{where} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _Bad(f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


# ---------------------------------------------------------------------------
# single files


def _inspect_meta(insp: Inspection, store: Store, entity: Entity) -> None:
    raw = store.read_bytes(entity.file_path(""))
    text = raw.decode("utf-8", "replace")
    shown = text if len(text) <= 60 else text[:57] + "..."
    insp.add("Content", repr(shown))
    if raw.strip() != b"meta":
        insp.add("Note", "copick writes the text 'meta' here; other content is kept as is")


def _dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Bad(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def _header_fields(insp: Inspection, data: dict[str, Any], entity: Entity) -> None:
    ref = entity.ref
    insp.add("Object", data.get("pickable_object_name", "—"))
    insp.add("User", data.get("user_id", "—"))
    insp.add("Session", data.get("session_id", "—"))
    run = data.get("run_name")
    insp.add("Run", "— (not recorded)" if run is None else run)
    vs = data.get("voxel_spacing")
    insp.add("Voxel spacing", "— (not recorded)" if vs is None else _fmt_num(vs, " Å"))
    insp.add("Unit", data.get("unit", "angstrom"))
    insp.add("Trust orientation", _yes_no(data.get("trust_orientation", True)))
    mismatches = [f"{key} {data[key]!r} (file name says {want!r})"
                  for key, want in (("pickable_object_name", ref.name), ("user_id", ref.user),
                                    ("session_id", ref.session))
                  if key in data and data[key] != want]
    if mismatches:
        insp.add("Name check", "; ".join(mismatches))


def _point_list(points: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(points, list):
        raise _Bad(f"{what} must be a list, got {type(points).__name__}")
    for i, p in enumerate(points):
        if not isinstance(p, dict) or not isinstance(p.get("location"), dict):
            raise _Bad(f"{what}[{i}] has no location {{x, y, z}}")
    return points


def _inspect_picks(insp: Inspection, store: Store, entity: Entity) -> None:
    data = _dict(_read_json(store, entity), "a picks file")
    _header_fields(insp, data, entity)
    points = _point_list(data.get("points", []), "points")
    insp.add("Points", f"{len(points):,}")
    _point_stats(insp, points)


def _point_stats(insp: Inspection, points: list[dict[str, Any]]) -> None:
    scores = [p["score"] for p in points if isinstance(p.get("score"), (int, float))]
    if scores:
        low, high = min(scores), max(scores)
        insp.add("Score", score(low) if low == high else f"{score(low)} – {score(high)}")
    ids = {p.get("instance_id", 0) for p in points}
    if points:
        insp.add("Instance ids", f"{len(ids):,} distinct")
        rotated = sum(1 for p in points if not _is_identity(p.get("transformation_")))
        insp.add("Orientations", f"{rotated:,} of {len(points):,} rotated")
        insp.add("Extent", _extent([p["location"] for p in points]))


def _is_identity(mat: Any) -> bool:
    if mat is None:
        return True
    try:
        return all(abs(float(mat[i][j]) - (i == j)) < 1e-9 for i in range(4) for j in range(4))
    except (TypeError, ValueError, IndexError, KeyError):
        raise _Bad("a transformation_ is not a 4×4 matrix of numbers") from None


def _extent(locations: Iterable[dict[str, Any]]) -> str:
    locs = list(locations)
    parts = []
    for axis in "xyz":
        values = [float(loc.get(axis, 0.0)) for loc in locs]
        parts.append(f"{axis} {min(values):.0f}–{max(values):.0f}")
    return ", ".join(parts) + " Å"


def _inspect_filaments(insp: Inspection, store: Store, entity: Entity) -> None:
    data = _dict(_read_json(store, entity), "a filaments file")
    _header_fields(insp, data, entity)
    if "version" in data:
        insp.add("Format version", data["version"])
    filaments = data.get("filaments", [])
    if not isinstance(filaments, list):
        raise _Bad(f"filaments must be a list, got {type(filaments).__name__}")
    # copick: each filament is {instance_id, points: [[x, y, z], ...], polarity_known, score, radius}
    locations: list[dict[str, float]] = []
    for i, fil in enumerate(filaments):
        pts = fil.get("points") if isinstance(fil, dict) else None
        if not isinstance(pts, list):
            raise _Bad(f"filaments[{i}] has no points list")
        for j, pt in enumerate(pts):
            if not (isinstance(pt, (list, tuple)) and len(pt) == 3
                    and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in pt)):
                raise _Bad(f"filaments[{i}].points[{j}] is not [x, y, z]")
            locations.append({"x": pt[0], "y": pt[1], "z": pt[2]})
    insp.add("Filaments", f"{len(filaments):,}")
    insp.add("Points", f"{len(locations):,}")
    if locations:
        insp.add("Extent", _extent(locations))


def _inspect_mesh(insp: Inspection, store: Store, entity: Entity) -> None:
    import trimesh  # about 0.3 s: only when someone looks at a mesh

    raw = store.read_bytes(entity.file_path(""))
    if len(raw) < 12 or raw[:4] != b"glTF":
        raise _Bad("not a binary glTF file (no 'glTF' header)")
    try:
        mesh = trimesh.load(io.BytesIO(raw), file_type="glb", force="mesh")
    except Exception as exc:  # noqa: BLE001 - trimesh raises many types on bad input
        raise _Bad(f"cannot read the mesh: {_one_line(exc)}") from None
    if not hasattr(mesh, "vertices") or len(mesh.vertices) == 0:
        raise _Bad("the glTF file holds no triangle mesh")
    insp.add("Vertices", f"{len(mesh.vertices):,}")
    insp.add("Faces", f"{len(mesh.faces):,}")
    lo, hi = mesh.bounds
    insp.add("Bounds", "(" + ", ".join(f"{v:.0f}" for v in lo) + ") – ("
             + ", ".join(f"{v:.0f}" for v in hi) + ")")
    insp.add("Watertight", _yes_no(bool(mesh.is_watertight)))


# ---------------------------------------------------------------------------
# zarr stores


def _inspect_zarr(insp: Inspection, store: Store, entity: Entity) -> None:
    members = entity.files
    if "zarr.json" in members:
        _zarr_v3(insp, store, entity)
    elif ".zgroup" in members or ".zarray" in members:
        _zarr_v2(insp, store, entity)
    else:
        raise _Bad("no zarr metadata at the store root (.zgroup/.zarray or zarr.json)")


def _meta_reader(store: Store, entity: Entity, name: str) -> Callable[[str], dict[str, Any]]:
    """Reads a level's array metadata (``name`` under ``path``) when it is shown."""
    def read(path: str) -> dict[str, Any]:
        member = f"{path}/{name}" if path else name
        return _dict(_read_json(store, entity, member), member)
    return read


def _zarr_v2(insp: Inspection, store: Store, entity: Entity) -> None:
    read = _meta_reader(store, entity, ".zarray")
    if ".zarray" in entity.files:  # an array at the root (copick features are sometimes written so)
        insp.add("Format", "zarr v2 array")
        _levels(insp, entity, [""], read, 2, None)
        return
    _dict(_read_json(store, entity, ".zgroup"), ".zgroup")
    attrs = _dict(_read_json(store, entity, ".zattrs"), ".zattrs") if ".zattrs" in entity.files else {}
    ms = _first_multiscale(attrs.get("multiscales"))
    insp.add("Format", "zarr v2 group" + (f" (OME-Zarr {ms.get('version', '0.4')})" if ms else ""))
    paths = _dataset_paths(ms) if ms else _array_paths(entity.files, ".zarray")
    _levels(insp, entity, paths, read, 2, ms)


def _zarr_v3(insp: Inspection, store: Store, entity: Entity) -> None:
    root = _dict(_read_json(store, entity, "zarr.json"), "zarr.json")
    if root.get("zarr_format") != 3:
        raise _Bad(f"zarr.json says zarr_format {root.get('zarr_format')!r}, expected 3")
    read = _meta_reader(store, entity, "zarr.json")
    if root.get("node_type") == "array":
        insp.add("Format", "zarr v3 array")
        _levels(insp, entity, [""], read, 3, None)
        return
    attrs = root.get("attributes") or {}
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else {}
    ms = _first_multiscale(ome.get("multiscales", attrs.get("multiscales")))
    version = ome.get("version") or (ms or {}).get("version")
    insp.add("Format", "zarr v3 group" + (f" (OME-Zarr {version})" if ms else ""))
    paths = _dataset_paths(ms) if ms else _array_paths(entity.files, "zarr.json")
    _levels(insp, entity, paths, read, 3, ms)


def _first_multiscale(value: Any) -> dict[str, Any] | None:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return None


def _dataset_paths(ms: dict[str, Any]) -> list[str]:
    datasets = ms.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise _Bad("multiscales has no datasets")
    paths = [d.get("path") for d in datasets if isinstance(d, dict)]
    if not all(isinstance(p, str) and p for p in paths):
        raise _Bad("a multiscales dataset has no path")
    return paths  # type: ignore[return-value]


def _array_paths(members: Iterable[str], meta_name: str) -> list[str]:
    """Arrays found by their metadata files, when there are no OME multiscales."""
    paths = sorted(m[: -len(meta_name) - 1] for m in members
                   if m.endswith("/" + meta_name) and m.count("/") == 1)
    if not paths:
        raise _Bad(f"the group holds no arrays (no */{meta_name})")
    return paths


def _levels(insp: Inspection, entity: Entity, paths: list[str],
            read: Callable[[str], dict[str, Any]], fmt: int, ms: dict[str, Any] | None) -> None:
    """Shape, dtype and chunking per level, then codecs; stops at the first damaged level."""
    insp.add("Levels", str(len(paths)))
    if ms is not None:
        _voxel_fields(insp, ms)
    describe = _describe_v2 if fmt == 2 else _describe_v3
    metas = []
    for path in paths:
        metas.append(read(path))
        insp.add(f"Level {path}" if path else "Array", describe(metas[-1]))
    insp.add("Compression" if fmt == 2 else "Codecs",
             _codec_v2(metas[0]) if fmt == 2 else _codecs_v3(metas[0]))
    sharded = any(_sharding(m) is not None for m in metas)
    chunks = sum(1 for m in entity.files if m.rsplit("/", 1)[-1] not in _META_NAMES)
    insp.add("Shard files" if sharded else "Chunk files", f"{chunks:,}")


def _voxel_fields(insp: Inspection, ms: dict[str, Any]) -> None:
    axes = ms.get("axes") or []
    names = [a.get("name", "?") if isinstance(a, dict) else str(a) for a in axes]
    units = {a.get("unit") for a in axes if isinstance(a, dict) and a.get("type") == "space"}
    if names:
        unit = next(iter(units)) if len(units) == 1 else None
        insp.add("Axes", ", ".join(names) + (f" ({unit})" if unit else ""))
    scales = [_scale(d) for d in ms.get("datasets") or []]
    spatial = [s[-3:] for s in scales if s]
    if spatial:
        insp.add("Voxel size", _fmt_scale(spatial[0]))
        if len(spatial) > 1:
            insp.add("Level voxel sizes", ", ".join(_fmt_num(s[-1]) for s in spatial) + " Å")


def _scale(dataset: Any) -> list[float] | None:
    if not isinstance(dataset, dict):
        return None
    for t in dataset.get("coordinateTransformations") or []:
        if isinstance(t, dict) and t.get("type") == "scale" and isinstance(t.get("scale"), list):
            try:
                return [float(v) for v in t["scale"]]
            except (TypeError, ValueError):
                return None
    return None


def _fmt_scale(values: list[float]) -> str:
    if len(set(values)) == 1:
        return f"{format_vs(values[0])} Å"
    return " × ".join(format_vs(v) for v in values) + " Å"


def _fmt_num(value: Any, suffix: str = "") -> str:
    try:
        return f"{float(value):g}{suffix}"
    except (TypeError, ValueError):
        return f"{value!r}{suffix}"


def _shape(value: Any, what: str) -> str:
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise _Bad(f"{what} is not a list of integers")
    return " × ".join(str(v) for v in value)


def _dtype_v2(text: Any) -> str:
    try:
        import numpy as np

        return np.dtype(text).name
    except (TypeError, ValueError):
        return str(text)


def _describe_v2(meta: dict[str, Any]) -> str:
    if "shape" not in meta or "dtype" not in meta:
        raise _Bad(".zarray lacks shape or dtype")
    sep = meta.get("dimension_separator", ".")
    return (f"{_shape(meta['shape'], 'shape')} {_dtype_v2(meta['dtype'])}, "
            f"chunks {_shape(meta.get('chunks'), 'chunks')}, separator {sep!r}")


def _codec_v2(meta: dict[str, Any]) -> str:
    comp = meta.get("compressor")
    parts = []
    for f in meta.get("filters") or []:
        parts.append(f"filter {f.get('id', '?')}" if isinstance(f, dict) else "filter ?")
    if comp is None:
        parts.append("uncompressed")
    elif isinstance(comp, dict):
        opts = [f"{k} {comp[k]}" for k in ("cname", "clevel", "level") if k in comp]
        if comp.get("id") == "blosc" and "shuffle" in comp:
            opts.append({0: "no shuffle", 1: "byte shuffle", 2: "bit shuffle"}.get(comp["shuffle"], "shuffle ?"))
        parts.append(f"{comp.get('id', '?')}" + (f" ({', '.join(opts)})" if opts else ""))
    return ", ".join(parts)


def _describe_v3(meta: dict[str, Any]) -> str:
    if "shape" not in meta or "data_type" not in meta:
        raise _Bad("zarr.json of an array lacks shape or data_type")
    grid = (meta.get("chunk_grid") or {}).get("configuration", {}).get("chunk_shape")
    text = f"{_shape(meta['shape'], 'shape')} {meta['data_type']}, "
    inner = _sharding(meta)
    if inner is not None:
        text += f"chunks {_shape(inner.get('chunk_shape'), 'chunk_shape')} in shards {_shape(grid, 'chunk_shape')}"
    else:
        text += f"chunks {_shape(grid, 'chunk_shape')}"
    return text


def _sharding(meta: dict[str, Any]) -> dict[str, Any] | None:
    for codec in meta.get("codecs") or []:
        if isinstance(codec, dict) and codec.get("name") == "sharding_indexed":
            return codec.get("configuration") or {}
    return None


def _codecs_v3(meta: dict[str, Any]) -> str:
    inner = _sharding(meta)
    codecs = inner.get("codecs", []) if inner is not None else meta.get("codecs") or []
    names = []
    for c in codecs:
        if not isinstance(c, dict):
            continue
        conf = c.get("configuration") or {}
        extra = f" {conf['level']}" if "level" in conf else ""
        names.append(f"{c.get('name', '?')}{extra}")
    text = " → ".join(names) or "none"
    return f"sharding ({text})" if inner is not None else text


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


_INSPECTORS: dict[Kind, Callable[[Inspection, Store, Entity], None]] = {
    Kind.RUN_META: _inspect_meta, Kind.VS_META: _inspect_meta, Kind.PICKS: _inspect_picks,
    Kind.FILAMENTS: _inspect_filaments, Kind.MESH: _inspect_mesh,
}


# ---------------------------------------------------------------------------
# configs


def inspect_config(config: ProjectConfig) -> Inspection:
    """Describe a loaded project config; never raises."""
    insp = Inspection(kind="config", title=config.label)
    try:
        raw = config.raw
        insp.add("Name", config.name or "—")
        if raw.get("description"):
            insp.add("Description", raw["description"])
        if raw.get("version"):
            insp.add("Version", raw["version"])
        if config.path:
            insp.add("File", config.path)
        insp.add("Overlay root", config.overlay.display)
        insp.add("Static root", config.static.display if config.static else "none (the overlay holds everything)")
        insp.add("User", config.user_id or "—")
        if config.session_id:
            insp.add("Session", config.session_id)
        particles = sum(1 for o in config.objects if o.is_particle)
        insp.add("Objects", f"{len(config.objects)} ({particles} particles, "
                            f"{len(config.objects) - particles} other)")
        if config.objects:
            insp.add("Object names", ", ".join(f"{o.name} ({o.label})" for o in config.objects))
        extra = [k for k in raw if k not in _CONFIG_KEYS]
        if extra:
            insp.add("Other keys (kept)", ", ".join(extra))
    except Exception as exc:  # noqa: BLE001
        insp.error = _one_line(exc)
    return insp


__all__ = ["Inspection", "inspect_config", "inspect_entity"]
