"""The live sync: progress in bytes and files, items in flight, locks, failures, summary.

The screen only draws: the session runs the engine and sends ``SyncProgress`` on
the app's drain timer, so leaving this screen never stops the sync.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Button, Footer, Log, ProgressBar, Static

from synctui.errors import PruneRefused
from synctui.format import human_bytes, human_duration, plural
from synctui.sync.engine import Summary
from synctui.sync.events import Progress
from synctui.sync.plan import Act, Plan
from synctui.sync.report import summary_rows
from synctui.tui import screens
from synctui.tui.messages import (
    LocksChanged,
    SyncCancelling,
    SyncEnded,
    SyncProgress,
    SyncStarted,
    WatchChanged,
)
from synctui.tui.screens import open_once
from synctui.tui.session import UsesSession, session_of

LOG_LINES = 2000
IN_FLIGHT_SHOWN = 4


def sync_question(plan: Plan) -> tuple[Text, Text]:
    """The confirm dialog's question and what the plan leaves alone."""
    q = Text("Sync ", style="bold")
    q.append(plan.source_label, style="bold")
    q.append(" → ", style="bold")
    q.append(plan.target_label, style="bold")
    q.append("?", style="bold")
    counts = plan.counts()
    details = Text(f"{plural(plan.transfer_files, 'file')} to write or delete, "
                   f"{human_bytes(plan.transfer_bytes)} to move.")
    if plan.objects:
        details.append(f"\n{plural(len(plan.objects), 'pickable object')} added to the target config.")
    left = [f"{counts[a].entities} {a.value}" for a in (Act.CONFLICT, Act.BLOCKED, Act.EXISTS)
            if counts[a].entities]
    if left:
        details.append(f"\nLeft alone: {', '.join(left)}.", style="dim")
    details.append("\nWhat changed since the preview is left alone (not started), never overwritten.", style="dim")
    return q, details


def request_sync(node: DOMNode) -> None:
    """``s`` anywhere: show the running sync, or confirm and start one."""
    app, session = node.app, session_of(node)
    if session.sync_running:
        if not isinstance(app.screen, RunScreen):
            app.push_screen(RunScreen())
        return
    plan = session.plan
    if plan is None or session.planning:
        app.notify("The plan is not ready yet.", severity="warning")
        return
    if plan.is_noop:
        app.notify("Nothing to do: the target is up to date for these rules." if plan.up_to_date else
                   "Nothing to write: conflicts hold entities back (resolve them in the preview).")
        return
    from synctui.tui.screens.confirm import ConfirmScreen, TypedConfirmScreen

    refused = session.job.prune_guard().refusal(plan)
    question, details = sync_question(plan)

    def answer(ok: bool | None) -> None:
        if ok and session.start_sync(prune_all=refused is not None):
            app.push_screen(RunScreen())

    if refused is None:
        app.push_screen(ConfirmScreen(question, details=details, yes="Sync", no="Not now"), answer)
        return
    # the CLI's --prune-all, typed: a key press alone never empties a target
    warning = Text(f"This prune removes {plural(refused.pruned, 'entity', 'entities')} of the target's "
                   f"{refused.target_entities}", style="bold red")
    warning.append(": the source listing has no entities (unmounted or emptied?)."
                   if refused.why == PruneRefused.EMPTY_SOURCE else ", more than half.")
    warning.append("\n")
    warning.append_text(details)
    app.push_screen(TypedConfirmScreen(question, str(refused.pruned), details=warning, yes="prune them"),
                    answer)


def files_text(progress: Progress, *, running: bool) -> Text:
    """Done + failed + not started = total, every time (in flight counts as not started)."""
    out = Text(f"{progress.done_files:,} done")
    if progress.failed_files:
        out.append(f" · {progress.failed_files:,} failed", style="bold red")
    rest = progress.not_started
    if rest:
        out.append(f" · {rest:,} {'to go' if running else 'not started'}", style="" if running else "yellow")
    out.append(f" / {progress.total_files:,}", style="dim")
    return out


def summary_text(summary: Summary) -> Text:
    """The status, then the rows ``synctui sync`` prints, side by side."""
    status_style = {"ok": "bold green", "partial": "bold yellow", "failed": "bold red",
                    "cancelled": "bold yellow"}.get(summary.status, "bold")
    out = Text()
    out.append(summary.status.upper(), style=status_style)
    for i, (label, value) in enumerate(summary_rows(summary)):
        out.append("  " if i == 0 else " · ", style="dim")
        style = "bold red" if (label == "errors" and summary.errors) or \
            (label == "deleted" and summary.destroyed) else \
            "yellow" if label in ("changed", "conflicts") else ""
        out.append(f"{label} ", style="dim")
        out.append(value, style=style)
    return out


class RunScreen(UsesSession, Screen[None]):
    """Progress while the sync runs, the summary when it ends."""

    BINDINGS = [
        Binding("c", "cancel_sync", "Cancel sync", id="run.cancel",
                tooltip="Stop after the files in flight (asks first)"),
        Binding("b", "back", "Back to browse", id="run.back",
                tooltip="Back to the browser; re-plans when the sync is over, a running sync goes on"),
        Binding("escape", "leave", "Back", id="run.leave", key_display="esc", show=False,
                tooltip="Back to the browser (asks first while the sync runs)"),
        Binding("w", "watch", "Watch", id="run.watch",
                tooltip="Watch on/off: re-check the source every few seconds and sync what changed"),
        Binding("h", "history", "History", id="run.history",
                tooltip="Past syncs of this source and target"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_sync" and not self.session.sync_running:
            return False  # nothing to cancel: not in the footer, nor in the palette
        return True

    def compose(self) -> ComposeResult:
        yield Static(id="run-title", markup=False)
        yield Static(id="run-locks", markup=False)
        yield Static(id="run-watch", markup=False)
        with Horizontal(classes="progress-row"):
            yield Static("bytes", classes="progress-label")
            yield ProgressBar(total=1, show_eta=False, id="bytes-bar")
            yield Static(id="bytes-text", classes="progress-text", markup=False)
        with Horizontal(classes="progress-row"):
            yield Static("files", classes="progress-label")
            yield ProgressBar(total=1, show_eta=False, id="files-bar")
            yield Static(id="files-text", classes="progress-text", markup=False)
        yield Static(id="run-rate", markup=False)
        yield Static(id="run-status", markup=False)
        yield Static(id="run-errors-title", markup=False)
        yield Log(max_lines=LOG_LINES, id="run-log")
        with Horizontal(id="run-buttons"):
            yield Button("Back to browse (b)", id="run-back", compact=True, variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        session = self.session
        self.query_one("#run-log", Log).border_title = "failures"
        self.query_one("#run-buttons").display = False
        self._title()
        self.show_locks()
        self.show_watch()
        if session.errors:
            self.query_one("#run-log", Log).write_lines(list(session.errors))
        self.show_progress(session.job.sink.progress, [])
        if session.summary is not None and not session.sync_running:
            self.show_summary(session.summary)

    # -- what the session says ----------------------------------------------------------------
    @on(LocksChanged)
    def _locks_changed(self) -> None:
        self.show_locks()

    @on(WatchChanged)
    def _watch_changed(self) -> None:
        self.show_watch()

    @on(SyncProgress)
    def _sync_progress(self, message: SyncProgress) -> None:
        self.show_progress(message.progress, message.lines)

    @on(SyncStarted)
    def _sync_started(self) -> None:
        self._title("running")
        self.refresh_bindings()

    @on(SyncCancelling)
    def _sync_cancelling(self) -> None:
        self._title("cancelling")

    @on(SyncEnded)
    def _sync_ended(self, message: SyncEnded) -> None:
        self.refresh_bindings()
        if message.summary is not None:
            self.show_summary(message.summary)
        else:
            self.show_failure(message.text or "")

    # -- drawing -----------------------------------------------------------------------------
    def _title(self, state: str | None = None) -> None:
        session = self.session
        plan = session.sync_plan or session.plan
        title = Text("Sync  ", style="bold")
        if plan is not None:
            title.append(plan.source_label)
            title.append(" → ")
            title.append(plan.target_label)
        if state is None:
            state = "running" if session.sync_running else "finished" if session.summary else ""
        style = {"running": "bold yellow", "cancelling": "bold yellow", "finished": "bold green",
                 "failed": "bold red"}.get(state, "")
        if state:
            title.append(f"   {state}", style=style)
        self.query_one("#run-title", Static).update(title)

    def show_locks(self) -> None:
        text = Text()
        for name, side in self.session.sides.items():
            if text:
                text.append("   ")
            text.append(f"{name} ", style="bold")
            text.append_text(side.lock.text())
        self.query_one("#run-locks", Static).update(text)

    def show_watch(self) -> None:
        session = self.session
        text = Text("watch: ", style="bold")
        text.append("on" if session.watching else "off", style="bold green" if session.watching else "dim")
        if session.watching:
            text.append(f" every {session.watch.interval:g} s", style="dim")
        if session.watch.last:
            text.append(f" · last check {session.watch.last}", style="dim")
        text.append("  (w)", style="dim")
        self.query_one("#run-watch", Static).update(text)

    def show_progress(self, progress: Progress, lines: list[str]) -> None:
        tb, tf = progress.total_bytes, progress.total_files
        done_all = progress.finished and not self.session.sync_running
        self.query_one("#bytes-bar", ProgressBar).update(
            total=max(tb, 1), progress=progress.done_bytes if tb else int(done_all))
        self.query_one("#files-bar", ProgressBar).update(
            total=max(tf, 1), progress=progress.done_files if tf else int(done_all))
        self.query_one("#bytes-text", Static).update(
            Text(f"{human_bytes(progress.done_bytes)} / {human_bytes(tb)}"))
        self.query_one("#files-text", Static).update(files_text(progress, running=not done_all))
        if self.session.sync_running:
            eta = progress.eta
            self.query_one("#run-rate", Static).update(Text(
                f"{human_bytes(progress.rate)}/s · ETA {human_duration(eta) if eta is not None else '–'}",
                style="dim"))
            try:
                flying = list(progress.in_flight.items())
            except RuntimeError:  # the engine changed it mid-copy: next tick
                flying = []
            status = Text(f"in flight ({len(flying)}):", style="bold")
            for path, size in flying[:IN_FLIGHT_SHOWN]:
                status.append(f"\n  {path}", style="")
                status.append(f"  {human_bytes(size)}", style="dim")
            for worker in list(progress.workers.values()):  # a cluster sync: a line per worker
                status.append(f"\n  {worker.line()}", style="dim")
            self.query_one("#run-status", Static).update(status)
        if lines:
            self.query_one("#run-log", Log).write_lines(lines)
        count = self.session.error_count
        title = Text(f"failures: {count}", style="bold red" if count else "dim")
        if count > len(self.session.errors):
            title.append(f" (last {len(self.session.errors)} kept)", style="dim")
        self.query_one("#run-errors-title", Static).update(title)

    def show_summary(self, summary: Summary) -> None:
        self._title("cancelled" if summary.cancelled else "finished")
        self.show_progress(self.session.job.sink.progress, [])
        self.query_one("#run-rate", Static).update(Text(""))
        self.query_one("#run-status", Static).update(summary_text(summary))
        buttons = self.query_one("#run-buttons")
        buttons.display = True
        self.refresh_bindings()
        self.query_one("#run-back", Button).focus()

    def show_failure(self, text: str) -> None:
        self._title("failed")
        self.query_one("#run-status", Static).update(Text(text, style="bold red"))
        self.query_one("#run-buttons").display = True
        self.refresh_bindings()

    # -- actions -----------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_back()

    def action_cancel_sync(self) -> None:
        if not self.session.sync_running:
            self.notify("No sync is running.")
            return
        from synctui.tui.screens.confirm import ConfirmScreen

        def answer(ok: bool | None) -> None:
            if ok:
                self.session.cancel_sync()

        self.app.push_screen(ConfirmScreen("Cancel the sync?", details=Text(
            "Files in flight finish; nothing new starts. Run it again later to finish."),
            yes="Cancel sync", no="Keep going"), answer)

    def action_back(self) -> None:
        """To the browser, whichever screen the sync was started from (the preview, say)."""
        running = self.session.sync_running
        app = self.app
        while len(app.screen_stack) > 1 and not screens.is_screen(app.screen, "browse"):
            app.pop_screen()
        if not running:
            self.session.replan(rescan=True)

    def action_leave(self) -> None:
        """Escape: while the sync runs, say that it goes on (or cancel it) before leaving."""
        if not self.session.sync_running:
            self.action_back()
            return
        from synctui.tui.screens.confirm import ConfirmScreen

        def answer(ok: bool | None) -> None:
            if ok and self.is_attached:
                self.action_back()

        self.app.push_screen(ConfirmScreen("Leave the running sync?", details=Text(
            "It goes on in the background; s shows it again, c here cancels it."),
            yes="Back to browse", no="Stay"), answer)

    def action_watch(self) -> None:
        on = self.session.toggle_watch()
        self.notify(f"Watch {'on' if on else 'off'}.", timeout=2)

    def action_history(self) -> None:
        open_once(self.app, "history")
