"""What the detail pane shows about one entity or project, off the UI thread.

Wraps ``synctui.project.inspect`` (shape, dtype, chunks, points, vertices ...)
and falls back to what the catalog already knows when inspection is missing or
fails, so the pane always has something true to say.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from synctui.format import count, human_bytes
from synctui.project.catalog import Catalog, Entity


@dataclass
class Shown:
    """A titled list of (label, value) lines, or an error."""

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def _when(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M UTC")


def catalog_fields(entity: Entity) -> list[tuple[str, str]]:
    files = len(entity.files)
    out = [("size", f"{human_bytes(entity.size)} in {count(files)} file{'s' if files != 1 else ''}"),
           ("modified", _when(entity.mtime_ns))]
    if entity.read_only:
        out.append(("root", "static (read-only)"))
    return out


#: fields every inspection carries; the pane shows the kind-specific ones first
_COMMON = ("Size", "Files", "Modified", "Root")
_REDUNDANT = ("Kind", "Path")
#: what tells two copies apart at a glance, shown first in the narrow pane
_FIRST = ("Points", "Filaments", "Level 0", "Levels", "Vertices", "Faces", "Bounds", "Format",
          "Score", "Content", "Codecs", "Compression")
#: already in the title (user_session_object)
_IN_TITLE = ("Object", "User", "Session", "Run")


def inspect_entity(catalog: Catalog, entity: Entity, *, compact: bool = True) -> Shown:
    """Inspect ``entity`` in its store.  ``compact``: what matters first, no path."""
    base = catalog_fields(entity)
    title = f"{entity.ref.kind.label}  {entity.ref.display}"
    try:
        mod = importlib.import_module("synctui.project.inspect")
    except ImportError:
        return Shown(title, base)
    try:
        ins = mod.inspect_entity(catalog.store_for(entity), entity)
    except Exception as exc:  # noqa: BLE001 - a damaged file is shown, not fatal
        return Shown(title, base, f"{type(exc).__name__}: {exc}")
    fields = [(str(k), str(v)) for k, v in getattr(ins, "fields", [])]
    error = getattr(ins, "error", None)
    if compact:
        common = {k: v for k, v in fields if k in _COMMON}
        specific = [(k, v) for k, v in fields if k not in _COMMON and k not in _REDUNDANT]
        rank = {k: i for i, k in enumerate(_FIRST)}
        specific.sort(key=lambda kv: (rank.get(kv[0], len(rank) + (kv[0] in _IN_TITLE)),))
        # a store's size and file count first: they tell an incomplete copy at a glance
        fields = [(k, common[k]) for k in ("Size", "Files") if k in common] + specific + \
            [(k, common[k]) for k in _COMMON[2:] if k in common]
    return Shown(title, fields, str(error) if error else None)


def inspect_project(catalog: Catalog) -> Shown:
    cfg = catalog.config
    fields: list[tuple[str, str]] = [
        ("Runs", count(len(catalog.runs))),
        ("Entities", f"{count(len(catalog.entities))} ({human_bytes(catalog.total_bytes)})"),
        ("Files", count(catalog.file_count)),
    ]
    if catalog.unrecognised:
        bad = catalog.unrecognised[0]
        fields.append(("Not copick", f"{count(len(catalog.unrecognised))} (the tree's \"not copick\" "
                                     f"folders list them), e.g. {bad.path}: {bad.reason}"))
    try:
        mod = importlib.import_module("synctui.project.inspect")
        ins = mod.inspect_config(cfg)
        fields += [(str(k), str(v)) for k, v in getattr(ins, "fields", [])
                   if k not in ("Name", "File", "Overlay root", "Static root")]
    except Exception:  # noqa: BLE001 - ImportError or a config quirk: keep the basics
        fields.append(("Overlay root", cfg.overlay.display))
        fields.append(("Objects", ", ".join(cfg.object_names) or "none"))
    return Shown(cfg.label, fields)


def inspect_pair(view: object, source_ref: object, target_ref: object, *,
                 compact: bool = True) -> tuple[Shown | None, Shown | None]:
    """Both sides of one entity (either may be missing); runs in a worker thread."""
    out: list[Shown | None] = []
    for side, ref in (("source", source_ref), ("target", target_ref)):
        catalog = view.side(side).catalog  # type: ignore[attr-defined]
        entity = catalog.entities.get(ref) if ref is not None else None
        out.append(inspect_entity(catalog, entity, compact=compact) if entity is not None else None)
    return out[0], out[1]
