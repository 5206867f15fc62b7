"""``--source-dataset-ids``: the portal config copick's CLI makes for a pull, made here.

copick (``copick.util.sync.create_dataportal_config``) writes a temporary
``cryoet_data_portal`` config whose objects come from the datasets' annotations
(``copick.util.portal.objects_from_datasets``): one object per ``object_id``, named
``sanitize_name(object_name).lower()``, a particle if any of its shapes is a point,
``emdb_id``/``pdb_id`` from the annotation's publications, radius 50.  We do the same,
with two differences said in the README: labels follow the identifiers' sorted order
(copick orders by ``hash()``, which changes from one process to the next), and the
overlay is a fixed, empty folder in the state directory, so the state database
recognises the pair on the next pull and a second pull moves nothing.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from synctui.project.portal.graphql import PortalGraphQL
from synctui.project.portal.http import PortalHTTP
from synctui.project.portal.names import object_name_for
from synctui.project.portal.options import parse_portal


def objects_from_datasets(graphql: PortalGraphQL) -> list[dict[str, Any]]:
    data = graphql.objects()
    shapes: dict[int, set[str]] = {}
    for shape in data.get("annotationShapes") or []:
        shapes.setdefault(shape["annotationId"], set()).add(str(shape["shapeType"]).lower())
    found: dict[str, dict[str, Any]] = {}
    for anno in sorted(data.get("annotations") or [], key=lambda a: a["id"]):
        kinds = shapes.get(anno["id"], set())
        particle = bool({"point", "orientedpoint"} & kinds)
        pubs = [p.strip() for p in (anno.get("annotationPublication") or "").split(",") if p.strip()]
        emd = next((p for p in pubs if p.startswith("EMD")), None)
        pdb = next((p for p in pubs if p.startswith("PDB")), None)
        ident = anno["objectId"]
        if pdb is None and ident.upper().startswith("PDB-"):
            pdb = ident[4:]
        before = found.get(ident)
        found[ident] = {"name": object_name_for(anno), "is_particle": particle or bool(before and before["is_particle"]),
                        "emdb_id": emd, "pdb_id": pdb}
    out = []
    names: set[str] = set()
    for label, ident in enumerate(sorted(found), 1):
        obj = found[ident]
        if obj["name"] in names:  # two identifiers, one name: copick would clash; keep them apart
            obj["name"] = f"{obj['name']}-{label}"
        names.add(obj["name"])
        out.append({"name": obj["name"], "is_particle": obj["is_particle"], "label": label,
                    "emdb_id": obj["emdb_id"], "pdb_id": obj["pdb_id"], "identifier": ident,
                    "map_threshold": None, "radius": 50})
    return out


def portal_source_config(dataset_ids: list[int]) -> dict[str, Any]:
    """The config a pull from these datasets reads (endpoints from the environment)."""
    from synctui.errors import ConfigError
    from synctui.storage.dirs import state_dir

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"--source-dataset-ids: {key}: {problem}")

    spec, _ = parse_portal({"dataset_ids": dataset_ids}, fail)
    http = PortalHTTP(spec.options.timeout)
    try:
        graphql = PortalGraphQL(spec, http)
        graphql.index([])  # unknown dataset ids: one line, before anything else is asked
        objects = objects_from_datasets(graphql)
    finally:
        http.close()
    digest = hashlib.sha256(f"{spec.options.graphql_url} {spec.label}".encode()).hexdigest()[:16]
    overlay = os.path.join(state_dir(), "portal-overlays", digest)
    os.makedirs(overlay, exist_ok=True)
    return {"config_type": "cryoet_data_portal", "name": "CZ cryoET Data Portal Dataset",
            "description": f"This copick project contains data from datasets {list(spec.dataset_ids)}.",
            "pickable_objects": objects, "overlay_root": f"local://{overlay}",
            "overlay_fs_args": {"auto_mkdir": True}, "dataset_ids": list(spec.dataset_ids)}
