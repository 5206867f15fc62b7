"""The coordinator's side: the engine's execution seam, on a Dask cluster.

``ClusterExecution(engine)`` replaces the engine's own thread pool for one run.
The engine has already emitted ``SyncStarted``, counted what the plan leaves
alone, added pickable objects and (for a saved plan) listed the stores; here the
plan's writing entities go out as units, and what the workers stream back becomes
the engine's own events and ``Progress``, so the CLI, the app and
``SyncJob.progress`` look as they do for a local sync, plus ``Progress.workers``.

* **Faults.**  A worker that dies mid-unit: Dask runs the unit again elsewhere.
  Files are atomic, so the second attempt simply writes them again; the state
  records come with the attempt that finished, so each file is recorded once.
  A unit that kills every worker it meets (Dask's ``KilledWorker``) fails its
  entities with that cause.  No worker left for ``WORKERS_TIMEOUT``: the rest fails.
* **Cancel** sets the sync's ``distributed.Event``: running units finish their
  files in flight and start nothing new; units not yet started skip everything.
* The lock heartbeat stays here (``SyncJob`` holds the locks); a lock taken from
  us cancels every worker the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from synctui.project.config import ProjectConfig
from synctui.storage.base import FileInfo
from synctui.sync.cluster.connect import WORKERS_TIMEOUT, ClusterConnection
from synctui.sync.cluster.units import WorkUnit, make_units
from synctui.sync.cluster.worker import UnitJob, UnitResult, close_sync, run_unit
from synctui.sync.events import (
    ItemFailed,
    ItemFinished,
    ItemRetry,
    ItemSkipped,
    ItemStarted,
    Note,
    WorkerProgress,
)
from synctui.sync.plan import Act, FileAction

if TYPE_CHECKING:
    from synctui.sync.engine import Engine, Summary

log = logging.getLogger("synctui.cluster")

TICK = 0.2
#: after the last unit: how long to wait for its streamed events still on their way (s)
STREAM_GRACE = 5.0
#: how often to ask the scheduler whether any worker is left (s)
WORKER_CHECK = 5.0


def _plain(options: dict[str, object]) -> dict[str, object]:
    """The store options a worker can use: no callbacks (prompts are the coordinator's)."""
    return {k: v for k, v in options.items()
            if not k.endswith("_prompt") and (v is None or isinstance(v, (str, int, float, bool)))}


class ClusterExecution:
    """Run an engine's plan on a cluster (``Engine(execute=...)``)."""

    def __init__(self, connection: ClusterConnection, source: ProjectConfig, target: ProjectConfig,
                 store_options: dict[str, object]) -> None:
        self.connection = connection
        self.source = source
        self.target = target
        self.store_options = _plain(store_options)
        self._lock = threading.Lock()
        self._counted: set[str] = set()  # target paths whose progress was counted once
        self._attempts: dict[int, dict[str, str]] = {}  # unit -> attempt -> worker
        self._finished: set[str] = set()  # attempts whose result came back
        self._flying: dict[str, set[str]] = {}  # attempt -> paths in flight
        self._received: dict[str, int] = {}
        self.units: list[WorkUnit] = []
        self.reruns = 0

    # -- the seam -------------------------------------------------------------------------
    def __call__(self, engine: Engine) -> None:
        import distributed

        self.engine = engine
        client = self.connection.client()
        self.units = units = make_units(engine.plan, self.connection.slots())
        if not units:
            engine._finish_entities()
            return
        self._index = {fa.target_path: (ent, fa) for u in units for ent in u.entities for fa in ent.files}
        sid = engine.sync_id
        topic, cancel_name = f"synctui-{sid}", f"synctui-cancel-{sid}"
        flag = distributed.Event(cancel_name, client=client)
        client.subscribe_topic(topic, self._on_message)
        engine.sink.emit(Note("info", f"running {len(units)} work units on the Dask cluster "
                                      f"{self.connection.display}"))
        futures: dict[Any, WorkUnit] = {}
        try:
            for rank, unit in enumerate(sorted(units, key=lambda u: -u.cost)):
                job = self._job(unit, topic, cancel_name)
                fut = client.submit(run_unit, job, key=f"synctui-unit-{sid}-{unit.index}", pure=False,
                                    priority=len(units) - rank)  # the biggest start first
                futures[fut] = unit
            self._wait(client, futures, flag)
            self._await_stream(futures)
        finally:
            try:
                client.unsubscribe_topic(topic)
            except Exception:  # noqa: BLE001 - the scheduler may be gone
                log.debug("unsubscribe failed", exc_info=True)
            self._close_worker_stores(client, sid)
            try:
                flag.clear()  # the scheduler forgets the flag
            except Exception:  # noqa: BLE001
                log.debug("clearing the cancel flag failed", exc_info=True)
        self._reconcile_progress()
        engine._finish_entities()

    def _job(self, unit: WorkUnit, topic: str, cancel_name: str) -> UnitJob:
        e = self.engine
        fresh: dict[str, dict[str, FileInfo] | None] = {}
        if e.verify:  # the coordinator's one listing, cut to this unit's files
            for key, listing in e._fresh.items():
                if listing is None:
                    fresh[key] = None
                    continue
                want = {fa.target_path if key == "target" else (fa.source_path or "")
                        for ent in unit.entities for fa in ent.files}
                fresh[key] = {p: listing[p] for p in want if p in listing}
        return UnitJob(e.sync_id, unit.index, unit.entities, e.plan.options, self.source, self.target,
                       self.store_options, e.max_workers, e.retries, e.verify, fresh, topic, cancel_name,
                       e.plan.target_label)

    # -- waiting --------------------------------------------------------------------------
    def _wait(self, client: Any, futures: dict[Any, WorkUnit], flag: Any) -> None:
        e = self.engine
        pending = dict(futures)
        cancelled = False
        next_check, no_workers_since = time.monotonic() + WORKER_CHECK, None
        while pending:
            e._check_lock()  # a lock taken from us cancels, as on one machine
            if e.cancel_event.is_set() and not cancelled:
                cancelled = True
                try:
                    flag.set()
                except Exception:  # noqa: BLE001 - the units then run to their end
                    log.warning("could not tell the workers to cancel", exc_info=True)
            for fut in [f for f in pending if f.done()]:
                self._settle(fut, pending.pop(fut))
            if not pending:
                break
            now = time.monotonic()
            if now >= next_check:
                next_check = now + WORKER_CHECK
                if self._worker_count(client) == 0:
                    no_workers_since = no_workers_since or now
                    if now - no_workers_since >= WORKERS_TIMEOUT:
                        self._give_up(client, pending, f"no Dask worker left in {self.connection.display} "
                                                       f"for {WORKERS_TIMEOUT:g} s")
                        return
                else:
                    no_workers_since = None
            time.sleep(TICK)

    def _worker_count(self, client: Any) -> int:
        try:
            return len(client.scheduler_info()["workers"])
        except Exception:  # noqa: BLE001 - the scheduler is unreachable: same as no worker
            return 0

    def _give_up(self, client: Any, pending: dict[Any, WorkUnit], why: str) -> None:
        try:
            client.cancel(list(pending))
        except Exception:  # noqa: BLE001
            log.debug("cancel failed", exc_info=True)
        for unit in pending.values():
            self._fail_unit(unit, why)

    def _settle(self, fut: Any, unit: WorkUnit) -> None:
        """A unit's future is done: merge its result, or fail its entities with the cause."""
        try:
            result: UnitResult = fut.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler, a bug on a worker
            name = type(exc).__name__
            if name == "KilledWorker":
                why = f"every worker that ran its work unit died ({exc})"
            else:
                log.error("work unit %d failed", unit.index, exc_info=exc)
                why = f"its work unit failed on the cluster: {name}: {exc}"
            self._fail_unit(unit, why)
            return
        with self._lock:
            self._finished.add(result.attempt)
            self._attempt_seen(result.unit, result.attempt, result.worker)
            self._flying.pop(result.attempt, None)
            w = self._worker(result.worker)
            w.running = max(0, w.running - 1)
            w.units_done += 1
        if result.setup_error is not None:
            self._fail_unit(unit, result.setup_error)
            return
        assert result.summary is not None
        self._merge(result.summary)
        rec = self.engine.recorder
        for path, info in result.records:
            ent, fa = self._index[path]
            with self._lock:
                self._count(fa, result.worker)
            if rec is not None:
                try:
                    rec(ent, fa, info)
                except Exception:  # noqa: BLE001 - losing a record never loses data
                    log.exception("could not record %s in the state database", path)

    def _fail_unit(self, unit: WorkUnit, why: str) -> None:
        for ent in unit.entities:
            self.engine._fail(ent.target_path, why)
        with self._lock:
            for ent in unit.entities:
                for fa in ent.files:
                    self.engine.sink.progress.in_flight.pop(fa.target_path, None)

    def _merge(self, part: Summary) -> None:
        s = self.engine.summary
        with self.engine._lock:
            for name in ("created", "updated", "deleted", "destroyed", "files_written", "files_deleted",
                         "files_destroyed", "files_skipped", "bytes"):
                setattr(s, name, getattr(s, name) + getattr(part, name))
            s.errors.extend(part.errors)
            s.skipped_changed.extend(part.skipped_changed)

    def _await_stream(self, futures: dict[Any, WorkUnit]) -> None:
        """The last events of the last units may still be on their way: take them (bounded)."""
        wanted: dict[str, int] = {}
        for fut in futures:
            if fut.status == "finished":
                try:
                    r = fut.result()
                except Exception:  # noqa: BLE001
                    continue
                wanted[r.attempt] = r.sent
        deadline = time.monotonic() + STREAM_GRACE
        while time.monotonic() < deadline:
            with self._lock:
                if all(self._received.get(a, 0) >= n for a, n in wanted.items()):
                    return
            time.sleep(0.05)
        log.info("some streamed events did not arrive in time; the summary is complete anyway")

    def _close_worker_stores(self, client: Any, sync_id: str) -> None:
        try:
            client.run(close_sync, sync_id)
        except Exception:  # noqa: BLE001 - a worker gone: its stores went with it
            log.debug("closing the workers' stores failed", exc_info=True)

    def _reconcile_progress(self) -> None:
        """The totals from the units' summaries (streamed counts may hold a dead attempt's)."""
        prog, s = self.engine.sink.progress, self.engine.summary
        with self._lock:
            prog.failed = len(s.errors)
            prog.skipped = s.files_skipped
            prog.in_flight.clear()
            for w in prog.workers.values():
                w.running = 0

    # -- the stream (called on the client's event loop thread) -----------------------------
    def _worker(self, name: str) -> WorkerProgress:
        workers = self.engine.sink.progress.workers
        w = workers.get(name)
        if w is None:
            w = workers[name] = WorkerProgress(name)
        return w

    def _attempt_seen(self, unit: int, attempt: str, worker: str) -> None:
        """A new attempt of ``unit``: earlier unfinished ones died with their workers."""
        known = self._attempts.setdefault(unit, {})
        if attempt in known:
            return
        for old, where in known.items():
            if old in self._finished:
                continue
            self._finished.add(old)
            prog = self.engine.sink.progress
            for path in self._flying.pop(old, set()):
                prog.in_flight.pop(path, None)
            lost = self._worker(where)
            lost.running = max(0, lost.running - 1)
            lost.lost += 1
            self.reruns += 1
            note = f"work unit {unit} re-ran on {worker}: {where} was lost while running it"
            self.engine.summary.notes.append(note)
            self.engine.sink.emit(Note("warning", note))
        known[attempt] = worker
        if attempt not in self._finished:
            self._worker(worker).running += 1

    def _on_message(self, event: tuple[float, dict]) -> None:
        try:
            self._take(event[1])
        except Exception:  # noqa: BLE001 - a bad message must not stop the client's loop
            log.exception("bad message from a worker")

    def _take(self, msg: dict) -> None:
        unit, attempt, worker = int(msg["u"]), str(msg["a"]), str(msg["w"])
        sink = self.engine.sink
        prog = sink.progress
        with self._lock:
            self._received[attempt] = self._received.get(attempt, 0) + 1
            self._attempt_seen(unit, attempt, worker)
            flying = self._flying.setdefault(attempt, set()) if attempt not in self._finished else set()
            for kind, a, n, *rest in msg["ev"]:
                if kind == "s":
                    prog.in_flight[a] = n
                    flying.add(a)
                    sink.emit(ItemStarted(a, n))
                    continue
                if kind == "n":
                    sink.emit(Note(a, rest[0]))
                    continue
                if kind == "r":
                    sink.emit(ItemRetry(a, n, rest[0]))
                    continue
                prog.in_flight.pop(a, None)
                flying.discard(a)
                if kind == "f":
                    found = self._index.get(a)
                    if found is not None:
                        self._count(found[1], worker)
                    sink.emit(ItemFinished(a, rest[0], n))
                elif kind == "k":
                    prog.skipped += 1
                    sink.emit(ItemSkipped(a, rest[0]))
                elif kind == "x":
                    prog.failed += 1
                    sink.emit(ItemFailed(a, rest[0]))

    def _count(self, fa: FileAction, worker: str) -> None:
        """Count one file done, once, whichever attempt (or the final result) says so first."""
        if fa.target_path in self._counted:
            return
        self._counted.add(fa.target_path)
        prog = self.engine.sink.progress
        size = fa.size if fa.action is not Act.DELETE else 0
        prog.done_files += 1
        prog.done_bytes += size
        w = self._worker(worker)
        w.files += 1
        w.bytes += size

