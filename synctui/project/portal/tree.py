"""The portal index as copick's filesystem layout: which virtual path is which portal file.

Pure (no I/O), so names are cheap to test.  A zarr store (tomogram, segmentation mask)
is a *mount*: the virtual ``.../<tomo_type>.zarr`` stands for a bucket prefix, its
members are the keys under it.  A picks file is *synthesized* from one point
annotation file.  Entities copick would name twice (two tomograms of the same type
at one voxel spacing) keep the lowest portal id; the others are listed in ``skipped``
with the reason, as copick would show only one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synctui.project.layout import EntityRef, Kind, entity_path, format_vs
from synctui.project.portal.bucket import split_s3_uri
from synctui.project.portal.names import PICK_SHAPES, PORTAL_USER, camel, tomo_type


@dataclass(frozen=True)
class Mount:
    """A zarr store: the virtual entity path and the bucket prefix it reads."""

    path: str
    bucket: str
    prefix: str
    run: str


@dataclass(frozen=True)
class SynthPicks:
    path: str
    bucket: str
    key: str
    shape_type: str
    voxel_spacing: float
    object_name: str
    session_id: str
    run: str


@dataclass
class PortalTree:
    runs: list[str] = field(default_factory=list)
    dirs: set[str] = field(default_factory=set)
    mounts: list[Mount] = field(default_factory=list)
    picks: list[SynthPicks] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: run name -> dataset id (the header and inspection show it)
    run_dataset: dict[str, int] = field(default_factory=dict)


def build_tree(index: dict[str, Any], go_map: dict[str, str]) -> PortalTree:
    """``go_map``: identifier -> config object name (copick's ``root.go_map``)."""
    tree = PortalTree()
    runs = {r["id"]: r for r in index.get("runs", [])}
    vs_by_id = {v["id"]: v for v in index.get("tomogramVoxelSpacings", [])}
    shapes = {s["id"]: s for s in index.get("annotationShapes", [])}
    annos = {a["id"]: a for a in index.get("annotations", [])}
    taken: dict[str, int] = {}

    def claim(path: str, portal_id: int, what: str) -> bool:
        if path in taken:
            tree.skipped.append((f"{what} {portal_id}", f"copick names it like {taken[path]} ({path})"))
            return False
        taken[path] = portal_id
        return True

    for rid in sorted(runs):
        name = str(rid)
        tree.runs.append(name)
        tree.run_dataset[name] = runs[rid]["datasetId"]
        tree.dirs.add(f"ExperimentRuns/{name}")
    for vs in sorted(vs_by_id.values(), key=lambda v: v["id"]):
        if vs.get("runId") in runs:
            tree.dirs.add(f"ExperimentRuns/{vs['runId']}/VoxelSpacing{format_vs(vs['voxelSpacing'])}")
    for tomo in sorted(index.get("tomograms", []), key=lambda t: t["id"]):
        vs = vs_by_id.get(tomo.get("tomogramVoxelSpacingId"))
        if vs is None or vs.get("runId") not in runs or not tomo.get("s3OmezarrDir"):
            tree.skipped.append((f"tomogram {tomo['id']}", "no voxel spacing or OME-Zarr in the portal"))
            continue
        ref = EntityRef(Kind.TOMOGRAM, run=str(vs["runId"]), voxel_spacing=float(vs["voxelSpacing"]),
                        tomo_type=tomo_type(tomo))
        path = entity_path(ref)
        if claim(path, tomo["id"], "tomogram"):
            bucket, prefix = split_s3_uri(tomo["s3OmezarrDir"])
            tree.mounts.append(Mount(path, bucket, prefix, ref.run or ""))
    for af in sorted(index.get("annotationFiles", []), key=lambda f: f["id"]):
        shape = shapes.get(af.get("annotationShapeId"))
        anno = annos.get(shape.get("annotationId")) if shape else None
        vs = vs_by_id.get(af.get("tomogramVoxelSpacingId"))
        if shape is None or anno is None or anno.get("runId") not in runs:
            continue
        if vs is None:
            tree.skipped.append((f"annotation file {af['id']}", "no voxel spacing in the portal"))
            continue
        run = str(anno["runId"])
        obj = go_map.get(anno["objectId"]) or f"{camel(anno['objectName'])}-{af['id']}"
        session = str(af["id"])
        bucket, key = split_s3_uri(af["s3Path"])
        spacing = float(vs["voxelSpacing"])
        if shape["shapeType"] in PICK_SHAPES:
            ref = EntityRef(Kind.PICKS, run=run, user=PORTAL_USER, session=session, name=obj)
            path = entity_path(ref)
            if claim(path, af["id"], "annotation file"):
                tree.picks.append(SynthPicks(path, bucket, key, shape["shapeType"], spacing, obj, session, run))
        elif af.get("format") == "zarr":
            kind = Kind.INSTANCE if shape["shapeType"] == "InstanceSegmentationMask" else Kind.SEGMENTATION
            ref = EntityRef(kind, run=run, voxel_spacing=spacing, user=PORTAL_USER, session=session, name=obj)
            path = entity_path(ref)
            if claim(path, af["id"], "annotation file"):
                tree.mounts.append(Mount(path, bucket, key, run))
    return tree
