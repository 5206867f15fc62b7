"""What a Dask worker runs: one work unit, through the ordinary engine.

The worker opens its own stores from the two configs, with credentials from its
own environment (key files, the agent, ``SYNCTUI_SSH_PASSWORD`` ...).  It cannot
ask anyone anything: a store that would prompt (an unknown host key, a password)
is refused at once, and the unit fails with that cause instead of hanging.
Stores stay open in the worker process for the sync's further units and are
closed when the coordinator says the sync is over (``close_sync``).

While the unit runs, a helper thread ships the engine's events to the coordinator
in batches (``Worker.log_event`` on the sync's topic) and watches the sync's
cancel ``distributed.Event``: then the engine starts nothing new, files in flight
get ``CANCEL_GRACE`` seconds, and then their requests are broken off.  A unit
whose coordinator died (the scheduler released its task) stops the same way, so
no orphan keeps writing into a target nobody holds the lock of.  The result
carries the unit's summary and the state records of the files it wrote; the
coordinator, not the worker, writes the state database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from synctui.errors import SyncTuiError
from synctui.project.catalog import Catalog
from synctui.project.config import ProjectConfig
from synctui.storage.base import FileInfo, Store
from synctui.sync.engine import Engine, Summary
from synctui.sync.events import (
    EventSink,
    ItemFailed,
    ItemFinished,
    ItemRetry,
    ItemSkipped,
    ItemStarted,
    Note,
)
from synctui.sync.plan import EntityPlan, Plan, PlanOptions

log = logging.getLogger("synctui.cluster")

#: how often the helper thread ships events and looks at the cancel flag (s)
TICK = 0.25


@dataclass
class UnitJob:
    """Everything a worker needs for one unit (pickled to it)."""

    sync_id: str
    unit: int
    entities: list[EntityPlan]
    options: PlanOptions
    source: ProjectConfig
    target: ProjectConfig
    store_options: dict[str, object]
    max_workers: int
    retries: int
    verify: bool
    #: for a saved plan: the coordinator's listings of the files this unit touches
    #: (key as in the engine: "target", "source:<root>"; None: stat file by file)
    fresh: dict[str, dict[str, FileInfo] | None] = field(default_factory=dict)
    topic: str = ""
    cancel_name: str = ""
    label: str = ""


@dataclass
class UnitResult:
    unit: int
    attempt: str
    worker: str
    summary: Summary | None
    #: (target path, what was written, None for a delete): the coordinator records them
    records: list[tuple[str, FileInfo | None]] = field(default_factory=list)
    #: messages this attempt streamed (the coordinator waits until it has them all)
    sent: int = 0
    #: the unit could not start here at all (stores would not open): why, one line
    setup_error: str | None = None


class _Refusals:
    """A prompt callback for a process nobody watches: it refuses, and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def ssh(self, request: Any) -> None | bool:
        self.asked.append(f"{request.kind} for {request.target}")
        return False if request.kind == "host-key" else None

    def webdav(self, root: str, realm: str | None, why: str) -> None:
        self.asked.append(f"credentials for {root}")
        return None


_stores: dict[tuple[str, str, str], Store] = {}
_stores_lock = threading.Lock()


def _open(job: UnitJob, side: str, root: str, cfg: ProjectConfig) -> Store:
    """The store of ``side``'s ``root`` for this sync, opened once per worker process."""
    from synctui.storage.open import open_store

    key = (job.sync_id, side, root)
    with _stores_lock:
        store = _stores.get(key)
    if store is not None:
        return store
    location = cfg.overlay if root == "overlay" else cfg.static
    if location is None:
        raise SyncTuiError(f"the {side} config has no {root} root")
    refusals = _Refusals()
    store = open_store(location, **job.store_options, ssh_prompt=refusals.ssh,
                       webdav_prompt=refusals.webdav)
    try:
        store.stat(".synctui-lock")  # connect and log in now: a refusal fails the unit, not each file
    except SyncTuiError as exc:
        store.close()
        why = f"cannot open the {side} {location.display}: {exc}"
        if refusals.asked:
            why += f" (a worker cannot answer prompts: it was asked for {refusals.asked[0]})"
        raise SyncTuiError(why) from exc
    with _stores_lock:
        if key in _stores:  # another unit of this sync opened it meanwhile: use that one
            store.close()
            return _stores[key]
        _stores[key] = store
    return store


def close_sync(sync_id: str) -> int:
    """Close this process's stores of ``sync_id`` (run on every worker at the end)."""
    with _stores_lock:
        mine = [k for k in _stores if k[0] == sync_id]
        stores = [_stores.pop(k) for k in mine]
    for store in stores:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            log.debug("closing %r failed", store, exc_info=True)
    return len(stores)


class UnitEngine(Engine):
    """The engine on one unit: a saved plan's checks use the coordinator's listings."""

    def __init__(self, *args: Any, fresh: dict[str, dict[str, FileInfo] | None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shipped = fresh

    def _list_fresh(self) -> None:
        self._fresh = dict(self._shipped)


def _event_row(ev: object) -> list | None:
    """An engine event as a msgpack-able row (None: not forwarded)."""
    if isinstance(ev, ItemStarted):
        return ["s", ev.path, ev.size]
    if isinstance(ev, ItemFinished):
        return ["f", ev.path, ev.size, ev.action]
    if isinstance(ev, ItemSkipped):
        return ["k", ev.path, 0, ev.reason]
    if isinstance(ev, ItemFailed):
        return ["x", ev.path, 0, ev.message]
    if isinstance(ev, ItemRetry):
        return ["r", ev.path, ev.attempt, ev.message]
    if isinstance(ev, Note):
        return ["n", ev.level, 0, ev.text]
    return None  # SyncStarted/SyncFinished of the unit: the coordinator has its own


def _worker() -> tuple[Any, str]:
    try:
        from distributed import get_worker

        w = get_worker()
        return w, str(w.name if w.name is not None else w.address)
    except ValueError:  # not on a worker (called directly, e.g. in a debugger)
        return None, f"{socket.gethostname()}:{os.getpid()}"


def _task_key() -> Any:
    try:
        from distributed.worker import thread_state

        return getattr(thread_state, "key", None)
    except ImportError:
        return None


def _orphaned(worker: Any, key: Any) -> bool:
    """Has the scheduler released our task (its client, the coordinator, is gone)?"""
    if worker is None or key is None:
        return False
    ts = worker.state.tasks.get(key)
    return ts is None or ts.state in ("cancelled", "released", "forgotten")


def run_unit(job: UnitJob) -> UnitResult:
    """Run one unit here; never raises for what goes wrong with stores or files."""
    worker, name = _worker()
    key = _task_key()
    attempt = uuid.uuid4().hex[:8]
    sink = EventSink()
    cancel = threading.Event()
    done = threading.Event()
    sent = [0]

    def ship(rows: list) -> None:
        if worker is not None and job.topic and rows:
            worker.log_event(job.topic, {"u": job.unit, "a": attempt, "w": name, "ev": rows})
            sent[0] += 1

    def pump() -> None:
        """Ship events every tick; obey the sync's cancel flag, and stop the same way when
        nobody wants the result any more (the coordinator died: the scheduler released it)."""
        flag = None
        if worker is not None and job.cancel_name:
            from distributed import Event

            flag = Event(job.cancel_name, client=worker.client)
        cut: threading.Timer | None = None
        while True:
            finished = done.wait(TICK)
            rows = [r for r in (_event_row(ev) for ev in sink.drain()) if r is not None]
            ship(rows)
            if finished:
                break
            if flag is not None and not cancel.is_set():
                try:
                    seen = flag.is_set() or _orphaned(worker, key)
                except Exception:  # noqa: BLE001 - the scheduler is away: keep going, ask again
                    seen = False
                if seen:
                    cancel.set()
                    from synctui.sync.api import CANCEL_GRACE

                    cut = threading.Timer(CANCEL_GRACE, _interrupt, args=(stores,))
                    cut.daemon = True
                    cut.start()
        if cut is not None:
            cut.cancel()

    stores: list[Store] = []
    try:
        if worker is not None and job.cancel_name:
            from distributed import Event

            if Event(job.cancel_name, client=worker.client).is_set():
                cancel.set()  # cancelled before we started: open nothing
        if not cancel.is_set():
            roots = {e.source_root or "overlay" for e in job.entities}
            src = {r: _open(job, "source", r, job.source) for r in sorted(roots)}
            dst = _open(job, "target", "overlay", job.target)
            stores.extend([*src.values(), dst])
    except SyncTuiError as exc:
        return UnitResult(job.unit, attempt, name, None, setup_error=f"worker {name}: {exc}")
    plan = Plan(job.label, job.label, None, None, job.options, {}, entities=list(job.entities))
    records: list[tuple[str, FileInfo | None]] = []
    rec_lock = threading.Lock()

    def record(ent: EntityPlan, fa: Any, info: FileInfo | None) -> None:
        with rec_lock:
            records.append((fa.target_path, info))

    if cancel.is_set():
        summary = Summary(job.sync_id)
        for ent in job.entities:
            for fa in ent.files:
                summary.files_skipped += 1
                sink.emit(ItemSkipped(fa.target_path, "cancelled"))
        ship([r for r in (_event_row(ev) for ev in sink.drain()) if r is not None])
        return UnitResult(job.unit, attempt, name, summary, [], sent[0])
    source = Catalog(job.source, stores={r: s for r, s in src.items()})
    target = Catalog(job.target, stores={"overlay": dst})
    engine = UnitEngine(plan, source, target, sink=sink, max_workers=job.max_workers, cancel=cancel,
                        verify=job.verify, retries=job.retries, recorder=record,
                        sync_id=job.sync_id, fresh=job.fresh)
    helper = threading.Thread(target=pump, name=f"synctui-unit-{job.unit}", daemon=True)
    helper.start()
    try:
        summary = engine.run()
    finally:
        done.set()
        helper.join()
        for store in stores:
            store.resume()  # after a cancel's cut: later syncs may reuse nothing, but close cleanly
    return UnitResult(job.unit, attempt, name, summary, records, sent[0])


def _interrupt(stores: list[Store]) -> None:
    for store in stores:
        try:
            store.interrupt()
        except Exception:  # noqa: BLE001 - best effort
            log.debug("interrupting %r failed", store, exc_info=True)
