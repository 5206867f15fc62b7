"""The target's trash: where deletes go, listed and restorable.

Every delete the engine makes (pruned entities, stale zarr keys) is a rename to
``.synctui-trash/<sync id>/<original path>`` in the same root, so restoring is
a rename back.  The folder is hidden: copick and our catalog ignore it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from synctui.errors import SyncTuiError
from synctui.storage.base import Store
from synctui.sync.engine import TRASH_DIR

#: suffix of the batch a ``restore(replace=True)`` puts the versions it displaced into
REPLACED = ".replaced"


@dataclass
class TrashBatch:
    """What one sync moved to the trash."""

    sync_id: str
    files: list[str]
    bytes: int


def list_trash(store: Store) -> list[TrashBatch]:
    batches: dict[str, TrashBatch] = {}
    for info in store.scan(TRASH_DIR):
        rel = info.path[len(TRASH_DIR) + 1:]
        sync_id, _, original = rel.partition("/")
        if not original:
            continue
        batch = batches.setdefault(sync_id, TrashBatch(sync_id, [], 0))
        batch.files.append(original)
        batch.bytes += info.size
    return sorted(batches.values(), key=lambda b: b.sync_id)


@dataclass
class RestoreResult:
    restored: list[str]
    kept: list[tuple[str, str]]  # (path, why it was not restored)


def restore(store: Store, sync_id: str, pattern: str | None = None, *,
            replace: bool = False) -> RestoreResult:
    """Move a batch (or the files matching ``pattern``) back; never overwrite.

    ``replace``: where a file is there again (a version the sync replaced after moving
    the old one here), swap them: the current one goes into the batch ``<id>.replaced``,
    itself restorable, so nothing is ever lost either way."""
    batch = next((b for b in list_trash(store) if b.sync_id == sync_id), None)
    if batch is None:
        raise SyncTuiError(f"no trash batch {sync_id!r} (see `synctui trash list`)")
    result = RestoreResult([], [])
    for original in sorted(batch.files):
        if pattern and not fnmatch.fnmatchcase(original, pattern):
            continue
        if store.exists(original):
            if not replace:
                result.kept.append((original, "a file is there again; left in the trash "
                                              "(--replace swaps them)"))
                continue
            store.rename(original, f"{TRASH_DIR}/{sync_id}{REPLACED}/{original}")
        store.rename(f"{TRASH_DIR}/{sync_id}/{original}", original)
        result.restored.append(original)
    return result
