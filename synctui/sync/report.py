"""What a finished sync did, worded once for every interface.

The words are the plan's (``Act``): "skipped" entities are the plan's ``skip``
(unchanged); files a sync did not get to (cancelled, held back, changed since the
preview) are "not started", never "skipped".

The CLI prints these rows one per line; the app's run screen shows the same rows
side by side.  Plain strings (no rich): the interfaces add the colour.
"""

from __future__ import annotations

from synctui.format import human_bytes, human_duration, plural
from synctui.sync.engine import Summary

#: rows shown even when their count is zero
ALWAYS = frozenset({"checked", "files", "bytes", "errors"})


def _where_deleted(s: Summary) -> str:
    """What became of the deleted entities: only what really happened."""
    if s.destroyed:  # a plan's prune destroys all its entities or none
        return " (destroyed, not kept in the trash: --prune=delete)"
    return f" (moved to {s.trash})" if s.trash else ""


def summary_rows(s: Summary) -> list[tuple[str, str]]:
    """(label, value) for each thing worth saying, in reading order; zero counts left out."""
    rate = s.bytes / s.duration if s.duration > 0 else 0

    def ents(n: int) -> str:
        return plural(n, "entity", "entities")

    rows = [
        ("checked", ents(s.checked)),
        ("created", ents(s.created)),
        ("updated", ents(s.updated)),
        ("deleted", ents(s.deleted) + _where_deleted(s)),
        ("skipped", ents(s.skipped) + " (unchanged)" if s.skipped else ""),
        ("conflicts", ents(s.conflicts) + (" left untouched" if s.conflicts else "")),
        ("blocked", ents(s.blocked)),
        ("exists", ents(s.exists) + " (kept: overwrite policy)" if s.exists else ""),
        ("excluded", ents(s.excluded)),
        ("objects", f"{s.objects_added} added to the target config"),
        ("files", f"{s.files_written} written, {s.files_trashed} moved to trash, "
                  + (f"{s.files_destroyed} destroyed, " if s.files_destroyed else "") + f"{s.files_skipped} not started"),
        # stale zarr keys go there too ("" when the deleted row says where)
        ("trash", plural(s.files_trashed + s.files_set_aside, "file") + f" kept in {s.trash}"
         if s.trash and not s.deleted else ""),
        ("replaced", plural(s.files_set_aside, "target version") + " synctui had not written "
         "(the old ones are in the trash)" if s.files_set_aside else ""),
        ("bytes", f"{human_bytes(s.bytes)} in {human_duration(s.duration)} ({human_bytes(rate)}/s)"),
        ("errors", str(len(s.errors))),
    ]
    out = [(label, value) for label, value in rows
           if value and (label in ALWAYS or not value.startswith("0 "))]
    if s.skipped_changed:
        out.append(("changed", f"{len(s.skipped_changed)} since the preview (not started)"))
    return out
