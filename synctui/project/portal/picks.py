"""Portal point annotations (ndjson, voxel coordinates) as copick picks JSON.

As copick converts them (``CopickPicksFileCDP._load_points_from_s3``): each line's
``location`` times the annotation file's voxel spacing is the location in Å; an
``OrientedPoint``'s ``xyz_rotation_matrix`` fills the rotation of an otherwise
identity 4x4 ``transformation_``; ``instance_id`` is 0 and ``score`` 1.0 (copick's
defaults: the portal's lines carry neither).  ``trust_orientation`` is true for
oriented points only (``from_portal_container``).  The JSON is what copick's
``json.dump(model_dump(), indent=4)`` writes for a ``CopickPicksFile``.
"""

from __future__ import annotations

import json
from typing import Any

from synctui.errors import StoreError

IDENTITY = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]


def _transform(rotation: Any, where: str) -> list[list[float]]:
    try:
        rows = [[float(rotation[i][j]) for j in range(3)] + [0.0] for i in range(3)]
    except (TypeError, IndexError, KeyError, ValueError):
        raise StoreError(f"{where}: xyz_rotation_matrix is not a 3x3 matrix") from None
    return rows + [[0.0, 0.0, 0.0, 1.0]]


def picks_json(ndjson: bytes, *, shape_type: str, voxel_spacing: float, object_name: str,
               user_id: str, session_id: str, run_name: str, where: str = "annotation") -> bytes:
    """The picks file copick reads for one portal point annotation file."""
    oriented = shape_type == "OrientedPoint"
    points = []
    try:
        text = ndjson.decode("utf-8")
    except UnicodeDecodeError:
        raise StoreError(f"{where}: not UTF-8 text") from None
    for n, line in enumerate(text.strip().split("\n"), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            loc = data["location"]
            x, y, z = loc["x"] * voxel_spacing, loc["y"] * voxel_spacing, loc["z"] * voxel_spacing
        except (ValueError, KeyError, TypeError):
            raise StoreError(f"{where}: line {n} is not a point with a location") from None
        transform = _transform(data.get("xyz_rotation_matrix"), f"{where} line {n}") if oriented \
            else [row[:] for row in IDENTITY]
        points.append({"location": {"x": x, "y": y, "z": z}, "transformation_": transform,
                       "instance_id": 0, "score": 1.0})
    doc = {"pickable_object_name": object_name, "user_id": user_id, "session_id": session_id,
           "run_name": run_name, "voxel_spacing": None, "unit": "angstrom", "points": points,
           "trust_orientation": oriented}
    return json.dumps(doc, indent=4).encode("utf-8")
