"""Open a copick project with copick itself and print what it sees, as JSON.

Run INSIDE a virtual environment that has copick (1.31 or 2.x) installed, never with
synctui's own interpreter: ``<venv>/bin/python copick_probe.py CONFIG...``.
Uses only copick's public API (``copick.from_file``, ``root.runs``,
``run.voxel_spacings``, ``vs.tomograms``, ``tomogram.features``, ``run.picks``,
``run.filaments``, ``run.meshes``, ``run.segmentations``,
``root.pickable_objects``) and reads every entity it lists.

Every entity gets an id built like synctui's plan refs, so a test can compare
the two: ``run:TS_001``, ``voxel-spacing:TS_001:10.000``,
``tomogram:TS_001:10.000:wbp``, ``features:TS_001:10.000:wbp:sobel``,
``picks:TS_001:alice:1:ribosome`` (also ``filaments:`` and ``mesh:``),
``segmentation:TS_001:10.000:alice:1:membrane`` (also
``multilabel-segmentation:``, ``instance-segmentation:``,
``panoptic-segmentation:``) and ``density-map:ribosome``.

Output keys: ``copick`` and ``zarr`` (versions), ``config`` (what copick made
of the config file), ``objects``, ``runs``, ``entities`` (id -> details),
``unreadable`` (entities copick lists but cannot read, with the reason),
``listing_errors`` (collections copick could not even list) and
``duplicates`` (ids copick listed more than once).

Every zarr array of a volume's group (each pyramid level) is digested voxel for
voxel (``level_sha256``).  A zarr v3 store (``zarr.json``, no ``.zgroup``/``.zarray``)
cannot be read by copick 1.x, which uses zarr 2: it is recorded as unreadable with the reason
``ZARR_V3`` instead of failing.  Read-only (static) stores are still handed
to copick so the error is copick's own; writable (overlay) ones are not,
because zarr 2 would create a ``.zgroup`` in them when asked to open a
store it does not recognise.  The probe never writes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import traceback
from typing import Any

import numpy as np

ZARR_V3 = "zarr v3 (needs copick 2.x)"


def _digest(array: Any) -> str:
    arr = np.ascontiguousarray(np.asarray(array))
    h = hashlib.sha256()
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _zarr_major() -> int:
    import zarr

    return int(zarr.__version__.split(".")[0])


def _is_zarr_v3(store: Any) -> bool:
    """Is this copick store a zarr v3 hierarchy?  zarr 2's FSStore: ask its filesystem
    (it maps the key ``zarr.json`` to ``zarr/json``); zarr 3: read the group's metadata."""
    if _zarr_major() >= 3:
        import zarr

        return zarr.open_group(store, mode="r").metadata.zarr_format == 3
    fs, path = store.fs, store.path.rstrip("/")
    return (fs.exists(f"{path}/zarr.json") and not fs.exists(f"{path}/.zgroup")
            and not fs.exists(f"{path}/.zarray"))


def _levels(store: Any) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Every array of the store's group: shape, and a digest of all its voxels."""
    import zarr

    group = zarr.open_group(store, mode="r")
    arrays = sorted(group.arrays())
    return ({name: list(arr.shape) for name, arr in arrays},
            {name: _digest(arr[...]) for name, arr in arrays})


class Probe:
    def __init__(self, config: str) -> None:
        import copick

        self.root = copick.from_file(config)
        self.entities: dict[str, dict[str, Any]] = {}
        self.unreadable: list[dict[str, Any]] = []
        self.listing_errors: list[dict[str, Any]] = []
        self.duplicates: list[str] = []

    # -- bookkeeping -------------------------------------------------------

    def _add(self, eid: str, details: dict[str, Any]) -> None:
        if eid in self.entities:
            self.duplicates.append(eid)
        self.entities[eid] = details

    def _list(self, where: str, what: str, getter: Any) -> list[Any]:
        try:
            return list(getter())
        except Exception as exc:  # noqa: BLE001 - a probe records, it does not stop
            self.listing_errors.append({"where": where, "collection": what, "error": _error(exc),
                                        "traceback": traceback.format_exc(limit=3)})
            return []

    def _volume(self, eid: str, details: dict[str, Any], store_of: Any, read: Any,
                read_only: bool) -> None:
        """Read a zarr-backed entity through copick: level shapes and a level-0 checksum."""
        details["read_only"] = read_only
        try:
            store = store_of()
            v3 = _is_zarr_v3(store)
            if v3 and _zarr_major() < 3:
                details["format"] = "zarr v3"
                error = "not opened: zarr 2 would write a .zgroup into a writable store"
                if read_only:  # let copick itself fail, harmlessly (the store is read-only)
                    try:
                        read()
                        error = "copick read it (unexpected)"
                    except Exception as exc:  # noqa: BLE001
                        error = _error(exc)
                details["unreadable"] = ZARR_V3
                self.unreadable.append({"id": eid, "reason": ZARR_V3, "error": error})
                self._add(eid, details)
                return
            details["format"] = "zarr v3" if v3 else "zarr v2"
            details["levels"], details["level_sha256"] = _levels(store)
            data = read()
            details["shape"] = list(data.shape)
            details["dtype"] = str(data.dtype)
            details["sha256"] = _digest(data)
            details["max"] = float(data.max()) if data.size else None
            if data.dtype.kind in "iub":  # label volumes: which values occur
                details["values"] = [int(v) for v in np.unique(data)[:300]]
        except Exception as exc:  # noqa: BLE001
            details["unreadable"] = _error(exc)
            self.unreadable.append({"id": eid, "reason": "error", "error": _error(exc),
                                    "traceback": traceback.format_exc(limit=4)})
        self._add(eid, details)

    # -- entities ----------------------------------------------------------

    def run(self) -> dict[str, Any]:
        root = self.root
        runs = self._list("root", "runs", lambda: root.runs)
        for run in runs:
            self._run(run)
        objects = [self._object(obj) for obj in self._list("root", "pickable_objects",
                                                           lambda: root.pickable_objects)]
        import copick
        import zarr

        cfg = root.config
        return {
            "copick": copick.__version__,
            "zarr": zarr.__version__,
            "config": {
                "name": cfg.name,
                "user_id": cfg.user_id,
                "object_names": [o.name for o in cfg.pickable_objects],
                "extra_fields_kept": sorted((getattr(cfg, "model_extra", None) or {}).keys()),
            },
            "objects": objects,
            "runs": [run.name for run in runs],
            "entities": dict(sorted(self.entities.items())),
            "unreadable": self.unreadable,
            "listing_errors": self.listing_errors,
            "duplicates": self.duplicates,
        }

    def _run(self, run: Any) -> None:
        name = run.name
        self._add(f"run:{name}", {})
        for vs in self._list(name, "voxel_spacings", lambda: run.voxel_spacings):
            vsid = f"{name}:{vs.voxel_size:.3f}"
            self._add(f"voxel-spacing:{vsid}", {})
            for tomo in self._list(vsid, "tomograms", lambda vs=vs: vs.tomograms):
                self._tomogram(vsid, tomo)
        for picks in self._list(name, "picks", lambda: run.picks):
            self._picks(name, picks)
        for fil in self._list(name, "filaments", lambda: run.filaments):
            self._filaments(name, fil)
        for mesh in self._list(name, "meshes", lambda: run.meshes):
            self._mesh(name, mesh)
        for seg in self._list(name, "segmentations", lambda: run.segmentations):
            self._segmentation(name, seg)

    def _tomogram(self, vsid: str, tomo: Any) -> None:
        eid = f"tomogram:{vsid}:{tomo.tomo_type}"
        self._volume(eid, {"tomo_type": tomo.tomo_type}, tomo.zarr, tomo.numpy, tomo.read_only)
        for feat in self._list(eid, "features", lambda: tomo.features):
            fid = f"features:{vsid}:{tomo.tomo_type}:{feat.feature_type}"
            self._volume(fid, {"feature_type": feat.feature_type}, feat.zarr, feat.numpy,
                         feat.read_only)

    def _picks(self, run: str, picks: Any) -> None:
        # listed from the file name; the JSON may say otherwise
        eid = f"picks:{run}:{picks.user_id}:{picks.session_id}:{picks.pickable_object_name}"
        details: dict[str, Any] = {"read_only": picks.read_only}
        try:
            points = picks.points
            meta = picks.meta
            locs, transforms = picks.numpy()
            details.update({
                "n_points": len(points),
                "json_object": meta.pickable_object_name, "json_user": meta.user_id,
                "json_session": meta.session_id, "json_run": meta.run_name,
                "voxel_spacing": meta.voxel_spacing, "unit": meta.unit,
                "trust_orientation": picks.trust_orientation,
                "points_sha256": _digest(locs), "transforms_sha256": _digest(transforms),
                "instance_ids": [int(i) for i in picks.instance_ids()],
                "scores_sha256": _digest(picks.scores()),
            })
        except Exception as exc:  # noqa: BLE001
            details["unreadable"] = _error(exc)
            self.unreadable.append({"id": eid, "reason": "error", "error": _error(exc)})
        self._add(eid, details)

    def _filaments(self, run: str, fil: Any) -> None:
        eid = f"filaments:{run}:{fil.user_id}:{fil.session_id}:{fil.pickable_object_name}"
        details: dict[str, Any] = {"read_only": fil.read_only}
        try:
            filaments = fil.filaments
            meta = fil.meta
            details.update({
                "n_filaments": len(filaments),
                "n_points": sum(len(f.points) for f in filaments),
                "json_object": meta.pickable_object_name, "json_run": meta.run_name,
                "unit": meta.unit, "version": meta.version,
                "points_sha256": _digest([p for f in filaments for p in f.points]),
            })
        except Exception as exc:  # noqa: BLE001
            details["unreadable"] = _error(exc)
            self.unreadable.append({"id": eid, "reason": "error", "error": _error(exc)})
        self._add(eid, details)

    def _mesh(self, run: str, mesh: Any) -> None:
        eid = f"mesh:{run}:{mesh.user_id}:{mesh.session_id}:{mesh.pickable_object_name}"
        details: dict[str, Any] = {"read_only": mesh.read_only}
        try:
            geometry = mesh.mesh
            parts = list(geometry.geometry.values()) if hasattr(geometry, "geometry") else [geometry]
            details.update({
                "type": type(geometry).__name__,
                "n_geometries": len(parts),
                "n_vertices": sum(len(p.vertices) for p in parts),
                "n_faces": sum(len(getattr(p, "faces", ())) for p in parts),
                "vertices_sha256": _digest([v for p in parts for v in p.vertices.tolist()]),
            })
        except Exception as exc:  # noqa: BLE001
            details["unreadable"] = _error(exc)
            self.unreadable.append({"id": eid, "reason": "error", "error": _error(exc)})
        self._add(eid, details)

    def _segmentation(self, run: str, seg: Any) -> None:
        kind = {"binary": "segmentation"}.get(seg.segmentation_type,
                                              f"{seg.segmentation_type}-segmentation")
        eid = f"{kind}:{run}:{seg.voxel_size:.3f}:{seg.user_id}:{seg.session_id}:{seg.name}"
        details = {"name": seg.name, "user": seg.user_id, "session": seg.session_id,
                   "is_multilabel": seg.is_multilabel, "is_instance": seg.is_instance,
                   "is_panoptic": seg.is_panoptic}
        self._volume(eid, details, seg.zarr, seg.numpy, seg.read_only)

    def _object(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"name": obj.name, "label": obj.label,
                               "is_particle": obj.is_particle, "color": list(obj.color or ()),
                               "radius": obj.radius, "pdb_id": obj.pdb_id,
                               "identifier": obj.identifier, "read_only": obj.read_only}
        # Only open a map that exists: a writable object's zarr() would create one.
        try:
            exists = (obj.fs_static.exists(obj.static_path)
                      or obj.fs_overlay.exists(obj.overlay_path))
        except Exception as exc:  # noqa: BLE001
            self.listing_errors.append({"where": obj.name, "collection": "density map",
                                        "error": _error(exc)})
            exists = False
        if exists and obj.is_particle:
            out["density_map"] = f"density-map:{obj.name}"
            self._volume(out["density_map"], {}, obj.zarr,
                         obj.numpy, obj.read_only)
        return out


def main(argv: list[str]) -> int:
    """One config: its report.  Several: ``{config: report}`` (copick imports once)."""
    if len(argv) < 2:
        print("usage: copick_probe.py CONFIG...", file=sys.stderr)
        return 2
    if len(argv) == 2:
        out: Any = Probe(argv[1]).run()
    else:
        out = {config: Probe(config).run() for config in argv[1:]}
    json.dump(out, sys.stdout, indent=1, sort_keys=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
