"""What the resolve dialog says of each side: size, last modified, and who wrote it last.

The target side asks the state database what synctui itself wrote there: a file
still as synctui wrote it is synctui's; one that differs was changed by someone
else since; one with no record was never written by synctui.  The source keeps no
record, so only its copick author (user, session) is known.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from synctui.errors import SyncTuiError
from synctui.format import human_bytes
from synctui.project.layout import EntityRef
from synctui.sync.api import SyncJob
from synctui.sync.plan import Act, EntityPlan
from synctui.tui.status import PlanView

log = logging.getLogger("synctui.tui")

#: records looked up per entity at most (a zarr store's conflict can span many chunks)
RECORDS_ASKED = 64
#: mtimes this close are the same write (stores keep seconds, or less)
SAME_WRITE_NS = 2_000_000_000


@dataclass(frozen=True)
class SideFacts:
    size: int
    mtime_ns: int
    writer: str

    def cells(self) -> tuple[str, str, str]:
        return human_bytes(self.size), utc(self.mtime_ns), self.writer


def utc(mtime_ns: int) -> str:
    """A modification time the same on every machine (UTC, to the minute)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mtime_ns / 1e9)) if mtime_ns else "-"


def author(ref: EntityRef | None) -> str:
    if ref is None or ref.user is None:
        return ""
    return f"copick user {ref.user}" + (f", session {ref.session}" if ref.session else "")


def _target_writer(job: SyncJob, ep: EntityPlan) -> str:
    files = [fa for fa in ep.files if fa.action is Act.UPDATE][:RECORDS_ASKED]
    if not files:
        return "unknown"
    try:
        records = job.written([fa.target_path for fa in files])
    except (SyncTuiError, OSError) as exc:  # a state database we cannot read: say so, decide anyway
        log.info("cannot read the state database: %s", exc)
        return "unknown (state database unreadable)"
    if not records:
        return "not synctui (no record of writing it)"
    changed = 0
    when = 0.0
    for fa in files:
        rec = records.get(fa.target_path)
        if rec is None:
            changed += 1
            continue
        base, synced_at = rec
        when = max(when, synced_at)
        same = base.dst_size == fa.dst_size and (
            base.dst_etag == fa.dst_etag if base.dst_etag and fa.dst_etag else
            base.dst_mtime_ns is not None and fa.dst_mtime_ns is not None
            and abs(base.dst_mtime_ns - fa.dst_mtime_ns) <= SAME_WRITE_NS)
        changed += not same
    stamp = utc(int(when * 1e9))
    if not changed:
        return f"synctui, {stamp}"
    return f"someone else, after synctui wrote it ({stamp})"


def side_facts(job: SyncJob, view: PlanView, ep: EntityPlan) -> tuple[SideFacts | None, SideFacts | None]:
    """(source, target) facts of one entity; None for a side that does not have it."""
    src = view.source.catalog.entities.get(ep.source) if ep.source is not None else None
    tgt = view.target.catalog.entities.get(ep.target)
    source = None
    if src is not None:
        who = author(src.ref)
        source = SideFacts(src.size, src.mtime_ns, f"{who} (per its name)" if who else "unknown (no record)")
    target = SideFacts(tgt.size, tgt.mtime_ns, _target_writer(job, ep)) if tgt is not None else None
    return source, target
