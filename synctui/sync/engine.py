"""Execute a Plan: exactly what it says, in parallel, never losing data.

Files move on a thread pool.  Within an entity, data files go first, then the
zarr metadata keys, then stale keys leave (into the trash), so a store that is
half synced never looks complete.  Every write is atomic in the store (temp +
rename).  A failing file is done again whole (``retries`` times, backoff doubling)
when the store says the error is transient and did not already retry that request
itself (``StoreError.retried``, storage/retry.py): the two levels never multiply,
so against a server failing every request a file costs 1 + ``retries`` (default 4)
sends of that request.  Then it is reported; it never stops the others.  Cancelling lets in-flight files
finish and starts nothing new.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from synctui.errors import (
    EXIT_CANCELLED,
    EXIT_CONFLICTS,
    EXIT_OK,
    EXIT_PARTIAL,
    StoreError,
    SyncTuiError,
)
from synctui.format import plural
from synctui.project.catalog import Catalog
from synctui.storage.base import FileInfo, Store, read_stream
from synctui.sync.events import (
    EventSink,
    ItemFailed,
    ItemFinished,
    ItemRetry,
    ItemSkipped,
    ItemStarted,
    Note,
    Progress,
    SyncFinished,
    SyncStarted,
)
from synctui.sync.plan import Act, EntityPlan, FileAction, Plan, is_zarr_metadata
from synctui.sync.transform import transform_annotation

log = logging.getLogger("synctui.engine")

TRASH_DIR = ".synctui-trash"
SMALL_FILE = 8 << 20  # read whole below this; stream above
# small files travel in batches where a store has a batch API (SFTP: one tar stream)
BATCH_FILE_MAX = 1 << 20
BATCH_FILES = 256
BATCH_BYTES = 16 << 20


@dataclass
class ItemError:
    path: str
    message: str


@dataclass
class Summary:
    """What a sync did, counted per entity and per file, with every error."""

    sync_id: str
    checked: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    conflicts: int = 0
    blocked: int = 0
    exists: int = 0
    excluded: int = 0
    files_written: int = 0
    files_deleted: int = 0
    #: of ``files_deleted``, those destroyed (``--prune=delete``), not moved into the trash
    files_destroyed: int = 0
    #: target versions synctui had not written, moved into the trash before being replaced
    files_set_aside: int = 0
    files_skipped: int = 0
    objects_added: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.time)
    duration: float = 0.0
    cancelled: bool = False
    errors: list[ItemError] = field(default_factory=list)
    skipped_changed: list[ItemError] = field(default_factory=list)
    #: of ``deleted``, the entities destroyed (``--prune=delete``)
    destroyed: int = 0
    #: where this sync's trash is in the target; None when nothing went there
    trash: str | None = None
    #: what the history should remember beyond the counts (a lock broken on the way in ...)
    notes: list[str] = field(default_factory=list)

    @property
    def files_trashed(self) -> int:
        return self.files_deleted - self.files_destroyed

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.errors:
            return "partial" if (self.files_written or self.files_deleted) else "failed"
        return "ok"

    @property
    def exit_code(self) -> int:
        if self.cancelled:
            return EXIT_CANCELLED
        if self.errors:
            return EXIT_PARTIAL
        return EXIT_OK  # conflicts left untouched are reported, not a failure

    def exit_code_strict(self) -> int:
        """Like ``exit_code`` but conflicts left untouched give EXIT_CONFLICTS (--fail-on-conflict)."""
        code = self.exit_code
        return EXIT_CONFLICTS if code == EXIT_OK and self.conflicts else code

    @property
    def nothing_to_do(self) -> bool:
        return not (self.created or self.updated or self.deleted or self.objects_added or self.errors)


class _EntityRun:
    """Book-keeping for one entity's phases (data, metadata, stale deletes)."""

    __slots__ = ("plan", "phases", "pending", "failed", "held", "lock")

    def __init__(self, plan: EntityPlan, phases: list[list[FileAction]]) -> None:
        self.plan = plan
        self.phases = [p for p in phases if p]
        self.pending = 0
        self.failed = 0
        self.held = 0  # files skipped because they changed since a saved plan
        self.lock = threading.Lock()


Recorder = Callable[[EntityPlan, FileAction, FileInfo | None], None]


class Engine:
    """Runs one plan once.  Construct, then ``run()`` (blocking) from any thread."""

    def __init__(self, plan: Plan, source: Catalog, target: Catalog, *,
                 sink: EventSink | None = None, max_workers: int = 4,
                 cancel: threading.Event | None = None, verify: bool = False,
                 retries: int = 3, backoff: float = 0.25, recorder: Recorder | None = None,
                 sync_id: str | None = None, lost_lock: Callable[[], bool] | None = None,
                 execute: Callable[[Engine], None] | None = None) -> None:
        self.plan = plan
        self.source = source
        self.target = target
        self.tstore: Store = target.stores["overlay"]
        self.sink = sink or EventSink(maxlen=1)
        self.max_workers = max(1, int(max_workers))
        self.cancel_event = cancel or threading.Event()
        self.verify = verify
        self.retries = retries
        self.backoff = backoff
        self.recorder = recorder
        self.sync_id = sync_id or new_sync_id()
        self.lost_lock = lost_lock
        #: the execution seam: runs the plan's file actions elsewhere (a Dask cluster,
        #: sync/cluster/), then calls ``_finish_entities``; None: this process's thread pool
        self.execute = execute
        self.summary = Summary(self.sync_id)
        self._lock = threading.Lock()
        self._inflight = threading.Semaphore(self.max_workers * 4)
        self._follow: list[tuple[_EntityRun, int]] = []
        self._follow_cv = threading.Condition()
        self._outstanding = 0
        # per source root: files waiting to go as one batch
        self._batches: dict[str, list[tuple[_EntityRun, int, FileAction]]] = {}
        self._batch_bytes: dict[str, int] = {}
        self._batchable: dict[str, bool] = {}  # per source root: does a batch API exist?
        # verify mode: one fresh listing per store instead of a stat per file
        self._fresh: dict[str, dict[str, FileInfo] | None] = {}

    # -- public ------------------------------------------------------------------
    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> Summary:
        plan, s = self.plan, self.summary
        t0 = time.monotonic()
        # each run counts from zero, even on a sink an earlier run used
        prog = self.sink.progress = Progress(total_files=plan.transfer_files,
                                             total_bytes=plan.transfer_bytes)
        self.sink.emit(SyncStarted(self.sync_id, len(plan.entities), prog.total_files, prog.total_bytes))
        self._count_static()
        try:
            if self.verify:
                self._list_fresh()
            self._add_objects()
            self._execute() if self.execute is None else self.execute(self)
        finally:
            s.duration = time.monotonic() - t0
            s.cancelled = self.cancel_event.is_set()
            prog.finished = True
            self.sink.emit(SyncFinished(s))
        return s

    # -- counting -------------------------------------------------------------------
    def _count_static(self) -> None:
        s = self.summary
        for ent in self.plan.entities:
            s.checked += 1
            if ent.action is Act.SKIP:
                s.skipped += 1
            elif ent.action is Act.CONFLICT:
                s.conflicts += 1
            elif ent.action is Act.BLOCKED:
                s.blocked += 1
                if ent.failed:  # a broken source file, not a rule: a failed item, with its cause
                    self._fail(ent.source_path or ent.target_path, ent.reason)
            elif ent.action is Act.EXISTS:
                s.exists += 1
            elif ent.action is Act.EXCLUDED:
                s.excluded += 1

    # -- config -----------------------------------------------------------------------
    def _add_objects(self) -> None:
        adds = self.plan.objects
        if not adds:
            return
        cfg = self.target.config
        if not cfg.path:
            self.sink.emit(Note("warning", "target config given as a dict: objects not saved"))
            return
        try:
            from synctui.project.config import load_config

            fresh = load_config(cfg.path)  # re-read: someone may have edited it since the scan
            missing = [a.definition for a in adds if fresh.object(a.name) is None]
            if missing:
                fresh.save(data=fresh.with_objects_added(missing))
            self.summary.objects_added = len(missing)
            for a in adds:
                self.sink.emit(ItemFinished(f"config: object {a.name}", "add-object", 0))
        except SyncTuiError as exc:
            self._fail(f"config {cfg.path}", str(exc))
        except OSError as exc:
            self._fail(f"config {cfg.path}", f"cannot update the target config: {exc.strerror}")

    # -- scheduling ------------------------------------------------------------------
    def _execute(self) -> None:
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="synctui") as pool:
            self._pool = pool
            for ent in self.plan.entities:
                if not ent.action.writes:
                    continue
                if self.cancel_event.is_set():
                    break
                if ent.keep_both and not self._keep_target_copy(ent):
                    continue
                run = _EntityRun(ent, _phases(ent))
                if run.phases:
                    self._start_phase(run, 0)
                self._drain_follow(flush=False)
            while True:
                self._flush_batches()
                with self._follow_cv:
                    while not self._follow and self._outstanding:
                        self._follow_cv.wait(0.5)
                    if not self._follow and not self._outstanding:
                        break
                self._drain_follow()
        self._finish_entities()

    def _drain_follow(self, *, flush: bool = True) -> None:
        with self._follow_cv:
            ready, self._follow = self._follow, []
        for run, phase in ready:
            self._start_phase(run, phase)
        if flush and ready:
            self._flush_batches()

    def _start_phase(self, run: _EntityRun, phase: int) -> None:
        files = run.phases[phase]
        if self.cancel_event.is_set() or (phase > 0 and (run.failed or run.held)):
            if self.cancel_event.is_set():
                why = "cancelled"
            elif run.failed:
                why = f"held back: {run.failed} other file(s) of this entity failed"
            else:  # e.g. zarr metadata after a skipped chunk would make the store look complete
                why = f"held back: {run.held} other file(s) of this entity changed since the plan"
            for fa in [f for p in run.phases[phase:] for f in p]:
                self._skip(fa, why)
            return  # not complete, so not counted as created/updated/deleted
        with run.lock:
            run.pending = len(files)
        for fa in files:
            key = self._batch_key(run.plan, fa)
            if key is None:
                self._submit([(run, phase)], self._do_file, run.plan, fa)
                continue
            batch = self._batches.setdefault(key, [])
            batch.append((run, phase, fa))
            self._batch_bytes[key] = self._batch_bytes.get(key, 0) + fa.size
            if len(batch) >= BATCH_FILES or self._batch_bytes[key] >= BATCH_BYTES:
                self._flush_batches(key)

    def _submit(self, items: list[tuple[_EntityRun, int]], fn: Callable[..., object], *args: object) -> None:
        """One task on the pool; ``fn`` returns one outcome per item (or one for one item)."""
        self._inflight.acquire()
        with self._follow_cv:
            self._outstanding += 1
        fut = self._pool.submit(fn, *args)
        fut.add_done_callback(lambda f: self._task_done(f, items))

    def _task_done(self, fut: Future, items: list[tuple[_EntityRun, int]]) -> None:
        self._inflight.release()
        try:
            out = fut.result()
        except BaseException as exc:  # noqa: BLE001 - the tasks report their own errors; be safe
            log.exception("task failed")
            out = [False] * len(items)
            self._fail("engine", f"internal error: {type(exc).__name__}: {exc}")
        outcomes = out if isinstance(out, list) else [out]
        with self._follow_cv:
            for (run, phase), ok in zip(items, outcomes, strict=True):
                self._item_done(run, phase, ok)
            self._outstanding -= 1
            self._follow_cv.notify_all()

    def _item_done(self, run: _EntityRun, phase: int, ok: bool | None) -> None:
        """One file of ``run`` finished (called under the follow condition)."""
        with run.lock:
            run.pending -= 1
            if ok is None:
                run.held += 1
            elif not ok:
                run.failed += 1
            last = run.pending == 0
        if last:
            if phase + 1 < len(run.phases):
                self._follow.append((run, phase + 1))
            else:
                self._entity_done(run)

    # -- batches of small files --------------------------------------------------------
    def _batch_key(self, ent: EntityPlan, fa: FileAction) -> str | None:
        """The source root a small plain copy batches under, or None to go alone."""
        if ent.transform or fa.action is Act.DELETE or fa.source_path is None or fa.keep_old:
            return None  # a version to set aside first goes alone
        size = fa.src_size if fa.src_size is not None else fa.size
        if size > BATCH_FILE_MAX:
            return None
        key = ent.source_root or "overlay"
        can = self._batchable.get(key)
        if can is None:  # once per source root, not per file: batching pays on either side
            can = self._batchable[key] = self.tstore.features.batch_write or \
                self.source.stores[key].features.batch_read
        return key if can else None

    def _flush_batches(self, key: str | None = None) -> None:
        for k in [key] if key is not None else list(self._batches):
            batch = self._batches.pop(k, None)
            self._batch_bytes.pop(k, None)
            if batch:
                self._submit([(r, p) for r, p, _ in batch], self._do_batch, k,
                             [(r.plan, fa) for r, _, fa in batch])

    def _do_batch(self, key: str, items: list[tuple[EntityPlan, FileAction]]) -> list[bool | None]:
        """Read then write many small files at once; anything a batch cannot do goes alone."""
        if self._check_lock() or len(items) == 1:
            return [self._do_file(ent, fa) for ent, fa in items]
        prog = self.sink.progress
        for _, fa in items:
            prog.in_flight[fa.target_path] = fa.size
            self.sink.emit(ItemStarted(fa.target_path, fa.size))
        out: list[bool | None] = [False] * len(items)
        settled: set[int] = set()  # done, failed or held for good
        tried: dict[int, StoreError] = {}  # transient failures: the batch was their first attempt
        try:
            if self.verify:
                for i, (ent, fa) in enumerate(items):
                    if why := self._precondition_broken(ent, fa):
                        self._skip(fa, why, changed=True)
                        out[i] = None
                        settled.add(i)
            todo = [i for i in range(len(items)) if i not in settled]
            data = self._read_batch(self.source.stores[key], [items[i][1].source_path or "" for i in todo])
            writes, where = [], []
            for i, got in zip(todo, data, strict=True):
                fa = items[i][1]
                if isinstance(got, StoreError) and not _worth_retry(got):
                    self._item_failed(fa, got)
                    settled.add(i)
                elif isinstance(got, StoreError):
                    tried[i] = got
                elif isinstance(got, bytes):
                    writes.append((fa.target_path, got, fa.src_mtime_ns))
                    where.append(i)
            for i, res in zip(where, self._write_batch(writes), strict=True):
                ent, fa = items[i]
                if isinstance(res, FileInfo):
                    self._done_ok(ent, fa, res)
                    out[i] = True
                    settled.add(i)
                elif isinstance(res, StoreError) and not _worth_retry(res):
                    self._item_failed(fa, res)
                    settled.add(i)
                elif isinstance(res, StoreError):
                    tried[i] = res
        except Exception as exc:  # noqa: BLE001 - the batch broke as a whole: each file alone
            log.info("batch of %d files failed (%s); going one by one", len(items), exc)
            if isinstance(exc, StoreError) and _worth_retry(exc):
                tried.update({i: exc for i in range(len(items)) if i not in settled})
        finally:
            for _, fa in items:
                prog.in_flight.pop(fa.target_path, None)
        if tried:  # the batch was their first attempt: one backoff for all, then file by file
            for i, exc in tried.items():
                if self.retries < 1:
                    self._fail(items[i][1].target_path, str(exc), file=True)
                    settled.add(i)
                else:
                    self.sink.emit(ItemRetry(items[i][1].target_path, 1, str(exc)))
            if len(settled) < len(items):
                self._pause(self.backoff)
        for i in range(len(items)):
            if i not in settled:
                out[i] = self._do_file(*items[i], attempts=1 if i in tried else 0)
        return out

    def _read_batch(self, src: Store, paths: list[str]) -> list[bytes | StoreError]:
        return [got for _, got in src.read_many(paths)]

    def _write_batch(self, writes: list[tuple[str, bytes, int | None]]) -> list[FileInfo | StoreError]:
        return list(self.tstore.write_many(writes))

    def _entity_done(self, run: _EntityRun) -> None:
        if run.failed or run.held:
            return
        s = self.summary
        with self._lock:
            act = run.plan.action
            if act is Act.CREATE:
                s.created += 1
            elif act is Act.UPDATE:
                s.updated += 1
            elif act is Act.DELETE:
                s.deleted += 1
                s.destroyed += self._destroys(run.plan)

    def _finish_entities(self) -> None:
        s = self.summary
        if (s.files_trashed or s.files_set_aside) and self.tstore is not None:
            s.trash = f"{TRASH_DIR}/{self.sync_id}"
        if s.destroyed:
            s.notes.append(f"{plural(s.destroyed, 'pruned entity', 'pruned entities')} destroyed "
                           "(--prune=delete), not kept in the trash")

    def _destroys(self, ent: EntityPlan) -> bool:
        """A pruned entity under ``--prune=delete`` goes for good; every other delete into the trash."""
        return ent.action is Act.DELETE and self.plan.options.prune_destroy

    def _keep_target_copy(self, ent: EntityPlan) -> bool:
        """Before overwriting a conflict the user chose to keep both of: save the target's copy."""
        path = ent.target_path
        try:
            self.tstore.write_atomic(f"{path}.conflict", self.tstore.read_bytes(path))
            return True
        except SyncTuiError as exc:
            self._fail(path, f"could not keep the target's version ({exc}); not overwritten")
            return False

    # -- one file -----------------------------------------------------------------------
    def _do_file(self, ent: EntityPlan, fa: FileAction, *, attempts: int = 0) -> bool | None:
        """True: done; False: failed or cancelled; None: skipped, changed since the plan.

        ``attempts``: transient failures this file already had (in a batch, which also
        slept their backoff), so the retries and their backoff are the same either way.
        """
        if self._check_lock():
            self._skip(fa, "cancelled")
            return False
        prog = self.sink.progress
        prog.in_flight[fa.target_path] = fa.size
        self.sink.emit(ItemStarted(fa.target_path, fa.size))
        try:
            attempt = attempts
            while True:
                try:
                    if self.verify and (why := self._precondition_broken(ent, fa)):
                        self._skip(fa, why, changed=True)
                        return None
                    info = self._apply(ent, fa)
                    break
                except StoreError as exc:
                    attempt += 1
                    if not _worth_retry(exc) or attempt > self.retries or self.cancel_event.is_set():
                        raise
                    self.sink.emit(ItemRetry(fa.target_path, attempt, str(exc)))
                    self._pause(self.backoff * (2 ** (attempt - 1)))
        except SyncTuiError as exc:
            self._item_failed(fa, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - one item never stops the rest
            log.exception("unexpected error on %s", fa.target_path)
            self._fail(fa.target_path, f"{type(exc).__name__}: {exc}", file=True)
            return False
        finally:
            prog.in_flight.pop(fa.target_path, None)
        self._done_ok(ent, fa, info)
        return True

    def _pause(self, seconds: float) -> None:
        """A backoff that a cancel cuts short (the retry then sees the cancel and stops)."""
        self.cancel_event.wait(seconds)

    def _check_lock(self) -> bool:
        """True when we must stop: cancelled, or our target lock was taken from us."""
        if self.lost_lock is not None and not self.cancel_event.is_set() and self.lost_lock():
            self._fail("lock", "our lock on the target was broken by someone else: stopping")
            self.cancel_event.set()
        return self.cancel_event.is_set()

    def _done_ok(self, ent: EntityPlan, fa: FileAction, info: FileInfo | None) -> None:
        prog = self.sink.progress
        with self._lock:
            if fa.action is Act.DELETE:
                self.summary.files_deleted += 1
                self.summary.files_destroyed += self._destroys(ent)
            else:
                self.summary.files_written += 1
                self.summary.bytes += info.size if info else fa.size
            prog.done_files += 1
            prog.done_bytes += fa.size if fa.action is not Act.DELETE else 0
        if self.recorder is not None:
            try:
                self.recorder(ent, fa, info)
            except Exception:  # noqa: BLE001 - losing a record never loses data
                log.exception("could not record %s in the state database", fa.target_path)
        self.sink.emit(ItemFinished(fa.target_path, fa.action.value, fa.size))

    def _source_store(self, ent: EntityPlan) -> Store:
        return self.source.stores[ent.source_root or "overlay"]

    def _apply(self, ent: EntityPlan, fa: FileAction) -> FileInfo | None:
        if fa.action is Act.DELETE:
            if self._destroys(ent):
                self.tstore.remove(fa.target_path)
            else:
                self._trash(fa.target_path)
            return None
        aside = self._set_aside(fa.target_path) if fa.keep_old else None
        try:
            return self._write(ent, fa)
        except BaseException:
            if aside is not None:  # the old version goes back where it was: nothing lost, nothing moved
                try:
                    self.tstore.rename(aside, fa.target_path)
                    with self._lock:
                        self.summary.files_set_aside -= 1
                except SyncTuiError as exc:
                    log.warning("could not put %s back from the trash: %s", fa.target_path, exc)
            raise

    def _set_aside(self, path: str) -> str | None:
        """Move a target version synctui did not write into this sync's trash (restorable)."""
        if not self.tstore.exists(path):
            return None
        where = f"{TRASH_DIR}/{self.sync_id}/{path}"
        self.tstore.rename(path, where)
        with self._lock:
            self.summary.files_set_aside += 1
        return where

    def _write(self, ent: EntityPlan, fa: FileAction) -> FileInfo | None:
        src = self._source_store(ent)
        assert fa.source_path is not None
        mtime = fa.src_mtime_ns
        if ent.transform:
            raw = src.read_bytes(fa.source_path)
            data: bytes | object = transform_annotation(raw, ent.source, ent.target, fa.source_path)  # type: ignore[arg-type]
        else:
            if self.tstore.features.server_copy:  # None: not from this source, stream it
                done = self.tstore.copy_from(src, fa.source_path, fa.target_path, mtime_ns=mtime)
                if done is not None:
                    return done
            size = fa.src_size if fa.src_size is not None else fa.size
            if size >= SMALL_FILE:  # streamed with its length known (WebDAV: Content-Length)
                return self.tstore.write_atomic(fa.target_path, read_stream(src.open_read(fa.source_path)),
                                                mtime_ns=mtime, size=size)
            data = src.read_bytes(fa.source_path)
        return self.tstore.write_atomic(fa.target_path, data, mtime_ns=mtime)  # type: ignore[arg-type]

    def _trash(self, path: str) -> None:
        """Deletes are moves into the target's trash folder, never unlinks."""
        if not self.tstore.exists(path):
            return
        self.tstore.rename(path, f"{TRASH_DIR}/{self.sync_id}/{path}")

    def _list_fresh(self) -> None:
        """List the stores a saved plan touches, once: its checks then cost no round trips."""
        keys = {ent.source_root or "overlay" for ent in self.plan.entities
                if ent.action.writes and ent.source_path is not None}
        stores = {f"source:{k}": self.source.stores[k] for k in keys if k in self.source.stores}
        stores["target"] = self.tstore
        for key, store in stores.items():
            try:
                self._fresh[key] = {f.path: f for f in store.scan()}
            except SyncTuiError as exc:  # checked file by file instead
                log.info("cannot list %s for the plan check (%s); checking file by file", key, exc)
                self._fresh[key] = None

    def _stat(self, key: str, store: Store, path: str) -> FileInfo | None:
        listing = self._fresh.get(key)
        return listing.get(path) if listing is not None else store.stat(path)

    def _precondition_broken(self, ent: EntityPlan, fa: FileAction) -> str | None:
        """For a saved plan: has either side changed since it was made?"""
        if fa.source_path is not None:
            s = self._stat(f"source:{ent.source_root or 'overlay'}", self._source_store(ent),
                           fa.source_path)
            if s is None:
                return "source file vanished since the plan was made"
            if s.size != fa.src_size or s.mtime_ns != fa.src_mtime_ns:
                return "source changed since the plan was made"
        t = self._stat("target", self.tstore, fa.target_path)
        if fa.dst_size is None:
            if t is not None and fa.action is Act.CREATE:
                return "target file appeared since the plan was made"
        elif t is None:
            return None if fa.action is Act.DELETE else "target file vanished since the plan was made"
        elif t.size != fa.dst_size or (fa.dst_etag and t.etag and t.etag != fa.dst_etag) or (
                not fa.dst_etag and fa.dst_mtime_ns is not None and t.mtime_ns != fa.dst_mtime_ns):
            return "target changed since the plan was made"
        return None

    # -- reporting -----------------------------------------------------------------------
    def _skip(self, fa: FileAction, reason: str, *, changed: bool = False) -> None:
        with self._lock:
            self.summary.files_skipped += 1
            if changed:
                self.summary.skipped_changed.append(ItemError(fa.target_path, reason))
            self.sink.progress.skipped += 1
        self.sink.emit(ItemSkipped(fa.target_path, reason))

    def _item_failed(self, fa: FileAction, exc: BaseException) -> None:
        if self.cancel_event.is_set():  # broken off by the cancel: not a failure of its own
            self._skip(fa, f"cancelled ({exc})")
        else:
            self._fail(fa.target_path, str(exc), file=True)

    def _fail(self, path: str, message: str, *, file: bool = False) -> None:
        """``file``: a file of the plan failed (it counts against the plan's total)."""
        with self._lock:
            self.summary.errors.append(ItemError(path, message))
            self.sink.progress.failed += 1
            self.sink.progress.failed_files += file
        self.sink.emit(ItemFailed(path, message))


def _phases(ent: EntityPlan) -> list[list[FileAction]]:
    """Data, then zarr metadata, then deletions: a store is never seen half-made."""
    data: list[FileAction] = []
    meta: list[FileAction] = []
    deletes: list[FileAction] = []
    for fa in ent.files:
        if fa.action is Act.DELETE:
            deletes.append(fa)
        elif is_zarr_metadata(fa.target_path):
            meta.append(fa)
        else:
            data.append(fa)
    if ent.action is Act.DELETE:  # pruning a whole entity: metadata first, so it vanishes at once
        return [[f for f in deletes if is_zarr_metadata(f.target_path)],
                [f for f in deletes if not is_zarr_metadata(f.target_path)]]
    return [data, meta, deletes]


def new_sync_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def cleanup_temp_files(target: Catalog) -> int:
    """Remove temp files an interrupted sync left (only under our write lock)."""
    store = target.stores["overlay"]
    for path in target.temp_files:
        store.remove(path)
    removed, target.temp_files = len(target.temp_files), []
    return removed


def _worth_retry(exc: StoreError) -> bool:
    """Transient, and not already retried by its store (whose tries would multiply ours)."""
    return exc.transient and not exc.retried
