"""What copick itself reads from a project, as JSON: a portal config or a filesystem one.

Run INSIDE a copick venv: ``<venv>/bin/python portal_probe.py OUT.json CONFIG...`` (a file, not
stdout: copick's and botocore's log lines go to stdout).  For a portal
config, copick's own client and s3fs are pointed at the loopback portal:
``cryoet_data_portal._client.DEFAULT_URL`` <- ``$PORTAL_GRAPHQL_URL`` (the client reads no
environment variable for it) and s3fs's endpoint <- ``$AWS_ENDPOINT_URL`` (botocore reads it).
copick's own portal disk cache is off (``COPICK_PORTAL_CACHE=0``).

Ids: ``tomogram:RUN:VS:TYPE``, ``picks:RUN:USER:SESSION:OBJECT``,
``segmentation:RUN:VS:USER:SESSION:NAME`` (``instance-segmentation:`` for instance masks).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import numpy as np


def _digest(group_store: Any) -> dict[str, str]:
    import zarr

    group = zarr.open_group(group_store, mode="r")
    out = {}
    for key in sorted(group.array_keys()):
        arr = np.ascontiguousarray(np.asarray(group[key][...]))
        h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
        out[key] = h.hexdigest()
    return out


def probe(path: str) -> dict[str, Any]:
    import copick

    root = copick.from_file(path)
    ents: dict[str, Any] = {}
    runs = sorted(r.name for r in root.runs)
    for run in root.runs:
        for vs in run.voxel_spacings:
            for tomo in vs.tomograms:
                ents[f"tomogram:{run.name}:{vs.voxel_size:.3f}:{tomo.tomo_type}"] = _digest(tomo.zarr())
        for picks in run.picks:
            pts = [[p.location.x, p.location.y, p.location.z, p.transformation_, p.instance_id, p.score]
                   for p in picks.points]
            ents[f"picks:{run.name}:{picks.user_id}:{picks.session_id}:{picks.pickable_object_name}"] = {
                "points": pts, "trust_orientation": picks.trust_orientation}
        for seg in run.segmentations:
            kind = "instance-segmentation" if getattr(seg, "is_instance", False) else "segmentation"
            ents[f"{kind}:{run.name}:{seg.voxel_size:.3f}:{seg.user_id}:{seg.session_id}:{seg.name}"] = \
                _digest(seg.zarr())
    return {"copick": copick.__version__, "runs": runs, "entities": ents,
            "objects": sorted((o.name, o.identifier) for o in root.pickable_objects)}


def main() -> None:
    os.environ.setdefault("COPICK_PORTAL_CACHE", "0")
    url = os.environ.get("PORTAL_GRAPHQL_URL")
    if url:
        import cryoet_data_portal._client as client

        client.DEFAULT_URL = url
    out = {path: probe(path) for path in sys.argv[2:]}
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
