"""Events: typed, in order, and a sink that never makes the engine wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sync_helpers import Pair, basic_source, zarr_files

from synctui.project.catalog import open_project
from synctui.sync.engine import Engine, Summary
from synctui.sync.events import (
    EventSink,
    ItemFailed,
    ItemFinished,
    ItemSkipped,
    ItemStarted,
    Note,
    Progress,
    SyncFinished,
    SyncStarted,
)
from synctui.sync.plan import make_plan


def big_pair(tmp_path: Path, runs: int = 4, chunks: int = 40) -> Pair:
    names = tuple(f"TS_{i:03d}" for i in range(runs))
    return Pair(tmp_path, source_files=basic_source(names, chunks=chunks, chunk_size=64))


def run_engine(pair: Pair, sink: EventSink, **kw) -> tuple[Summary, object]:
    s, t = open_project(pair.src, fsync=False), open_project(pair.dst, fsync=False)
    plan = make_plan(s, t)
    return Engine(plan, s, t, sink=sink, **kw).run(), plan


def test_typed_events_in_order(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    s, t = open_project(pair.src, fsync=False), open_project(pair.dst, fsync=False)
    plan = make_plan(s, t)
    gone = "ExperimentRuns/TS_001/Meshes/alice_1_ribosome.glb"
    (pair.src_root / gone).unlink()
    sink = EventSink()
    summary = Engine(plan, s, t, sink=sink, max_workers=3).run()
    events = sink.drain()
    assert sink.drain() == []  # drained
    assert isinstance(events[0], SyncStarted) and isinstance(events[-1], SyncFinished)
    start = events[0]
    assert (start.sync_id, start.entities, start.files, start.bytes) == \
        (summary.sync_id, len(plan.entities), plan.transfer_files, plan.transfer_bytes)
    assert events[-1].summary is summary
    assert sum(isinstance(e, (SyncStarted, SyncFinished)) for e in events) == 2
    started = {e.path: i for i, e in enumerate(events) if isinstance(e, ItemStarted)}
    finished = {e.path: i for i, e in enumerate(events) if isinstance(e, ItemFinished)}
    failed = [e for e in events if isinstance(e, ItemFailed)]
    assert set(started) == set(pair.src_files)
    assert set(finished) == set(pair.src_files) - {gone}
    assert all(started[p] < finished[p] for p in finished)
    assert [(f.path, "no longer exists" in f.message) for f in failed] == [(gone, True)]
    assert started[gone] < events.index(failed[0])
    done = [e for e in events if isinstance(e, ItemFinished)]
    assert all(e.action == "create" for e in done)
    assert {e.path: e.size for e in done} == {p: len(b) for p, b in pair.src_files.items() if p != gone}


def test_skip_events_carry_their_reason(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    s, t = open_project(pair.src, fsync=False), open_project(pair.dst, fsync=False)
    plan = make_plan(s, t)
    changed = "ExperimentRuns/TS_002/Meshes/alice_1_ribosome.glb"
    (pair.src_root / changed).write_bytes(b"different now")
    sink = EventSink()
    Engine(plan, s, t, sink=sink, verify=True).run()
    skipped = [e for e in sink.drain() if isinstance(e, ItemSkipped)]
    assert [(e.path, "since the plan" in e.reason) for e in skipped] == [(changed, True)]


def test_drain_keeps_order_and_honours_limit() -> None:
    sink = EventSink()
    for i in range(100):
        sink.emit(Note("info", str(i)))
    first = sink.drain(limit=30)
    rest = sink.drain()
    assert [e.text for e in first + rest] == [str(i) for i in range(100)]
    assert len(first) == 30 and sink.drain() == []
    assert sink.emitted == 100


def test_concurrent_producers_keep_their_own_order() -> None:
    sink = EventSink()
    n, per = 6, 5000

    def produce(k: int) -> None:
        for i in range(per):
            sink.emit(Note(str(k), str(i)))

    drained: list = []
    threads = [threading.Thread(target=produce, args=(k,)) for k in range(n)]
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        drained.extend(sink.drain(limit=500))
    for th in threads:
        th.join()
    drained.extend(sink.drain())
    assert len(drained) == n * per
    for k in range(n):
        assert [int(e.text) for e in drained if e.level == str(k)] == list(range(per))


def test_a_full_sink_drops_old_events_but_never_blocks(tmp_path: Path) -> None:
    pair = big_pair(tmp_path, runs=3, chunks=30)
    sink = EventSink(maxlen=10)  # nobody drains this one
    summary, plan = run_engine(pair, sink, max_workers=4)
    assert summary.errors == [] and summary.files_written == plan.transfer_files
    events = sink.drain()
    assert len(events) == 10 and isinstance(events[-1], SyncFinished)
    # totals live in Progress, so a consumer that lost events still shows the right numbers
    p = sink.progress
    assert (p.done_files, p.done_bytes) == (plan.transfer_files, plan.transfer_bytes)
    assert p.percent == 100.0


def test_the_engine_never_waits_for_a_consumer(tmp_path: Path) -> None:
    """Hold the sink's lock (as a drain in progress does) for the whole run: it still completes."""
    pair = big_pair(tmp_path, runs=3, chunks=20)
    sink = EventSink()
    result: list[Summary] = []
    with sink._lock:
        th = threading.Thread(target=lambda: result.append(run_engine(pair, sink, max_workers=4)[0]))
        th.start()
        th.join(60)
        assert not th.is_alive(), "the engine waited for the event consumer"
    assert result and result[0].errors == []
    assert pair.target_tree() == pair.source_tree()


def test_throughput_does_not_depend_on_the_consumer(tmp_path: Path) -> None:
    files = {}
    for i in range(6):
        files.update(zarr_files(f"ExperimentRuns/TS_{i:03d}/VoxelSpacing10.000/wbp.zarr", chunks=60,
                                chunk_size=32, seed=i))

    def timed(where: str, consumer: str) -> float:
        pair = Pair(tmp_path / where, source_files=files)
        sink = EventSink()
        stop = threading.Event()

        def slow_consumer() -> None:  # drains one event at a time and dawdles
            while not stop.is_set():
                sink.drain(limit=1)
                time.sleep(0.01)

        th = threading.Thread(target=slow_consumer) if consumer == "slow" else None
        if th:
            th.start()
        t0 = time.perf_counter()
        summary, _ = run_engine(pair, sink, max_workers=4)
        took = time.perf_counter() - t0
        stop.set()
        if th:
            th.join()
        assert summary.errors == []
        return took

    timed("warmup", "none")
    alone = min(timed(f"none{i}", "none") for i in range(2))
    slow = min(timed(f"slow{i}", "slow") for i in range(2))
    # 1,800 files: a consumer that blocked the engine would add ~10 ms per event
    assert slow < 3 * alone + 1.0, (alone, slow)


def test_progress_percent_eta_and_rate() -> None:
    p = Progress()
    assert p.percent == 0.0 and p.eta is None
    p.finished = True
    assert p.percent == 100.0
    p = Progress(total_files=4)
    p.done_files = 1
    assert p.percent == 25.0  # by files when nothing has bytes
    p = Progress(total_files=2, total_bytes=1000, started_at=time.monotonic() - 2)
    p.done_bytes = 500
    assert p.percent == 50.0
    assert 200 < p.rate <= 250
    assert p.eta is not None and 1.5 < p.eta < 2.5
    p.done_bytes = 2000
    assert p.percent == 100.0
