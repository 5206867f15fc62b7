"""Big files stream with their length promised to the target store: a source that
grows or shrinks while it is copied fails alone, and nothing partial is published."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_helpers import Pair, basic_source, read_tree, temp_files

from synctui.project.catalog import open_project
from synctui.sync.engine import SMALL_FILE, Engine
from synctui.sync.plan import make_plan

BIG = "ExperimentRuns/TS_001/Meshes/bob_0_ribosome.glb"


class NoFastCopy:
    """The real local store without its kernel-copy shortcut: the engine streams, as to a remote."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name: str):
        if name == "copy_from":
            raise AttributeError(name)
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
