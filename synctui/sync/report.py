"""What a finished sync did, worded once for every interface.

The CLI prints these rows one per line; the app's run screen shows the same rows
side by side.  Plain strings (no rich): the interfaces add the colour.
"""

from __future__ import annotations

from synctui.format import human_bytes, human_duration, plural
from synctui.sync.engine import Summary

#: rows shown even when their count is zero
ALWAYS = frozenset({"checked", "files", "bytes", "errors"})


def summary_rows(s: Summary) -> list[tuple[str, str]]:
    """(label, value) for each thing worth saying, in reading order; zero counts left out."""
    rate = s.bytes / s.duration if s.duration > 0 else 0

    def ents(n: int) -> str:
        return plural(n, "entity", "entities")

    rows = [
        ("checked", ents(s.checked)),
        ("created", ents(s.created)),
        ("updated", ents(s.updated)),
        ("deleted", ents(s.deleted) + (f" (moved to {s.trash})" if s.trash else "")),
        ("unchanged", ents(s.skipped)),
        ("conflicts", ents(s.conflicts) + (" left untouched" if s.conflicts else "")),
        ("blocked", ents(s.blocked)),
        ("kept", ents(s.exists) + " (overwrite policy)"),
        ("excluded", ents(s.excluded)),
        ("objects", f"{s.objects_added} added to the target config"),
        ("files", f"{s.files_written} written, {s.files_deleted} moved to trash, {s.files_skipped} skipped"),
        # replaced files and stale keys went there too ("" when the deleted row says it)
        ("trash", f"replaced files moved to {s.trash}" if s.trash and not s.deleted else ""),
        ("bytes", f"{human_bytes(s.bytes)} in {human_duration(s.duration)} ({human_bytes(rate)}/s)"),
        ("errors", str(len(s.errors))),
    ]
    out = [(label, value) for label, value in rows
           if value and (label in ALWAYS or not value.startswith("0 "))]
    if s.skipped_changed:
        out.append(("changed", f"{len(s.skipped_changed)} since the preview (skipped)"))
    return out
