"""The synctui Textual app: browse two projects, edit rules, preview, sync.

The app owns the ``Session`` (rules, plan, sync and watch state, and the actions
on them), runs its workers, drains engine events on a 0.1 s timer and turns the
session's messages into dialogs: a failure, a stale lock to break.  Screens read
the session and get its typed messages; none of them imports this module.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App
from textual.binding import Binding
from textual.filter import Monochrome, NoColor
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from synctui.errors import EXIT_CANCELLED, EXIT_OK, LockHeldError, SyncTuiError
from synctui.project.config import ProjectConfig, load_config
from synctui.project.tls import apply_tls, tls_warnings
from synctui.storage.tls import TLSOptions
from synctui.sync.api import SyncJob
from synctui.sync.rules import RuleSet
from synctui.tui import screens
from synctui.tui.commands import SyncTuiCommands
from synctui.tui.messages import OpenPrompt, PlanChanged, SyncEnded
from synctui.tui.session import WATCH_INTERVAL, Session, one_line
from synctui.tui.sink import ScreenSink

log = logging.getLogger("synctui.tui")

#: pinned so screenshots and snapshots never depend on TEXTUAL_THEME
THEME = "textual-dark"
DRAIN_INTERVAL = 0.1
#: how long quitting waits for a cancelled sync to finish its files in flight
QUIT_GRACE = 15.0


class SyncTuiApp(App[int]):
    """Source | target browser, rule builder, dry-run preview and live sync."""

    CSS_PATH = "app.tcss"
    TITLE = "synctui"
    COMMANDS = App.COMMANDS | {SyncTuiCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", key_display="?",
                tooltip="List every key of every screen"),
        Binding("q", "quit_app", "Quit", id="app.quit",
                tooltip="Leave synctui (asks first while a sync runs or rules are unsaved)"),
        Binding("ctrl+q", "quit_app", "Quit", id="app.quit_ctrl_q", key_display="ctrl+q", show=False,
                priority=True, tooltip="Leave synctui (the same question as q)"),
    ]

    def __init__(self, source: str | dict[str, Any], target: str | dict[str, Any],
                 rules_file: str | None = None, *, max_workers: int = 4,
                 honour_no_color: bool = True, install_signals: bool = False,
                 watch_interval: float = WATCH_INTERVAL, tls: TLSOptions | None = None,
                 allow_unguarded_writes: bool = False, cluster: str | None = None) -> None:
        """Load both configs and the rules file now: a bad one raises before any screen.

        ``tls`` (the CLI's ``--ca-bundle`` / ``--insecure``) applies to the https WebDAV
        roots of both projects, also after the configs are re-read.  ``allow_unguarded_writes``
        (the CLI's flag) lets syncs write to an S3 server that ignores conditional creates;
        the target's header says so."""
        rules = RuleSet.load(rules_file) if rules_file else RuleSet()
        tls = tls or TLSOptions()
        if tls:
            source, target = (apply_tls(tls, c if isinstance(c, ProjectConfig) else load_config(c))
                              for c in (source, target))
        from synctui.sync.api import JobOptions

        job = SyncJob(source, target, rules, sink=ScreenSink(), job_options=JobOptions(
            max_workers=max_workers, allow_unguarded_writes=allow_unguarded_writes,
            cluster=cluster))  # --cluster: syncs run on a Dask cluster
        super().__init__()
        self.theme = THEME
        self.animation_level = "none"
        if not honour_no_color:
            self._filters = [f for f in self._filters if not isinstance(f, (Monochrome, NoColor))]
        self.session = Session(self, job, rules, rules_file=rules_file, tls=tls,
                               watch_interval=watch_interval)
        self._install_signals = install_signals
        #: set when quitting waits for a cancelled sync to wind down
        self._quit_code: int | None = None
        self._exiting = False
        self._asking_quit = False
        self._hung_up = False  # SIGHUP came: the terminal is gone
        self._prompts: Any = None

    # -- lifecycle ---------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return screens.make("browse")

    def on_mount(self) -> None:
        session = self.session
        self.set_interval(DRAIN_INTERVAL, session.drain, name="drain-engine-events")
        if self._install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.hang_up)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    pass
            # Textual's driver redraws from a Python-level SIGCONT handler, which runs between
            # any two bytecodes: inside a write to its output queue (the queue's lock held) it
            # deadlocked the exit.  A terminal that hangs up sends SIGCONT with SIGHUP.  So the
            # redraw runs from the loop, and not at all once the terminal is gone.
            resume = signal.getsignal(signal.SIGCONT)
            if callable(resume):
                try:
                    loop.add_signal_handler(signal.SIGCONT, self._resumed, resume)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    pass
        from synctui.tui.remote_prompts import install

        # host-key, password and WebDAV login questions from worker threads become modals
        self._prompts = install(self)
        configs = (session.job.source_config, session.job.target_config)
        for warning in [w for cfg in configs for w in cfg.warnings]:  # e.g. a mistyped fs_arg
            self.notify(warning, severity="warning", title="Config", timeout=10)
        for warning in tls_warnings(session.tls, configs):
            self.notify(warning, severity="warning", title="TLS", timeout=10)
        # the first scan starts once the first frame is drawn: a scan thread competing for
        # the GIL made the first paint of a 100k-file project wait for seconds
        self.call_after_refresh(session.replan, rescan=True)

    def on_unmount(self) -> None:
        if self._prompts is not None:
            self._prompts.uninstall()

    def hang_up(self) -> None:
        """The terminal went away (SIGHUP) or we were asked to stop: cancel, then exit."""
        self._hung_up = True
        self.quit_now()

    def _resumed(self, redraw) -> None:
        """SIGCONT (after a stop): the driver's own redraw, unless the terminal is gone."""
        if not self._hung_up:
            redraw(signal.SIGCONT, None)

    # -- what the session says -----------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if self.session.worker_changed(event.worker, event.state):
            return
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.notify(one_line(event.worker.error, event.worker.name), severity="error",
                        title="Error")

    @on(PlanChanged)
    def _plan_changed(self, message: PlanChanged) -> None:
        if message.error and not message.quiet:
            self.show_error("Planning failed", message.error)

    @on(SyncEnded)
    def _sync_ended(self, message: SyncEnded) -> None:
        if self._quit_code is not None:
            self._exit_after_sync()
            return
        error = message.error
        if error is not None:
            if isinstance(error, LockHeldError) and error.stale:
                self.offer_break_lock(error)
            else:
                self.show_error("Sync failed", message.text or str(error))
            return
        summary = message.summary
        if summary is not None and not any(screens.is_screen(s, "run") for s in self.screen_stack):
            # nobody is watching the run screen: say so and bring the trees up to date
            self.notify(f"Sync {summary.status}: {summary.files_written} files written, "
                        f"{len(summary.errors)} errors.", timeout=6)
            self.session.replan(rescan=True)

    @on(OpenPrompt)
    def _open_prompt(self, message: OpenPrompt) -> None:
        self.push_screen(message.make(), message.answered)

    def offer_break_lock(self, error: LockHeldError) -> None:
        """A stale lock (never a live one) stopped the sync: offer to break it and run again."""

        def answer(ok: bool | None) -> None:
            if ok:
                self.session.start_sync(break_lock=True)

        details = Text(error.detail)
        details.append("\nThe holder stopped sending heartbeats; only a stale lock is broken.",
                       style="dim")
        self.push_screen(screens.make("confirm", f"Break the stale lock held by {error.holder}?",
                                      details=details, yes="Break it and sync", no="Leave it"), answer)

    def show_error(self, title: str, text: str) -> None:
        self.push_screen(screens.make("error", title, text))

    # -- plumbing ---------------------------------------------------------------------------
    def push_screen(self, screen: Any, callback: Any = None, wait_for_dismiss: bool = False) -> Any:
        """As App.push_screen, but keys typed after quitting open nothing new."""
        if self._exiting:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return super().push_screen(screen, callback, wait_for_dismiss=wait_for_dismiss)

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self._exiting = True
        super().exit(*args, **kwargs)

    # -- actions ----------------------------------------------------------------------------
    def action_help(self) -> None:
        if not screens.is_screen(self.screen, "help"):
            self.push_screen(screens.make("help"))

    def action_history(self) -> None:
        if not screens.is_screen(self.screen, "history"):
            self.push_screen(screens.make("history"))

    def action_quit_app(self) -> None:
        self.request_quit()

    async def action_quit(self) -> None:
        """ctrl+q and the palette's Quit: the same question as ``q``."""
        self.request_quit()

    def request_quit(self) -> None:
        """Every way of quitting comes here: ask once when a sync runs or rules are unsaved."""
        concerns = self.session.quit_concerns()
        if not concerns:
            self.quit_now()
            return
        if self._asking_quit:
            return  # the question is on screen already

        def answer(ok: bool | None) -> None:
            self._asking_quit = False
            if ok:
                self.quit_now()

        self._asking_quit = True
        running = self.session.sync_running
        self.push_screen(screens.make(
            "confirm", "A sync is running. Cancel it and quit?" if running else "Quit synctui?",
            details=Text("\n".join(concerns)),
            yes="Cancel sync and quit" if running else "Quit without saving",
            no="Keep syncing" if running else "Stay"), answer)

    def quit_now(self) -> None:
        """Exit; a running sync is cancelled first and allowed to wind down (locks released)."""
        self.session.stop()
        if not self.session.sync_running:
            self.exit(EXIT_OK, return_code=EXIT_OK)
            return
        if self._quit_code is None:
            self._quit_code = EXIT_CANCELLED
            self.notify("Stopping the sync: files in flight finish, then synctui exits.", timeout=QUIT_GRACE)
            self.set_timer(QUIT_GRACE, self._exit_after_sync)

    def _exit_after_sync(self) -> None:
        code = self._quit_code if self._quit_code is not None else EXIT_OK
        self.exit(code, return_code=code)


def run_app(source: str, target: str, rules_file: str | None = None, *,
            tls: TLSOptions | None = None, allow_unguarded_writes: bool = False,
            cluster: str | None = None) -> int:
    """Open the app; a bad config or rules file prints one line and returns non-zero."""
    try:
        app = SyncTuiApp(source, target, rules_file, install_signals=True, tls=tls,
                         allow_unguarded_writes=allow_unguarded_writes, cluster=cluster)
    except SyncTuiError as exc:
        print(f"synctui: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        result = app.run()
    finally:
        app.session.job.close()  # a local:N cluster goes with the app
    if isinstance(result, int):
        return result
    return app.return_code or EXIT_OK
