"""The app's session: one object owns the rules, the plan, its view, the sync and watch mode.

Screens read its state and call its actions (``apply_rules``, ``replan``, ``resolve``,
``start_sync``, ``cancel_sync``, ``toggle_watch``); it tells the app and every
screen what changed with the typed messages of ``tui.messages``.  Planning and
syncing run as thread workers on the app (never on a screen, which would cancel
them when popped); engine events are drained on the app's 0.1 s timer.  What needs
a dialog (a failure, a stale lock to break) is the app's: it gets the same messages.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from synctui.errors import PlanError, SyncTuiError
from synctui.project.config import ProjectConfig
from synctui.project.tls import apply_tls
from synctui.storage.tls import TLSOptions
from synctui.sync.api import SyncJob
from synctui.sync.engine import Summary
from synctui.sync.events import ItemFailed, ItemRetry, LockChanged, Note
from synctui.sync.plan import Act, EntityPlan, Plan, resolve_conflict
from synctui.sync.rules import RuleSet
from synctui.sync.watch import WatchLoop
from synctui.tui.locks import LockBadge, lock_badge
from synctui.tui.messages import (
    LocksChanged,
    MarksChanged,
    PlanChanged,
    RulesSaved,
    SyncCancelling,
    SyncEnded,
    SyncProgress,
    SyncStarted,
    WatchChanged,
)
from synctui.tui.status import PlanView, build_view

if TYPE_CHECKING:
    from textual.dom import DOMNode

log = logging.getLogger("synctui.tui")

#: failures kept for the run screen's log (the total count is kept separately)
ERROR_RING = 1000
DRAIN_LIMIT = 50_000
#: seconds between two checks of the source while watching
WATCH_INTERVAL = 10.0


@dataclass
class SideState:
    """What the header shows for one project."""

    config: ProjectConfig
    connection: str = "scanning"  # scanning, local, connected, failed
    lock: LockBadge = field(default_factory=LockBadge)
    #: what a remote server can do (WebDAV's probe), one line; "" for local roots
    server: str = ""
    #: writes here go without a safe lock (``--allow-unguarded-writes``: the target only)
    unguarded: bool = False


@dataclass
class _Planned:
    """A plan worker's result."""

    plan: Plan
    view: PlanView
    generation: int
    rescanned: bool
    locks: dict[str, LockBadge] | None
    servers: dict[str, str] | None


def session_of(node: DOMNode) -> Session:
    """The session of the app ``node`` runs in (screens know the app has one, not its class)."""
    app: Any = node.app
    return app.session  # type: ignore[no-any-return]


class UsesSession:
    """For screens: ``self.session`` is the app's session (they never import the app)."""

    @property
    def session(self) -> Session:
        return session_of(self)  # type: ignore[arg-type]


class Session:
    """Rules, plan, view, sync and watch state of one source -> target pair, and the actions."""

    def __init__(self, app: App[Any], job: SyncJob, rules: RuleSet, *, rules_file: str | None = None,
                 tls: TLSOptions | None = None, watch_interval: float = WATCH_INTERVAL) -> None:
        self.app = app
        self.job = job
        self.tls = tls or TLSOptions()
        self.rules_file = rules_file
        #: the rules the user sees; the job's rules follow once a plan succeeds
        self.rules: RuleSet = rules.copy()
        #: the rules as last loaded from or saved to a file: what quitting would keep
        self.saved_rules: RuleSet = rules.copy()
        #: marked entities (target paths): what ``c`` decides at once
        self.marks: set[str] = set()
        self.plan: Plan | None = None
        self.view: PlanView | None = None
        self.planning = False
        self.plan_error: str | None = None
        self.sides = {"source": SideState(job.source_config),
                      "target": SideState(job.target_config, unguarded=job.job_options.allow_unguarded_writes)}
        self.sync_running = False
        self.sync_plan: Plan | None = None
        self.summary: Summary | None = None
        self.sync_error: str | None = None
        self.errors: deque[str] = deque(maxlen=ERROR_RING)
        self.error_count = 0
        #: the user's conflict decisions (target path -> choice), re-applied to every new plan
        self.conflict_choices: dict[str, str] = {}
        #: the plan whose prune the user confirmed by typing (the guard would refuse it)
        self._prune_consent: Plan | None = None
        #: watch mode: re-plan every ``watch.interval`` s after a sync, sync what changed
        self.watch = WatchLoop(watch_interval)
        self.watching = False
        #: no new work once the app is quitting
        self.stopping = False
        self._generation = 0
        self._plan_lock = threading.Lock()
        self._watch_timer: Any = None
        self._watch_generation: int | None = None

    # -- telling everyone ----------------------------------------------------------------
    def _publish(self, make: Callable[[], Message]) -> None:
        """A fresh message for the app and for each mounted screen (one that mounts later
        reads the session's state on mount)."""
        self.app.post_message(make())
        for screen in list(self.app.screen_stack):
            if screen.is_mounted:
                screen.post_message(make())

    # -- rules kept or not -------------------------------------------------------------------
    @property
    def rules_unsaved(self) -> bool:
        """Do the rules differ from the file they came from (or, without one, from none)?"""
        return self.rules.to_dict() != self.saved_rules.to_dict()

    def rules_saved(self, path: str, rules: RuleSet | None = None) -> None:
        """The rules were written to (or read from) ``path``: nothing is unsaved now."""
        self.rules_file = path
        self.saved_rules = (rules or self.rules).copy()
        self._publish(RulesSaved)

    def quit_concerns(self) -> list[str]:
        """What quitting now would lose or stop, one line each (empty: quit at once)."""
        out = []
        if self.sync_running:
            out.append("A sync is running: quitting cancels it (files in flight finish).")
        if self.rules_unsaved:
            where = f" to {self.rules_file}" if self.rules_file else ""
            out.append(f"The rules have changes not saved{where}: they are lost "
                       "(r, then w saves them).")
        return out

    # -- marks -------------------------------------------------------------------------------
    def toggle_marks(self, eps: list[EntityPlan]) -> int:
        """Mark these entities, or unmark them all when every one is marked already."""
        paths = {ep.target_path for ep in eps}
        if paths and paths <= self.marks:
            self.marks -= paths
            count = -len(paths)
        else:
            count = len(paths - self.marks)
            self.marks |= paths
        self._publish(MarksChanged)
        return count

    def set_marks(self, eps: list[EntityPlan], on: bool) -> None:
        paths = {ep.target_path for ep in eps}
        self.marks = self.marks | paths if on else self.marks - paths
        self._publish(MarksChanged)

    def clear_marks(self) -> None:
        if self.marks:
            self.marks.clear()
            self._publish(MarksChanged)

    def marked_conflicts(self) -> list[EntityPlan]:
        """The marked entities of the current plan that are (or were) conflicts."""
        if self.plan is None or not self.marks:
            return []
        return [ep for ep in self.plan.entities if ep.target_path in self.marks
                and (ep.action is Act.CONFLICT or ep.resolution is not None)]

    def resolve_many(self, eps: list[EntityPlan], choice: str) -> int:
        """One decision for many conflicts; those it cannot apply to are said, not guessed."""
        if self.sync_running:
            self.app.notify("A sync is running: decide when it has finished.", severity="warning")
            return 0
        done, refused = 0, []
        for ep in eps:
            try:
                resolve_conflict(ep, choice)
            except PlanError:
                refused.append(ep.target_path)
                continue
            self.conflict_choices[ep.target_path] = choice
            done += 1
        if refused:
            self.app.notify(f"{len(refused)} not decided ({choice} does not apply): {refused[0]}"
                            + (" …" if len(refused) > 1 else ""), severity="warning")
        if done and self.plan is not None and self.job.source is not None and self.job.target is not None:
            self.view = build_view(self.plan, self.job.source, self.job.target)
            self._publish(lambda: PlanChanged(ready=True))
        return done

    # -- planning --------------------------------------------------------------------------
    def replan(self, *, rescan: bool = False, rules: RuleSet | None = None) -> bool:
        """Plan again (in a thread) with ``rules`` (default: the current ones)."""
        if self.sync_running:
            self.app.notify("A sync is running: change the rules when it has finished.",
                            severity="warning")
            return False
        if rules is not None:
            self.rules = rules
        self._generation += 1
        self.planning = True
        if rescan:
            for side in self.sides.values():
                side.connection = "scanning"
        self._publish(lambda: PlanChanged(ready=False))
        generation, rules = self._generation, self.rules.copy()
        self.app.run_worker(lambda: self._plan_work(generation, rescan, rules), name="plan",
                            group="plan", thread=True, exclusive=True, exit_on_error=False)
        return True

    def apply_rules(self, rules: RuleSet, message: str | None = None) -> bool:
        """Every rule change goes through here: keep it, re-plan, say what changed."""
        if not self.replan(rules=rules):
            return False
        if message:
            self.app.notify(message, timeout=3)
        return True

    def _plan_work(self, generation: int, rescan: bool, rules: RuleSet) -> _Planned | None:
        with self._plan_lock:
            if get_current_worker().is_cancelled or generation != self._generation:
                return None
            job = self.job
            locks = servers = None
            if rescan or job.source is None or job.target is None:
                job.reload_configs(lambda cfg: apply_tls(self.tls, cfg))
                plan = job.plan(rescan=True, rules=rules)
                assert job.source is not None and job.target is not None
                stores = {"source": job.source.stores["overlay"], "target": job.target.stores["overlay"]}
                locks = {name: lock_badge(store) for name, store in stores.items()}
                servers = {name: _server_line(store) for name, store in stores.items()}
                rescan = True
            else:
                plan = job.plan(rescan=False, rules=rules)
            self._reapply_choices(plan, dict(self.conflict_choices))
            assert job.source is not None and job.target is not None
            view = build_view(plan, job.source, job.target)
        return _Planned(plan, view, generation, rescan, locks, servers)

    @staticmethod
    def _reapply_choices(plan: Plan, choices: dict[str, str]) -> None:
        """A re-plan forgets the user's conflict decisions: apply them again."""
        if not choices:
            return
        for ep in plan.entities:
            choice = choices.get(ep.target_path)
            if choice and ep.action is Act.CONFLICT:
                try:
                    resolve_conflict(ep, choice)
                except PlanError:
                    log.debug("conflict choice %s no longer applies to %s", choice, ep.target_path)

    def resolve(self, ep: EntityPlan, choice: str) -> bool:
        """Apply a conflict decision to the current plan (the one a sync will run)."""
        if self.sync_running:
            self.app.notify("A sync is running: decide when it has finished.", severity="warning")
            return False
        try:
            resolve_conflict(ep, choice)
        except PlanError as exc:
            self.app.notify(" ".join(str(exc).split()), severity="warning")
            return False
        self.conflict_choices[ep.target_path] = choice
        if self.plan is not None and self.job.source is not None and self.job.target is not None:
            self.view = build_view(self.plan, self.job.source, self.job.target)
        self._publish(lambda: PlanChanged(ready=True))
        return True

    def _planned(self, result: _Planned) -> None:
        if result.generation != self._generation:
            return  # a newer request is on its way
        self.plan, self.view = result.plan, result.view
        self.planning = False
        self.plan_error = None
        for name, side in self.sides.items():
            side.config = self.job.source_config if name == "source" else self.job.target_config
            side.connection = "local" if side.config.overlay.protocol == "local" else "connected"
            if result.servers is not None:
                side.server = result.servers[name]
        if result.locks and not self.sync_running:
            for name, badge in result.locks.items():
                self.sides[name].lock = badge
        self._publish(lambda: PlanChanged(ready=True, rescanned=result.rescanned))
        if self._watch_generation == result.generation:
            self._watch_generation = None
            self._watch_checked(result.plan)

    def _plan_failed(self, text: str) -> None:
        self.planning = False
        self.plan_error = text
        self.rules = self.job.rules.copy()  # back to the last rules that planned
        for name in ("source", "target"):
            if (self.job.source if name == "source" else self.job.target) is None:
                self.sides[name].connection = "failed"
        quiet = self._watch_generation is not None
        if quiet:
            # a watch check failed: say so quietly and try again next time
            self._watch_generation = None
            self.watch.failed()
            self.app.notify(f"Watch: planning failed: {text}", severity="error", timeout=6)
            self._publish(WatchChanged)
            self._schedule_watch()
        self._publish(lambda: PlanChanged(ready=False, error=text, quiet=quiet))

    # -- syncing ---------------------------------------------------------------------------
    def start_sync(self, *, break_lock: bool = False, prune_all: bool = False) -> bool:
        """Run the current plan exactly as previewed (what changed since is skipped).

        ``prune_all``: the user typed their consent to a prune the guard refuses (this
        plan only, also when a stale lock is broken to retry it: a re-plan asks again)."""
        if self.sync_running:
            return False
        if self.plan is None or self.planning:
            self.app.notify("The plan is not ready yet.", severity="warning")
            return False
        self.job.sink.reset()  # fresh totals: Progress is per run
        self.errors.clear()
        self.error_count = 0
        self.summary = None
        self.sync_error = None
        self.sync_running = True
        self.sync_plan = plan = self.plan
        if prune_all:
            self._prune_consent = plan
        consent = plan is self._prune_consent
        # stale locks only, this run only
        self.app.run_worker(lambda: self.job.run(plan, verify=True, break_lock=break_lock,
                                                 prune_all=consent), name="sync",
                            group="sync", thread=True, exclusive=True, exit_on_error=False)
        self._publish(SyncStarted)
        return True

    def cancel_sync(self) -> None:
        """Cancelling only raises the engine's flag: in-flight files finish."""
        if self.sync_running:
            self.job.cancel()
            self._publish(SyncCancelling)

    def _synced(self, summary: Summary) -> None:
        self.drain()
        self.sync_running = False
        self.summary = summary
        self.conflict_choices.clear()  # decided and done: the next plan starts afresh
        self.marks.clear()
        if self.watching and not self.stopping:
            self._schedule_watch()
        self._publish(lambda: SyncEnded(summary))

    def _sync_failed(self, error: BaseException, text: str) -> None:
        self.drain()
        self.sync_running = False
        if not self.stopping:
            self.sync_error = text
        if self.watching and not self.stopping:
            self._schedule_watch()
        self._publish(lambda: SyncEnded(None, error, text))

    def drain(self) -> None:
        """Take what the engine queued since the last tick and tell the screens once."""
        events = self.job.sink.drain(limit=DRAIN_LIMIT)
        if not events and not self.sync_running:
            return
        lines: list[str] = []
        locks_changed = False
        for event in events:
            if isinstance(event, ItemFailed):
                self.error_count += 1
                line = f"{event.path}: {event.message}"
                self.errors.append(line)
                lines.append(line)
            elif isinstance(event, ItemRetry):
                lines.append(f"retry {event.attempt}: {event.path}: {event.message}")
            elif isinstance(event, Note) and event.level != "info":
                lines.append(f"{event.level}: {event.text}")
            elif isinstance(event, LockChanged) and event.side in self.sides:
                self.sides[event.side].lock = LockBadge.from_event(event)
                locks_changed = True
        progress = self.job.sink.progress
        self._publish(lambda: SyncProgress(progress, lines))
        if locks_changed:
            self._publish(LocksChanged)

    # -- workers ---------------------------------------------------------------------------
    def worker_changed(self, worker: Worker[Any], state: WorkerState) -> bool:
        """The app passes every worker's state change here; True when it was ours."""
        if worker.group not in ("plan", "sync"):
            return False
        if state is WorkerState.SUCCESS:
            if worker.group == "plan" and isinstance(worker.result, _Planned):
                self._planned(worker.result)
            elif worker.group == "sync" and isinstance(worker.result, Summary):
                self._synced(worker.result)
        elif state is WorkerState.ERROR and worker.error is not None:
            text = one_line(worker.error, worker.name)
            if worker.group == "plan":
                self._plan_failed(text)
            else:
                self._sync_failed(worker.error, text)
        return True

    # -- watch -----------------------------------------------------------------------------
    def toggle_watch(self) -> bool:
        """Watch on: check the source every ``watch.interval`` s and sync what changed."""
        self.watching = not self.watching
        if self.watching:
            if not self.sync_running:
                self._schedule_watch()
        else:
            self._stop_watch_timer()
        self._publish(WatchChanged)
        return self.watching

    @property
    def watch_scheduled(self) -> bool:
        return self._watch_timer is not None

    def stop(self) -> None:
        """The app is quitting: no more checks, no new syncs."""
        self.stopping = True
        self._stop_watch_timer()
        self.job.cancel()

    def _stop_watch_timer(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.stop()
        self._watch_timer = None
        self._watch_generation = None

    def _schedule_watch(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.stop()
        self._watch_timer = self.app.set_timer(self.watch.interval, self._watch_check, name="watch")

    def _watch_check(self) -> None:
        self._watch_timer = None
        if not self.watching or self.stopping:
            return
        if self.sync_running or self.planning or self._watch_generation is not None:
            self._schedule_watch()  # busy: look again later
            return
        if self.replan(rescan=True):
            self._watch_generation = self._generation
        else:
            self._schedule_watch()

    def _watch_checked(self, plan: Plan) -> None:
        if not self.watching:
            return
        if not self.watch.checked(plan) or not self.start_sync():
            self._schedule_watch()
        self._publish(WatchChanged)


def one_line(error: BaseException, worker: str | None = None) -> str:
    """What a user reads of a failure; anything but our own errors is a bug, so it is logged."""
    if isinstance(error, SyncTuiError):
        text = str(error)
    else:
        log.error("worker %s failed", worker, exc_info=error)
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def _server_line(store: Any) -> str:
    """What a WebDAV or S3 server can do (probed on connect), one line; "" for other roots."""
    if store.location.protocol == "s3":
        from synctui.storage.s3 import S3Store

        return store.capabilities.describe() if isinstance(store, S3Store) else ""
    if store.location.protocol != "webdav":
        return ""
    from synctui.storage.webdav import WebDAVStore

    return store.capabilities.describe() if isinstance(store, WebDAVStore) else ""
