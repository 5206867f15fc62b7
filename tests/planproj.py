"""Small copick projects on disk for the planner's tests: ``from planproj import ...`` (``tests/``
is on sys.path through the root conftest; used by tests/sync/test_plan*.py and tests/cli).

Every file gets the same fixed mtime unless a test says otherwise, so "unchanged"
means unchanged and "newer" is a choice the test makes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synctui.project.catalog import Catalog, open_project
from synctui.storage.local import LocalStore
from synctui.sync.plan import Act, EntityPlan, Plan, PlanOptions, make_plan
from synctui.sync.rules import RuleSet

T0 = 1_700_000_000 * 10**9
SEC = 10**9

OBJECTS: list[dict[str, Any]] = [
    {"name": "ribosome", "is_particle": True, "label": 1, "color": [0, 117, 220, 255], "pdb_id": "7P6Z"},
    {"name": "membrane", "is_particle": False, "label": 2},
]

RUNS = "ExperimentRuns"


def picks_json(obj: str = "ribosome", user: str = "alice", session: str = "1", run: str = "run1",
               n: int = 2, **extra: Any) -> str:
    data: dict[str, Any] = {
        "pickable_object_name": obj, "user_id": user, "session_id": session, "run_name": run,
        "voxel_spacing": 10.0, "unit": "angstrom", "trust_orientation": False,
        "points": [{"location": {"x": 1.5 + i, "y": 2.25, "z": 3.0}, "instance_id": i, "score": 1.0}
                   for i in range(n)],
    }
    data.update(extra)
    return json.dumps(data, indent=4)


def zarr(path: str, chunks: Mapping[str, bytes | str], meta: bytes | str = '{"zarr_format": 2}'
         ) -> dict[str, bytes | str]:
    """A fake zarr v2 store: ``.zarray`` / ``.zattrs`` plus the given chunk keys."""
    out: dict[str, bytes | str] = {f"{path}/.zarray": meta, f"{path}/.zattrs": '{"multiscales": []}'}
    out.update({f"{path}/{key}": data for key, data in chunks.items()})
    return out


class Proj:
    """A copick config plus its overlay (and optional static) root under ``base``."""

    def __init__(self, base: Path, *, objects: list[dict[str, Any]] | None = None,
                 static: bool = False, url: bool = True, **extra: Any) -> None:
        self.base = base
        self.overlay = base / "overlay"
        self.static = base / "static"
        self.overlay.mkdir(parents=True, exist_ok=True)
        self.config = base / "copick_config.json"
        cfg: dict[str, Any] = {
            "config_type": "filesystem", "name": base.name, "pickable_objects": list(OBJECTS if objects is None else objects),
            "overlay_root": f"local://{self.overlay}" if url else str(self.overlay),
        }
        if static:
            self.static.mkdir(parents=True, exist_ok=True)
            cfg["static_root"] = f"local://{self.static}" if url else str(self.static)
        cfg.update(extra)
        self.config.write_text(json.dumps(cfg, indent=4))

    def write(self, files: Mapping[str, bytes | str], *, mtime_ns: int = T0, static: bool = False) -> Proj:
        root = self.static if static else self.overlay
        for rel, content in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content.encode() if isinstance(content, str) else content)
            os.utime(p, ns=(mtime_ns, mtime_ns))
        return self

    def touch(self, rel: str, mtime_ns: int, *, static: bool = False) -> None:
        p = (self.static if static else self.overlay) / rel
        os.utime(p, ns=(mtime_ns, mtime_ns))

    def open(self, listing: str | None = None) -> Catalog:
        """The project scanned; ``listing`` "find" or "scandir" picks the local lister
        (find's bundles, or none), the default lets the store choose."""
        return open_project(str(self.config), fsync=False, **({"listing": listing} if listing else {}))

    def config_data(self) -> dict[str, Any]:
        return json.loads(self.config.read_text())


def plan(src: Proj, dst: Proj, rules: RuleSet | None = None, **options: Any) -> Plan:
    return make_plan(src.open(), dst.open(), rules, PlanOptions(**options))


def by_target(p: Plan) -> dict[str, EntityPlan]:
    out: dict[str, EntityPlan] = {}
    for ent in p.entities:
        assert ent.target_path not in out or ent.action is Act.EXCLUDED, ent.target_path
        out.setdefault(ent.target_path, ent)
    return out


def by_source(p: Plan) -> dict[str, EntityPlan]:
    return {e.source_path: e for e in p.entities if e.source_path is not None}


def apply_plan(p: Plan, source: Catalog, target: Catalog) -> None:
    """Do what the plan says, the simplest possible way (the engine's job, without it)."""
    from synctui.sync.transform import transform_annotation

    tstore = target.stores["overlay"]
    assert isinstance(tstore, LocalStore)
    for ent, fa in p.file_actions():
        if fa.action is Act.DELETE:
            tstore.remove(fa.target_path)
            continue
        assert fa.source_path is not None and ent.source is not None
        data = source.stores[ent.source_root or "overlay"].read_bytes(fa.source_path)
        if ent.transform:
            data = transform_annotation(data, ent.source, ent.target, fa.source_path)
        tstore.write_atomic(fa.target_path, data, mtime_ns=fa.src_mtime_ns)
    if p.objects:
        cfg = target.config
        cfg.save(data=cfg.with_objects_added([o.definition for o in p.objects]))
