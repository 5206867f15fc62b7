"""The Python API: ``SyncJob`` and copick-compatible ``sync_*`` functions.

``SyncJob`` is what scripts, the CLI and the TUI share: open both projects,
plan, run (blocking or in a background thread), watch progress, cancel.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synctui.errors import SyncCancelled, SyncTuiError
from synctui.project.catalog import Catalog, open_project, scan_project
from synctui.project.config import ProjectConfig, load_config
from synctui.sync.engine import Engine, Summary
from synctui.sync.events import EventSink
from synctui.sync.plan import Plan, PlanOptions, PruneGuard, make_plan
from synctui.sync.rules import RuleSet, names_in

if TYPE_CHECKING:
    from synctui.sync.locks import Lock

log = logging.getLogger("synctui")

#: after a cancel, how long files in flight may take to finish before their requests are cut (s)
CANCEL_GRACE = 2.0

ConfigLike = str | dict[str, Any] | ProjectConfig


@dataclass
class JobOptions:
    max_workers: int = 4
    retries: int = 3
    #: fsync each written file before renaming it into place
    fsync: bool = True
    #: keep the manifest and history in the state database
    use_state: bool = True
    #: ignore the manifest: re-check everything by size+mtime (or checksum)
    force_full: bool = False
    #: take read/write locks on the roots while syncing
    use_locks: bool = True
    #: break stale locks (never live ones)
    break_lock: bool = False
    lock_ttl: float = 120.0
    commit_every: int = 500
    state_path: str | None = None
    #: abort before writing if more entities than this would be pruned (replaces the
    #: default limit of half the target's entities; see PruneGuard)
    max_delete: int | None = None
    #: let a prune remove more than half of the target, or follow an empty source listing
    prune_all: bool = False
    #: passed to the remote stores: ``ssh_prompt`` / ``webdav_prompt`` (question
    #: callbacks), ``listing_cache``, ``ca_bundle``/``insecure`` ... (local stores take only fsync)
    store_options: dict[str, object] = field(default_factory=dict)
    #: write to a server that ignores conditional creates (S3 without If-None-Match), where
    #: no lock is safe: the user's explicit consent (``--allow-unguarded-writes``)
    allow_unguarded_writes: bool = False
    #: run the plan on a Dask cluster (sync/cluster/): ``"local:N"``, ``"tcp://HOST:PORT"``,
    #: a scheduler file (``.json``), or a ``distributed.Client`` (yours: never closed by us).
    #: Planning, locks, state and history stay in this process.  Needs ``synctui[cluster]``.
    cluster: Any = None


class SyncJob:
    """One source -> target sync.  ``plan()``, then ``run()`` or ``start()``."""

    def __init__(self, source: ConfigLike, target: ConfigLike, rules: RuleSet | None = None, *,
                 options: PlanOptions | None = None, max_workers: int = 4,
                 sink: EventSink | None = None, fsync: bool = True,
                 job_options: JobOptions | None = None) -> None:
        self.source_config = source if isinstance(source, ProjectConfig) else load_config(source)
        self.target_config = target if isinstance(target, ProjectConfig) else load_config(target)
        if self.source_config.overlay.key == self.target_config.overlay.key:
            raise SyncTuiError(f"source and target share the overlay root {self.source_config.overlay.display}: "
                               "nothing to sync")
        self.rules = rules or RuleSet()
        self.options = options or PlanOptions()
        self.job_options = job_options or JobOptions(max_workers=max_workers, fsync=fsync)
        self.sink = sink or EventSink()
        self.source: Catalog | None = None
        self.target: Catalog | None = None
        self.warnings: list[str] = []
        self._plan: Plan | None = None
        self._engine: Engine | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._running = False  # inside run(): a cancel may break off its stores' requests
        self._running_lock = threading.Lock()
        self._state = None
        self._cluster = None  # the ClusterConnection, opened on the first run that needs it
        self.locks: list[Lock] = []
        #: what taking the locks did that the history should keep (abandoned locks broken)
        self.lock_notes: list[str] = []
        self.summary: Summary | None = None
        self.error: SyncTuiError | None = None

    @property
    def pair_key(self) -> tuple[str, str]:
        return self.source_config.overlay.key, self.target_config.overlay.key

    # -- state -----------------------------------------------------------------------
    @property
    def state(self):
        """The state database (opened on first use), or None when disabled."""
        if self._state is None and self.job_options.use_state:
            from synctui.sync.state import StateDB

            self._state = StateDB(self.job_options.state_path, commit_every=self.job_options.commit_every)
        return self._state

    def _baseline(self, *, preload: bool = False):
        db = self.state
        if db is None or self.job_options.force_full:
            return None
        manifest = db.baseline(db.pair_id(*self.pair_key))
        assert self.target is not None
        if preload or not self.target.stores["overlay"].features.set_mtime:
            manifest.preload()  # every file will need its record
        return manifest

    def written(self, paths: list[str]) -> dict:
        """What synctui last wrote at these target paths (``StateDB.written``); {} without state."""
        db = self.state
        return db.written(db.pair_id(*self.pair_key), paths) if db is not None else {}

    def _after_crash(self) -> bool:
        """Under our write lock: did an earlier sync of this pair die (its records may be lost)?"""
        db = self.state
        return bool(self.locks) and db is not None and not self.job_options.force_full \
            and db.died_running(db.pair_id(*self.pair_key))

    # -- planning --------------------------------------------------------------------
    def scan(self) -> tuple[Catalog, Catalog]:
        """(Re)scan both projects."""
        opts = {**self.job_options.store_options, "fsync": self.job_options.fsync}
        if self.job_options.allow_unguarded_writes:
            opts["allow_unguarded_writes"] = True
        self.close_stores()  # a rescan must not leak remote connections
        if _remote_roots(self.source_config) and _remote_roots(self.target_config):
            # two remote sides may both ask a question (a host key, a password): one at a time
            self.source = open_project(self.source_config, require_overlay=True, **opts)
            self.target = open_project(self.target_config, **opts)
            return self.source, self.target
        # both sides at once, as rsync does: the target's listing (a find process, or a
        # server's round trips) runs while this thread lists the source
        side = _TargetScan(lambda: open_project(self.target_config, **opts))
        try:
            # a source root that is missing or empty by accident must never plan "delete everything"
            source = open_project(self.source_config, require_overlay=True, **opts)
        except BaseException:
            side.abandon()  # never wait here: a Ctrl-C must not hang on the target's prompt
            raise
        try:
            target = side.result()
        except BaseException:
            _close_catalog(source)
            raise
        self.source, self.target = source, target
        return self.source, self.target

    def __enter__(self) -> SyncJob:
        return self

    def __exit__(self, *exc: object) -> None:
        """Hang up the remote connections (the job can still plan again: it reopens them)."""
        self.close()

    def close(self) -> None:
        """Hang up the stores, and close a cluster this job started (``JobOptions.cluster``)."""
        self.close_stores()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()

    def _execution(self):
        """The engine's execution seam for ``JobOptions.cluster`` (None: this process)."""
        if self.job_options.cluster is None:
            return None
        from synctui.sync.cluster.connect import ClusterConnection
        from synctui.sync.cluster.coordinator import ClusterExecution

        if self._cluster is None:
            self._cluster = ClusterConnection(self.job_options.cluster)
        self._cluster.slots()  # reach it now: no scheduler or no worker fails before any lock
        return ClusterExecution(self._cluster, self.source_config, self.target_config,
                                {**self.job_options.store_options, "fsync": self.job_options.fsync})

    def close_stores(self) -> None:
        for cat in (self.source, self.target):
            _close_catalog(cat)
        self.source = self.target = None

    def check_rules(self) -> list[str]:
        """Raise RulesError on errors; return warnings (as one-line strings)."""
        assert self.source is not None and self.target is not None
        problems = self.rules.check(names_in(self.source.entities, self.source.runs),
                                    names_in(self.target.entities, self.target.runs))
        return [p.message for p in self.rules.raise_on_errors(problems)]

    def plan(self, *, rescan: bool = True, rules: RuleSet | None = None,
             reconcile: bool = False) -> Plan:
        """The dry run.  ``rules``: plan with these, and keep them only if planning works.
        ``reconcile``: re-record files the quick check finds equal (after a crashed run)."""
        if rules is not None:
            previous, self.rules = self.rules, rules
            try:
                return self.plan(rescan=rescan, reconcile=reconcile)
            except BaseException:
                self.rules = previous
                raise
        if rescan or self.source is None:
            self.scan()
        self.warnings = self.check_rules()
        assert self.source is not None and self.target is not None
        plan = make_plan(self.source, self.target, self.rules, self.options,
                         baseline=self._baseline(preload=reconcile), reconcile=reconcile)
        plan.warnings[:0] = self.warnings
        refused = self.prune_guard().refusal(plan)
        if refused is not None:  # said now, in the dry run; the sync itself refuses
            plan.warnings.append(f"the sync will not run: {refused.reason}")
        self._plan = plan
        return plan

    def reload_configs(self, adjust: Callable[[ProjectConfig], ProjectConfig] | None = None) -> None:
        """Read both configs again from their files (a sync may have added pickable
        objects), ``adjust`` applied to each; the next plan rescans."""
        configs = []
        for cfg in (self.source_config, self.target_config):
            if cfg.path:
                cfg = load_config(cfg.path)
                cfg = adjust(cfg) if adjust is not None else cfg
            configs.append(cfg)
        self.close_stores()
        self.source_config, self.target_config = configs

    @property
    def last_plan(self) -> Plan | None:
        return self._plan

    # -- locks -----------------------------------------------------------------------
    def acquire_locks(self, sync_id: str, *, break_lock: bool = False) -> None:
        """Read-lock the source overlay, write-lock the target overlay (or raise);
        ``break_lock`` breaks stale ones this time, as ``JobOptions.break_lock`` always does."""
        from synctui.errors import StoreError
        from synctui.sync.events import LockChanged, Note
        from synctui.sync.locks import Lock

        assert self.source is not None and self.target is not None
        opts = self.job_options
        self.lock_notes = []
        wanted = [("target", self.target.stores["overlay"], "write"),
                  ("source", self.source.stores["overlay"], "read")]
        try:
            for side, store, mode in wanted:
                lock = Lock(store, mode, sync_id=sync_id, ttl=opts.lock_ttl,
                            break_stale=opts.break_lock or break_lock, label=f"{side} {store.location.display}")
                try:
                    lock.acquire()
                except StoreError as exc:
                    if side == "source":  # a read-only source cannot carry a read lock
                        self.sink.emit(Note("warning", f"source not lockable ({exc}); reading unlocked"))
                        continue
                    raise
                for broken, abandoned in lock.broken:
                    if abandoned is not None:
                        note = (f"broke an abandoned lock on {side} automatically ({abandoned}): "
                                f"{broken.describe()}")
                        self.lock_notes.append(note)
                    else:
                        note = f"broke stale lock on {side}: {broken.describe()}"
                    self.sink.emit(Note("warning", note))
                self.locks.append(lock)
                self.sink.emit(LockChanged(side, "held", f"{mode} lock held by us"))
                if mode == "write" and not store.features.exclusive_create:  # accepted by the user
                    note = (f"UNGUARDED WRITES accepted on {side} {store.location.display}: the server "
                            "ignores conditional creates, so this lock cannot exclude another sync")
                    self.lock_notes.append(note)
                    self.sink.emit(Note("warning", note))
        except BaseException:
            self.release_locks()
            raise

    def _plan_locked(self, reconcile: bool) -> Plan:
        """The plan to run now, under our locks.  The listing came before them (it checks
        the roots before any lock file is written): if the plan would write, the target
        is listed again, so what another sync wrote in between is seen (a conflict), never
        clobbered.  A plan that writes nothing cannot clobber anything: no second listing."""
        plan = self.plan(rescan=False, reconcile=reconcile)
        if self.locks and not plan.is_noop:
            assert self.target is not None
            self.target = scan_project(self.target_config, self.target.stores)
            plan = self.plan(rescan=False, reconcile=reconcile)
        return plan

    def release_locks(self) -> None:
        from synctui.sync.events import LockChanged

        while self.locks:
            lock = self.locks.pop()
            lock.release()
            self.sink.emit(LockChanged("target" if lock.mode == "write" else "source", "released"))

    def prune_guard(self, *, prune_all: bool = False) -> PruneGuard:
        """The job's guard; ``prune_all`` lifts it for one run (the app's typed consent)."""
        return PruneGuard(self.job_options.max_delete, self.job_options.prune_all or prune_all)

    def _check_deletes(self, plan: Plan, *, prune_all: bool = False) -> None:
        """Refuse a prune that looks like a mistake (PruneGuard) before anything is written;
        ``prune_all`` lifts the guard for this run (the app's typed consent)."""
        if plan.pruned and (plan.source_entities is None or plan.target_entities is None):
            assert self.source is not None and self.target is not None  # a plan file from before
            plan.source_entities = len(self.source.entities)
            plan.target_entities = sum(1 for e in self.target.entities.values() if not e.read_only)
        self.prune_guard(prune_all=prune_all).check(plan)

    # -- running ---------------------------------------------------------------------
    def run(self, plan: Plan | None = None, *, verify: bool | None = None,
            break_lock: bool = False, prune_all: bool = False) -> Summary:
        """Execute ``plan`` and return the Summary.  Without one, the plan is made under
        the locks (``_plan_locked``).

        A plan made earlier (saved, or from ``plan()`` before the user reviewed it)
        is verified file by file: what changed since is skipped, with its reason.
        ``break_lock``: break stale locks for this run only; ``prune_all``: lift the prune
        guard for this run only (the user confirmed this very prune).
        """
        from synctui.sync.engine import cleanup_temp_files, new_sync_id

        self._cancel.clear()
        self.error = None
        with self._running_lock:
            self._running = True
        sync_id = new_sync_id()
        try:
            if self.source is None:
                self.scan()
            execute = self._execution()
            if self.job_options.use_locks:
                self.acquire_locks(sync_id, break_lock=break_lock)
            try:
                recover = self._after_crash()
                if plan is None:
                    plan, verify = self._plan_locked(recover), bool(verify)
                    adopted = plan.adopted
                else:
                    verify = True if verify is None else verify
                    adopted = plan.adopted
                    if recover:  # the plan was made before we knew: reconcile the records now
                        assert self.source is not None and self.target is not None
                        adopted = adopted + make_plan(self.source, self.target, self.rules, self.options,
                                                      baseline=self._baseline(preload=True),
                                                      reconcile=True).adopted
                assert self.source is not None and self.target is not None and plan is not None
                self._check_deletes(plan, prune_all=prune_all)
                cleanup_temp_files(self.target)
                db = self.state
                recorder = None
                if db is not None:
                    pair = db.pair_id(*self.pair_key)
                    db.start_sync(pair, sync_id, "saved-plan" if verify else "incremental",
                                  sole_writer=bool(self.locks), note="; ".join(self.lock_notes) or None)
                    recorder = lambda ent, fa, info: db.record(pair, ent, fa, info)  # noqa: E731
                self._engine = Engine(plan, self.source, self.target, sink=self.sink,
                                      max_workers=self.job_options.max_workers, cancel=self._cancel,
                                      verify=bool(verify), retries=self.job_options.retries,
                                      recorder=recorder, sync_id=sync_id,
                                      lost_lock=lambda: any(lk.lost for lk in self.locks),
                                      execute=execute)
                self.summary = self._engine.run()
                self.summary.notes[:0] = self.lock_notes
                if db is not None:
                    if adopted:
                        db.adopt(pair, adopted)
                    db.finish_sync(sync_id, self.summary)
                self._plan = None  # executed: the next run plans afresh
                return self.summary
            finally:
                self._resume_stores()  # a cancel broke off their requests: the locks still go
                self.release_locks()
        except SyncTuiError as exc:
            if self._cancel.is_set() and not isinstance(exc, SyncCancelled):
                self.error = SyncCancelled(f"cancelled ({exc})")
                raise self.error from exc
            self.error = exc
            raise
        finally:
            self._resume_stores()  # and no late cancel timer touches them after this run

    def start(self, plan: Plan | None = None, *, verify: bool | None = None) -> SyncJob:
        """Run in a background thread and return at once."""
        if self.is_running:
            raise SyncTuiError("this sync is already running")

        self._done = threading.Event()

        def target() -> None:
            try:
                self.run(plan, verify=verify)
            except SyncTuiError:
                pass  # kept in self.error
            except Exception as exc:  # noqa: BLE001 - surfaced through .error, logged in full
                log.exception("sync failed")
                self.error = SyncTuiError(f"sync failed: {type(exc).__name__}: {exc}")
            finally:
                self._done.set()

        self._thread = threading.Thread(target=target, name="synctui-job", daemon=True)
        self._thread.start()
        return self

    @property
    def is_running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def progress(self) -> float:
        """0-100, by bytes (by files when nothing has bytes)."""
        return self.sink.progress.percent

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a started job; True when it has finished."""
        if self._thread is None:
            return True
        # an Event, not Thread.join: a Ctrl-C landing inside join() can make a live
        # thread look finished on CPython 3.11
        return self._done.wait(timeout)

    def cancel(self) -> None:
        """Stop: nothing new starts; files in flight get ``CANCEL_GRACE`` seconds to finish,
        then their requests are broken off (a stalled server holds nothing up).  Files in
        place stay, none is partial."""
        self._cancel.set()
        timer = threading.Timer(CANCEL_GRACE, self._interrupt_stores)
        timer.daemon = True
        timer.start()

    def _interrupt_stores(self) -> None:
        with self._running_lock:
            if self._running:  # a run that ended has resumed its stores: leave them so
                for store in self._stores():
                    store.interrupt()

    def _stores(self) -> list:
        return [st for cat in (self.source, self.target) if cat is not None for st in cat.stores.values()]

    def _resume_stores(self) -> None:
        with self._running_lock:
            self._running = False
            for store in self._stores():
                store.resume()


def _remote_roots(cfg: ProjectConfig) -> bool:
    return any(loc is not None and loc.protocol != "local" for loc in (cfg.overlay, cfg.static))


class _TargetScan:
    """``open_project`` of the target on a thread of its own, for ``SyncJob.scan``.

    Abandoned (the source failed), it hangs up the catalog itself once it has one."""

    def __init__(self, fn: Callable[[], Catalog]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._abandoned = False
        self._out: Catalog | BaseException | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, name="synctui-scan-target", daemon=True).start()

    def _run(self) -> None:
        try:
            out: Catalog | BaseException = self._fn()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by result()
            out = exc
        with self._lock:
            self._out = out
            abandoned = self._abandoned
        self._done.set()
        if abandoned:
            _close_catalog(out)

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            out = self._out
        _close_catalog(out)

    def result(self) -> Catalog:
        try:
            self._done.wait()
        except BaseException:
            self.abandon()
            raise
        out = self._out
        if isinstance(out, BaseException):
            raise out
        assert out is not None
        return out


def _close_catalog(cat: object) -> None:
    """Hang up a catalog's stores (anything else, an error or None, is left alone)."""
    if not isinstance(cat, Catalog):
        return
    for store in cat.stores.values():
        try:
            store.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            log.debug("closing %r failed", store, exc_info=True)


# ---------------------------------------------------------------------------
# copick-compatible functions


def _rules_for(kinds: Iterable[str], *, runs: Iterable[str] | None, run_map: Mapping[str, str] | None,
               include: Mapping[str, Iterable[str] | None], maps: Mapping[str, Mapping[str, str] | None],
               exist_ok: bool) -> RuleSet:
    rules = RuleSet(overwrite="if-changed" if exist_ok else "never")
    for kind in kinds:
        rules.add_filter("include", "kinds", kind)
    if runs:
        for run in runs:
            rules.add_filter("include", "runs", run)
    for src, dst in (run_map or {}).items():
        rules.set_mapping("runs", src, dst)
    for dim, values in include.items():
        for value in values or ():
            rules.add_filter("include", dim, str(value))
    for dim, mapping in maps.items():
        for src, dst in (mapping or {}).items():
            rules.set_mapping(dim, src, dst)
    return rules


def _run_copick(source_root: ConfigLike, target_root: ConfigLike, rules: RuleSet,
                max_workers: int, log_progress: bool) -> Summary:
    with SyncJob(source_root, target_root, rules, max_workers=max_workers) as job:
        summary = job.run()
    if log_progress:
        log.info("synced %s -> %s: %d created, %d updated, %d skipped, %d errors",
                 job.source_config.label, job.target_config.label, summary.created,
                 summary.updated, summary.skipped, len(summary.errors))
    return summary


def sync_picks(source_root: ConfigLike, target_root: ConfigLike,
               source_runs: list[str] | None = None, target_runs: dict[str, str] | None = None,
               source_objects: list[str] | None = None, target_objects: dict[str, str] | None = None,
               source_users: list[str] | None = None, target_users: dict[str, str] | None = None,
               exist_ok: bool = False, max_workers: int = 8, log: bool = False) -> Summary:
    """copick's ``sync_picks``, incremental, returning a Summary.

    ``exist_ok=False`` keeps existing target picks (reported as ``exists``)
    instead of raising; missing pickable objects are added to the target config.
    """
    rules = _rules_for(["picks"], runs=source_runs, run_map=target_runs,
                       include={"objects": source_objects, "users": source_users},
                       maps={"objects": target_objects, "users": target_users}, exist_ok=exist_ok)
    return _run_copick(source_root, target_root, rules, max_workers, log)


def sync_meshes(source_root: ConfigLike, target_root: ConfigLike,
                source_runs: list[str] | None = None, target_runs: dict[str, str] | None = None,
                source_objects: list[str] | None = None, target_objects: dict[str, str] | None = None,
                source_users: list[str] | None = None, target_users: dict[str, str] | None = None,
                exist_ok: bool = False, max_workers: int = 8, log: bool = False) -> Summary:
    """copick's ``sync_meshes``: glb files copied byte for byte."""
    rules = _rules_for(["meshes"], runs=source_runs, run_map=target_runs,
                       include={"objects": source_objects, "users": source_users},
                       maps={"objects": target_objects, "users": target_users}, exist_ok=exist_ok)
    return _run_copick(source_root, target_root, rules, max_workers, log)


def sync_segmentations(source_root: ConfigLike, target_root: ConfigLike,
                       source_runs: list[str] | None = None, target_runs: dict[str, str] | None = None,
                       voxel_spacings: list[float] | None = None,
                       source_names: list[str] | None = None, target_names: dict[str, str] | None = None,
                       source_users: list[str] | None = None, target_users: dict[str, str] | None = None,
                       exist_ok: bool = False, max_workers: int = 8, log: bool = False) -> Summary:
    """copick's ``sync_segmentations`` (binary and multilabel), key by key."""
    rules = _rules_for(["segmentations"], runs=source_runs, run_map=target_runs,
                       include={"voxel_spacings": voxel_spacings, "seg_names": source_names,
                                "users": source_users},
                       maps={"seg_names": target_names, "users": target_users}, exist_ok=exist_ok)
    return _run_copick(source_root, target_root, rules, max_workers, log)


def sync_tomograms(source_root: ConfigLike, target_root: ConfigLike,
                   source_runs: list[str] | None = None, target_runs: dict[str, str] | None = None,
                   voxel_spacings: list[float] | None = None,
                   source_tomo_types: list[str] | None = None,
                   target_tomo_types: dict[str, str] | None = None,
                   exist_ok: bool = False, max_workers: int = 8, log: bool = False) -> Summary:
    """copick's ``sync_tomograms``: every voxel spacing, not just the first."""
    rules = _rules_for(["tomograms"], runs=source_runs, run_map=target_runs,
                       include={"voxel_spacings": voxel_spacings, "tomo_types": source_tomo_types},
                       maps={"tomo_types": target_tomo_types}, exist_ok=exist_ok)
    return _run_copick(source_root, target_root, rules, max_workers, log)
