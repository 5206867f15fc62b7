"""Big files stream with their length promised to the target store: a source that
grows or shrinks while it is copied fails alone, and nothing partial is published."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sync_helpers import Pair, basic_source, read_tree, temp_files

from synctui.project.catalog import open_project
from synctui.sync.engine import SMALL_FILE, Engine
from synctui.sync.plan import make_plan

BIG = "ExperimentRuns/TS_001/Meshes/bob_0_ribosome.glb"


class NoFastCopy:
    """The real local store declaring no kernel-copy shortcut: the engine streams, as to a remote."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.features = dataclasses.replace(inner.features, server_copy=False)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


@pytest.mark.parametrize("change", [+1000, -1000], ids=["grew", "shrank"])
def test_a_big_source_changing_length_mid_copy_fails_alone(tmp_path: Path, change: int) -> None:
    files = basic_source(("TS_001",))
    files[BIG] = b"x" * (SMALL_FILE + 4096)
    pair = Pair(tmp_path, source_files=files)
    src, dst = open_project(pair.src, fsync=False), open_project(pair.dst, fsync=False)
    plan = make_plan(src, dst)
    dst.stores["overlay"] = NoFastCopy(dst.stores["overlay"])
    big = pair.src_root / BIG
    big.write_bytes(b"y" * (big.stat().st_size + change))  # after the plan, before the copy
    summary = Engine(plan, src, dst, max_workers=2).run()
    assert [e.path for e in summary.errors] == [BIG]
    assert "did the source change while it was read" in summary.errors[0].message
    tree = read_tree(pair.dst_root)
    assert BIG not in tree
    assert {k: v for k, v in tree.items()} == {k: v for k, v in files.items() if k != BIG}
    assert temp_files(pair.dst_root) == []


class DropOnce:
    """The real local store whose first batch is lost as a dropped connection would lose it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def write_many(self, items):
        self.batches += 1
        if self.batches == 1:
            from synctui.errors import StoreError

            return [StoreError("connection lost", transient=True) for _ in items]
        return self.inner.write_many(items)


def test_a_lost_batch_backs_off_once_then_goes_file_by_file(tmp_path: Path, monkeypatch) -> None:
    import synctui.sync.engine as engine_mod
    from synctui.sync.events import EventSink, ItemRetry

    pair = Pair(tmp_path, source_files=basic_source(("TS_001",)))
    src, dst = open_project(pair.src, fsync=False), open_project(pair.dst, fsync=False)
    plan = make_plan(src, dst)
    dst.stores["overlay"] = DropOnce(dst.stores["overlay"])
    slept: list[float] = []
    monkeypatch.setattr(engine_mod.Engine, "_pause", lambda self, seconds: slept.append(seconds))
    sink = EventSink()
    summary = Engine(plan, src, dst, max_workers=1, sink=sink, backoff=0.3).run()
    assert summary.errors == [] and read_tree(pair.dst_root) == pair.src_files
    retried = [e for e in sink.drain() if isinstance(e, ItemRetry)]
    assert retried and all(e.attempt == 1 for e in retried)
    assert slept == [0.3]  # one backoff for the whole batch, not one per file
