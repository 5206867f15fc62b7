"""The synctui Textual app: browse two projects, edit rules, preview, sync.

The App owns the ``SyncJob``.  Planning and syncing run as thread workers on the
App (never on a screen, which would cancel them when popped) and finish by
posting a typed message.  Engine events are drained from the job's sink on a
0.1 s timer and redrawn in one ``batch_update``; one ``Worker.StateChanged``
handler turns failures into a one-line error dialog.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.filter import Monochrome, NoColor
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from synctui.errors import EXIT_CANCELLED, EXIT_OK, LockHeldError, PlanError, SyncTuiError
from synctui.project.catalog import Catalog
from synctui.project.config import ProjectConfig, load_config
from synctui.storage.tls import TLSOptions
from synctui.sync.api import SyncJob
from synctui.sync.engine import Summary
from synctui.sync.events import EventSink, ItemFailed, ItemRetry, LockChanged, Note, Progress
from synctui.sync.plan import Act, EntityPlan, Plan, resolve_conflict
from synctui.sync.rules import RuleSet
from synctui.tui.commands import SyncTuiCommands
from synctui.tui.locks import LockBadge, lock_badge
from synctui.tui.messages import PlanReady, SyncDone
from synctui.tui.status import PlanView, build_view

log = logging.getLogger("synctui.tui")

#: pinned so screenshots and snapshots never depend on TEXTUAL_THEME
THEME = "textual-dark"
#: failures kept for the run screen's log (the total count is kept separately)
ERROR_RING = 1000
DRAIN_INTERVAL = 0.1
DRAIN_LIMIT = 50_000
#: how long quitting waits for a cancelled sync to finish its files in flight
QUIT_GRACE = 15.0
#: seconds between two checks of the source while watching
WATCH_INTERVAL = 10.0
_HOLDER = re.compile(r"held by (.+?) \(pid (\d+)")


@dataclass
class SideState:
    """What the header shows for one project."""

    config: ProjectConfig
    connection: str = "scanning"  # scanning, local, connected, failed
    lock: LockBadge = field(default_factory=LockBadge)


class SyncTuiApp(App[int]):
    """Source | target browser, rule builder, dry-run preview and live sync."""

    CSS_PATH = "app.tcss"
    TITLE = "synctui"
    COMMANDS = App.COMMANDS | {SyncTuiCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", key_display="?",
                tooltip="List every key of every screen"),
        Binding("q", "quit_app", "Quit", id="app.quit",
                tooltip="Leave synctui (asks first while a sync runs)"),
    ]

    def __init__(self, source: str | dict[str, Any], target: str | dict[str, Any],
                 rules_file: str | None = None, *, max_workers: int = 4,
                 honour_no_color: bool = True, install_signals: bool = False,
                 watch_interval: float = WATCH_INTERVAL, tls: TLSOptions | None = None) -> None:
        """Load both configs and the rules file now: a bad one raises before any screen.

        ``tls`` (the CLI's ``--ca-bundle`` / ``--insecure``) applies to the https WebDAV
        roots of both projects, also after the configs are re-read."""
        rules = RuleSet.load(rules_file) if rules_file else RuleSet()
        self.tls = tls or TLSOptions()
        if self.tls:
            source, target = (self.tls.apply(c if isinstance(c, ProjectConfig) else load_config(c))
                              for c in (source, target))
        self.job = SyncJob(source, target, rules, max_workers=max_workers)
        super().__init__()
        self.theme = THEME
        self.animation_level = "none"
        if not honour_no_color:
            self._filters = [f for f in self._filters if not isinstance(f, (Monochrome, NoColor))]
        self.rules_file = rules_file
        #: the rules the user sees; the job's rules follow once a plan succeeds
        self.rules: RuleSet = rules.copy()
        self.plan: Plan | None = None
        self.view: PlanView | None = None
        self.planning = False
        self.plan_error: str | None = None
        self.sides = {"source": SideState(self.job.source_config),
                      "target": SideState(self.job.target_config)}
        self.sync_running = False
        self.sync_plan: Plan | None = None
        self.summary: Summary | None = None
        self.sync_error: str | None = None
        self.errors: deque[str] = deque(maxlen=ERROR_RING)
        self.error_count = 0
        self._generation = 0
        self._plan_lock = threading.Lock()
        self._install_signals = install_signals
        #: set when quitting waits for a cancelled sync to wind down
        self._quit_code: int | None = None
        #: the user's conflict decisions (target path -> choice), re-applied to every new plan
        self.conflict_choices: dict[str, str] = {}
        #: watch mode: re-plan every ``watch_interval`` s after a sync, sync what changed
        self.watch_interval = watch_interval
        self.watching = False
        self.watch_last: str = ""
        self._watch_timer: Any = None
        self._watch_generation: int | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        from synctui.tui.screens.browse import BrowseScreen

        return BrowseScreen()

    def on_mount(self) -> None:
        self.set_interval(DRAIN_INTERVAL, self.drain_events, name="drain-engine-events")
        if self._install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.hang_up)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    pass
        from synctui.tui.remote_prompts import install

        # host-key, password and WebDAV login questions from worker threads become modals
        self._prompts = install(self)
        for warning in self.tls.warnings((self.job.source_config, self.job.target_config)):
            self.notify(warning, severity="warning", title="TLS", timeout=10)
        self.replan(rescan=True)

    def on_unmount(self) -> None:
        prompts = getattr(self, "_prompts", None)
        if prompts is not None:
            prompts.uninstall()

    def hang_up(self) -> None:
        """The terminal went away (SIGHUP) or we were asked to stop: cancel, then exit."""
        self.quit_now()

    # -- planning ------------------------------------------------------------------------
    def replan(self, *, rescan: bool = False, rules: RuleSet | None = None) -> bool:
        """Plan again (in a thread) with ``rules`` (default: the current ones)."""
        if self.sync_running:
            self.notify("A sync is running: change the rules when it has finished.",
                        severity="warning")
            return False
        if rules is not None:
            self.rules = rules
        self._generation += 1
        self.planning = True
        if rescan:
            for side in self.sides.values():
                side.connection = "scanning"
        self.broadcast("planning_started")
        self._plan_worker(self._generation, rescan, self.rules.copy())
        return True

    def apply_rules(self, rules: RuleSet, message: str | None = None) -> bool:
        """Every rule change goes through here: keep it, re-plan, say what changed."""
        if not self.replan(rules=rules):
            return False
        if message:
            self.notify(message, timeout=3)
        self.broadcast("rules_changed")
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def _plan_worker(self, generation: int, rescan: bool, rules: RuleSet) -> None:
        with self._plan_lock:
            if get_current_worker().is_cancelled or generation != self._generation:
                return
            job = self.job
            previous = job.rules
            job.rules = rules
            locks: dict[str, LockBadge] | None = None
            try:
                if rescan or job.source is None or job.target is None:
                    # re-read the configs: a sync may have added pickable objects
                    if job.source_config.path:
                        job.source_config = self.tls.apply(load_config(job.source_config.path))
                    if job.target_config.path:
                        job.target_config = self.tls.apply(load_config(job.target_config.path))
                    _close_stores(job.source, job.target)
                    job.source = job.target = None
                    job.scan()
                    assert job.source is not None and job.target is not None
                    locks = {"source": lock_badge(job.source.stores["overlay"]),
                             "target": lock_badge(job.target.stores["overlay"])}
                    rescan = True
                plan = job.plan(rescan=False)
                self._reapply_choices(plan, dict(self.conflict_choices))
            except BaseException:
                job.rules = previous
                raise
            assert job.source is not None and job.target is not None
            view = build_view(plan, job.source, job.target)
        msg = PlanReady(plan, view, generation, rescan)
        msg.locks = locks  # type: ignore[attr-defined]
        self.post_message(msg)

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
            self.notify("A sync is running: decide when it has finished.", severity="warning")
            return False
        try:
            resolve_conflict(ep, choice)
        except PlanError as exc:
            self.notify(" ".join(str(exc).split()), severity="warning")
            return False
        self.conflict_choices[ep.target_path] = choice
        if self.plan is not None and self.job.source is not None and self.job.target is not None:
            self.view = build_view(self.plan, self.job.source, self.job.target)
        with self.batch_update():
            self.broadcast("plan_changed", False)
        return True

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.generation != self._generation:
            return  # a newer request is on its way
        self.plan, self.view = message.plan, message.view
        self.planning = False
        self.plan_error = None
        for name, side in self.sides.items():
            side.config = self.job.source_config if name == "source" else self.job.target_config
            side.connection = "local" if side.config.overlay.protocol == "local" else "connected"
        locks = getattr(message, "locks", None)
        if locks:
            for name, badge in locks.items():
                if not self.sync_running:
                    self.sides[name].lock = badge
        with self.batch_update():
            self.broadcast("plan_changed", message.rescanned)
        if self._watch_generation == message.generation:
            self._watch_generation = None
            self._watch_checked(message.plan)

    # -- syncing --------------------------------------------------------------------------
    def start_sync(self, *, break_lock: bool = False) -> bool:
        """Run the current plan exactly as previewed (what changed since is skipped)."""
        if self.sync_running:
            return False
        if self.plan is None or self.planning:
            self.notify("The plan is not ready yet.", severity="warning")
            return False
        self.job.sink = EventSink()  # fresh totals: Progress is per run
        self.errors.clear()
        self.error_count = 0
        self.summary = None
        self.sync_error = None
        self.sync_running = True
        self.sync_plan = self.plan
        self._sync_worker(self.plan, break_lock)
        self.broadcast("sync_started")
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync")
    def _sync_worker(self, plan: Plan, break_lock: bool = False) -> None:
        self.job.job_options.break_lock = break_lock  # stale locks only, this run only
        try:
            summary = self.job.run(plan, verify=True)
        finally:
            self.job.job_options.break_lock = False
        self.post_message(SyncDone(summary))

    def cancel_sync(self) -> None:
        """Cancelling only raises the engine's flag: in-flight files finish."""
        if self.sync_running:
            self.job.cancel()
            self.broadcast("sync_cancelling")

    def on_sync_done(self, message: SyncDone) -> None:
        self.drain_events()
        self.sync_running = False
        self.summary = message.summary
        self.conflict_choices.clear()  # decided and done: the next plan starts afresh
        if self._quit_code is not None:
            self._exit_after_sync()
            return
        if self.watching:
            self._schedule_watch()
        with self.batch_update():
            self.broadcast("sync_finished", message.summary)
        from synctui.tui.screens.run import RunScreen

        if not any(isinstance(s, RunScreen) for s in self.screen_stack):
            # nobody is watching the run screen: say so and bring the trees up to date
            self.notify(f"Sync {message.summary.status}: {message.summary.files_written} files written, "
                        f"{len(message.summary.errors)} errors.", timeout=6)
            self.replan(rescan=True)

    def drain_events(self) -> None:
        """Take what the engine queued since the last tick and redraw once."""
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
        progress: Progress = self.job.sink.progress
        with self.batch_update():
            self.broadcast("sync_tick", progress, lines)
            if locks_changed:
                self.broadcast("locks_changed")

    # -- errors ---------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, SyncTuiError):
            text = str(error)
        else:
            log.error("worker %s failed", event.worker.name, exc_info=error)
            text = f"{type(error).__name__}: {error}"
        text = " ".join(text.split())
        group = event.worker.group
        if group == "plan":
            self.planning = False
            self.plan_error = text
            self.rules = self.job.rules.copy()  # back to the last rules that planned
            for name in ("source", "target"):
                if getattr(self.job, name) is None:
                    self.sides[name].connection = "failed"
            self.broadcast("plan_failed", text)
            if self._watch_generation is not None:
                # a watch check failed: say so quietly and try again next time
                self._watch_generation = None
                self.watch_last = f"{time.strftime('%H:%M:%S')} check failed"
                self.notify(f"Watch: planning failed: {text}", severity="error", timeout=6)
                self.broadcast("watch_changed")
                self._schedule_watch()
                return
            self.show_error("Planning failed", text)
        elif group == "sync":
            self.drain_events()
            self.sync_running = False
            if self._quit_code is not None:
                self._exit_after_sync()
                return
            self.sync_error = text
            self.broadcast("sync_failed", text)
            if isinstance(error, LockHeldError) and "stale" in text and "--break-lock" in text:
                self.offer_break_lock(text)
            else:
                self.show_error("Sync failed", text)
            if self.watching:
                self._schedule_watch()
        else:
            self.notify(text, severity="error", title="Error")

    def offer_break_lock(self, text: str) -> None:
        """A stale lock (never a live one) stopped the sync: offer to break it and run again."""
        from rich.text import Text

        from synctui.tui.screens.confirm import ConfirmScreen

        found = _HOLDER.search(text)
        holder = f"{found.group(1)} (pid {found.group(2)})" if found else "another sync"

        def answer(ok: bool | None) -> None:
            if ok:
                self.start_sync(break_lock=True)

        details = Text(text.replace(" — use --break-lock to break it", ""))
        details.append("\nThe holder stopped sending heartbeats; only a stale lock is broken.",
                       style="dim")
        self.push_screen(ConfirmScreen(f"Break the stale lock held by {holder}?", details=details,
                                       yes="Break it and sync", no="Leave it"), answer)

    # -- watch ---------------------------------------------------------------------------
    def toggle_watch(self) -> bool:
        """Watch on: check the source every ``watch_interval`` s and sync what changed."""
        self.watching = not self.watching
        if self.watching:
            if not self.sync_running:
                self._schedule_watch()
        else:
            if self._watch_timer is not None:
                self._watch_timer.stop()
            self._watch_timer = None
            self._watch_generation = None
        self.broadcast("watch_changed")
        return self.watching

    def _schedule_watch(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.stop()
        self._watch_timer = self.set_timer(self.watch_interval, self._watch_check, name="watch")

    def _watch_check(self) -> None:
        self._watch_timer = None
        if not self.watching or self._quit_code is not None:
            return
        if self.sync_running or self.planning or self._watch_generation is not None:
            self._schedule_watch()  # busy: look again later
            return
        if self.replan(rescan=True):
            self._watch_generation = self._generation
        else:
            self._schedule_watch()

    def _watch_checked(self, plan: Plan) -> None:
        stamp = time.strftime("%H:%M:%S")
        if not self.watching:
            return
        if plan.is_noop:
            self.watch_last = f"{stamp} up to date"
            self._schedule_watch()
        elif self.start_sync():
            self.watch_last = f"{stamp} {plan.transfer_files} file(s) to sync"
        else:
            self._schedule_watch()
        self.broadcast("watch_changed")

    def action_history(self) -> None:
        from synctui.tui.screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def show_error(self, title: str, text: str) -> None:
        from synctui.tui.screens.error import ErrorScreen

        self.push_screen(ErrorScreen(title, text))

    # -- plumbing ---------------------------------------------------------------------------
    def push_screen(self, screen: Any, callback: Any = None, wait_for_dismiss: bool = False) -> Any:
        """As App.push_screen, but keys typed after quitting open nothing new."""
        if getattr(self, "_exit", False):
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return super().push_screen(screen, callback, wait_for_dismiss=wait_for_dismiss)

    def broadcast(self, method: str, *args: object) -> None:
        """Call ``method`` on every screen in the stack that has it (top last)."""
        for screen in list(self.screen_stack):
            if not screen.is_mounted:
                continue  # it reads the app's state when it mounts
            handler = getattr(screen, method, None)
            if callable(handler):
                handler(*args)

    # -- actions ----------------------------------------------------------------------------
    def action_help(self) -> None:
        from synctui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_app(self) -> None:
        if not self.sync_running:
            self.exit(EXIT_OK, return_code=EXIT_OK)
            return
        from synctui.tui.screens.confirm import ConfirmScreen

        def answer(ok: bool | None) -> None:
            if ok:
                self.quit_now()

        self.push_screen(ConfirmScreen("A sync is running. Cancel it and quit?",
                                       yes="Cancel sync and quit", no="Keep syncing"), answer)

    async def action_quit(self) -> None:
        self.quit_now()

    def quit_now(self) -> None:
        """Exit; a running sync is cancelled first and allowed to wind down (locks released)."""
        self.job.cancel()
        if not self.sync_running:
            self.exit(EXIT_OK, return_code=EXIT_OK)
            return
        if self._quit_code is None:
            self._quit_code = EXIT_CANCELLED
            self.notify("Stopping the sync: files in flight finish, then synctui exits.", timeout=QUIT_GRACE)
            self.set_timer(QUIT_GRACE, self._exit_after_sync)

    def _exit_after_sync(self) -> None:
        code = self._quit_code if self._quit_code is not None else EXIT_OK
        self.exit(code, return_code=code)


def _close_stores(*catalogs: Catalog | None) -> None:
    """Close the stores of catalogs about to be replaced (remote ones hold connections)."""
    for catalog in catalogs:
        for store in (catalog.stores.values() if catalog is not None else ()):
            try:
                store.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing %s failed", store, exc_info=True)


def run_app(source: str, target: str, rules_file: str | None = None, *,
            tls: TLSOptions | None = None) -> int:
    """Open the app; a bad config or rules file prints one line and returns non-zero."""
    try:
        app = SyncTuiApp(source, target, rules_file, install_signals=True, tls=tls)
    except SyncTuiError as exc:
        print(f"synctui: {exc}", file=sys.stderr)
        return exc.exit_code
    result = app.run()
    if isinstance(result, int):
        return result
    return app.return_code or EXIT_OK
