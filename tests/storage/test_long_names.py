"""File names up to the 255-byte limit sync over every transport (issue #12, item 11).

The temp name a write uses before its rename must fit wherever the final name fits, and
still be one the next sync recognises (and sweeps) as a temp.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_helpers import Pair, temp_files, tomo_path, zarr_files
from transports import Transport

from synctui.storage.base import NAME_MAX, TEMP_PREFIX, VISIBLE_TEMP_PREFIX, is_temp_path, temp_name
from synctui.sync.api import SyncJob

STORE = tomo_path("TS_001")
#: 250 ASCII characters; 255 bytes of UTF-8 (2 + 126 two-byte characters + 1)
LONG_ASCII = [f"{i:02d}" + "x" * 248 for i in range(20)]
LONG_UTF8 = [f"{i:02d}" + "é" * 126 + "y" for i in range(20)]


def test_names_are_as_long_as_the_tests_say() -> None:
    assert {len(n) for n in LONG_ASCII} == {250}
    assert {len(n.encode()) for n in LONG_UTF8} == {NAME_MAX}


@pytest.mark.parametrize("prefix", [TEMP_PREFIX, VISIBLE_TEMP_PREFIX])
@pytest.mark.parametrize("name", ["a", "x" * 250, "é" * 127, "€" * 85, "x" * 229 + "é" * 13])
def test_temp_names_fit_and_are_recognised(prefix: str, name: str) -> None:
    tmp = temp_name(name, "0123456789ab", prefix)
    assert len(tmp.encode()) <= NAME_MAX
    tmp.encode("utf-8")  # cut between characters, never inside one
    assert is_temp_path(f"ExperimentRuns/TS_001/{tmp}")
    assert tmp.startswith(prefix) and tmp.endswith(".0123456789ab")
    if len(f"{prefix}{name}.0123456789ab".encode()) <= NAME_MAX:
        assert tmp == f"{prefix}{name}.0123456789ab"  # short names are left whole


def test_long_names_sync_over_every_transport(transport: Transport, tmp_path: Path) -> None:
    files = zarr_files(STORE, chunks=1)
    for i, name in enumerate(LONG_ASCII + LONG_UTF8):
        files[f"{STORE}/0/{name}"] = bytes([i]) * (100 + i)
    # one big file too: it goes alone, not in a batch
    files[f"{STORE}/0/big-" + "z" * 246] = b"b" * (3 << 20)
    pair = Pair(tmp_path, files, transport=transport)
    summary = SyncJob(pair.src, pair.dst).run()
    assert summary.errors == [] and summary.status == "ok"
    assert pair.target_tree() == files
    assert temp_files(pair.dst_root) == []
    assert SyncJob(pair.src, pair.dst).plan().is_noop
