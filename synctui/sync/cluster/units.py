"""Cut a plan into work units for a cluster: whole entities, balanced by bytes and files.

A unit never splits an entity, so the worker that runs it keeps the engine's
per-entity order (data files, then zarr metadata, then stale keys).  Units are
filled in plan order (a run's entities stay together) up to a size that gives
each worker thread a few units to pull, so a fast worker takes more of them; an
entity bigger than that size (a large tomogram, a big mesh) is a unit alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synctui.sync.plan import Act, EntityPlan, Plan

#: the largest unit by bytes and by files (a bigger entity is a unit alone)
UNIT_BYTES = 256 << 20
UNIT_FILES = 2000
#: the smallest cap: below this a unit's scheduling costs more than its work
MIN_UNIT_BYTES = 8 << 20
MIN_UNIT_FILES = 32
#: units per worker thread the caps aim at, so the fast ones take more
UNITS_PER_SLOT = 4
#: what one file costs beside its bytes (open, rename, mtime: a round trip or two)
FILE_COST_BYTES = 64 << 10


@dataclass
class WorkUnit:
    """Whole entities a worker runs together; ``index`` is its place in plan order."""

    index: int
    entities: list[EntityPlan] = field(default_factory=list)
    files: int = 0
    bytes: int = 0

    @property
    def cost(self) -> int:
        """Bytes plus a per-file overhead: what balancing and scheduling order weigh."""
        return self.bytes + self.files * FILE_COST_BYTES

    def add(self, ent: EntityPlan) -> None:
        self.entities.append(ent)
        self.files += len(ent.files)
        self.bytes += entity_bytes(ent)


def entity_bytes(ent: EntityPlan) -> int:
    return sum(fa.size for fa in ent.files if fa.action is not Act.DELETE)


def unit_caps(total_bytes: int, total_files: int, slots: int) -> tuple[int, int]:
    """(bytes, files) a unit is filled up to, for ``slots`` worker threads."""
    parts = max(1, slots) * UNITS_PER_SLOT
    cap_bytes = min(UNIT_BYTES, max(MIN_UNIT_BYTES, -(-total_bytes // parts)))
    cap_files = min(UNIT_FILES, max(MIN_UNIT_FILES, -(-total_files // parts)))
    return cap_bytes, cap_files


def make_units(plan: Plan, slots: int, *, caps: tuple[int, int] | None = None) -> list[WorkUnit]:
    """The units of ``plan``'s writing entities: every such entity is in exactly one
    unit, whole, in plan order within it.  ``caps`` overrides the (bytes, files) limits."""
    ents = [e for e in plan.entities if e.action.writes and e.files]
    if caps is None:
        caps = unit_caps(sum(entity_bytes(e) for e in ents), sum(len(e.files) for e in ents), slots)
    cap_bytes, cap_files = caps
    units: list[WorkUnit] = []
    current: WorkUnit | None = None
    for ent in ents:
        size, files = entity_bytes(ent), len(ent.files)
        if size >= cap_bytes or files >= cap_files:  # large: alone, and the current one goes on
            alone = WorkUnit(len(units))
            alone.add(ent)
            units.append(alone)
            continue
        if current is None or current.bytes + size > cap_bytes or current.files + files > cap_files:
            current = WorkUnit(len(units))
            units.append(current)
        current.add(ent)
    return units
