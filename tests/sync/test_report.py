"""One summary formatter for the CLI and the app: what a finished sync says."""

from __future__ import annotations

from synctui.sync.engine import ItemError, Summary
from synctui.sync.report import summary_rows


def test_zero_counts_are_left_out_but_the_essentials_stay() -> None:
    rows = dict(summary_rows(Summary("s1", checked=3, skipped=3)))
    assert list(rows) == ["checked", "skipped", "files", "bytes", "errors"]
    assert rows["skipped"] == "3 entities (unchanged)" and rows["files"].endswith("0 not started")
    assert rows["checked"] == "3 entities" and rows["errors"] == "0"


def test_where_the_trash_is_is_said_once() -> None:
    trash = ".synctui-trash/s2"
    updated = dict(summary_rows(Summary("s2", checked=1, updated=1, files_written=1, files_deleted=2,
                                        trash=trash)))  # stale keys of an updated store
    assert updated["trash"] == f"2 files kept in {trash}"
    pruned = dict(summary_rows(Summary("s3", checked=1, deleted=1, files_deleted=1, trash=trash)))
    assert pruned["deleted"] == f"1 entity (moved to {trash})" and "trash" not in pruned


def test_what_changed_since_the_preview_is_counted() -> None:
    s = Summary("s4", checked=1, skipped_changed=[ItemError("a", "changed")], errors=[ItemError("b", "x")])
    rows = dict(summary_rows(s))
    assert rows["changed"] == "1 since the preview (not started)" and rows["errors"] == "1"


def test_replaced_versions_are_said_and_counted_in_the_trash() -> None:
    trash = ".synctui-trash/s5"
    rows = dict(summary_rows(Summary("s5", checked=1, updated=1, files_written=2, files_set_aside=2,
                                     trash=trash)))
    assert rows["trash"] == f"2 files kept in {trash}"
    assert rows["replaced"] == "2 target versions synctui had not written (the old ones are in the trash)"
