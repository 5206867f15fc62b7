"""The live sync: progress in bytes and files, items in flight, locks, failures, summary.

The screen only draws: the App runs the engine and calls ``sync_tick`` on the
drain timer, so leaving this screen never stops the sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Log, ProgressBar, Static

from synctui.format import human_bytes, human_duration, plural
from synctui.sync.engine import Summary
from synctui.sync.events import Progress
from synctui.sync.plan import Act, Plan

if TYPE_CHECKING:
    from synctui.tui.app import SyncTuiApp

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
    left = [f"{plural(counts[a].entities, a.value if a is not Act.EXISTS else 'kept')}"
            for a in (Act.CONFLICT, Act.BLOCKED, Act.EXISTS) if counts[a].entities]
    if left:
        details.append(f"\nLeft alone: {', '.join(left)}.", style="dim")
    details.append("\nWhat changed since the preview is skipped, not overwritten.", style="dim")
    return q, details


def request_sync(app: SyncTuiApp) -> None:
    """``s`` anywhere: show the running sync, or confirm and start one."""
    if app.sync_running:
        if not isinstance(app.screen, RunScreen):
            app.push_screen(RunScreen())
        return
    plan = app.plan
    if plan is None or app.planning:
        app.notify("The plan is not ready yet.", severity="warning")
        return
    if plan.is_noop:
        app.notify("Nothing to do: the target is up to date for these rules." if plan.up_to_date else
                   "Nothing to write: conflicts hold entities back (resolve them in the preview).")
        return
    from synctui.tui.screens.confirm import ConfirmScreen

    def answer(ok: bool | None) -> None:
        if ok and app.start_sync():
            app.push_screen(RunScreen())

    question, details = sync_question(plan)
    app.push_screen(ConfirmScreen(question, details=details, yes="Sync", no="Not now"), answer)


def summary_text(summary: Summary) -> Text:
    """What happened, per entity and per file, and what was left alone."""
    s = summary
    status_style = {"ok": "bold green", "partial": "bold yellow", "failed": "bold red",
                    "cancelled": "bold yellow"}.get(s.status, "bold")
    out = Text()
    out.append(f"{s.status.upper()}", style=status_style)
    out.append(f"  {s.created} created, {s.updated} updated, {s.deleted} deleted"
               f" · {plural(s.files_written, 'file')} written, {s.files_deleted} deleted,"
               f" {s.files_skipped} skipped")
    if s.objects_added:
        out.append(f" · {plural(s.objects_added, 'object')} added")
    left = [plural(n, w, many) for n, w, many in ((s.conflicts, "conflict", None),
                                                   (s.blocked, "blocked", "blocked"),
                                                   (s.exists, "kept", "kept"),
                                                   (s.excluded, "excluded", "excluded")) if n]
    out.append("\n")
    out.append(f"left alone: {', '.join(left) or 'nothing'} · {s.skipped} unchanged", style="dim")
    rate = s.bytes / s.duration if s.duration > 0 else 0.0
    out.append(f"\n{human_bytes(s.bytes)} in {human_duration(s.duration)}"
               f" ({human_bytes(rate)}/s)")
    if s.errors:
        out.append(f" · {plural(len(s.errors), 'error')}", style="bold red")
    if s.skipped_changed:
        out.append(f" · {len(s.skipped_changed)} changed since the preview (skipped)", style="yellow")
    if s.trash:
        out.append(f"\nreplaced and stale files moved to {s.trash} in the target", style="dim")
    return out


class RunScreen(Screen[None]):
    """Progress while the sync runs, the summary when it ends."""

    app: SyncTuiApp

    BINDINGS = [
        Binding("c", "cancel_sync", "Cancel sync", id="run.cancel",
                tooltip="Stop after the files in flight (asks first)"),
        Binding("b,escape", "back", "Back", id="run.back", key_display="b",
                tooltip="Back to the browser; re-plans when the sync is over, a running sync goes on"),
        Binding("w", "watch", "Watch", id="run.watch",
                tooltip="Watch on/off: re-check the source every few seconds and sync what changed"),
        Binding("h", "history", "History", id="run.history",
                tooltip="Past syncs of this source and target"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_sync" and not self.app.sync_running:
            return None  # shown dimmed: there is nothing to cancel
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
        app = self.app
        self.query_one("#run-log", Log).border_title = "failures"
        self.query_one("#run-buttons").display = False
        self._title()
        self.locks_changed()
        self.watch_changed()
        if app.errors:
            self.query_one("#run-log", Log).write_lines(list(app.errors))
        self.sync_tick(app.job.sink.progress, [])
        if app.summary is not None and not app.sync_running:
            self.sync_finished(app.summary)

    # -- broadcasts --------------------------------------------------------------------------
    def _title(self, state: str | None = None) -> None:
        app = self.app
        plan = app.sync_plan or app.plan
        title = Text("Sync  ", style="bold")
        if plan is not None:
            title.append(plan.source_label)
            title.append(" → ")
            title.append(plan.target_label)
        if state is None:
            state = "running" if app.sync_running else "finished" if app.summary else ""
        style = {"running": "bold yellow", "cancelling": "bold yellow", "finished": "bold green",
                 "failed": "bold red"}.get(state, "")
        if state:
            title.append(f"   {state}", style=style)
        self.query_one("#run-title", Static).update(title)

    def locks_changed(self) -> None:
        text = Text()
        for name, side in self.app.sides.items():
            if text:
                text.append("   ")
            text.append(f"{name} ", style="bold")
            text.append_text(side.lock.text())
        self.query_one("#run-locks", Static).update(text)

    def watch_changed(self) -> None:
        app = self.app
        text = Text("watch: ", style="bold")
        text.append("on" if app.watching else "off", style="bold green" if app.watching else "dim")
        if app.watching:
            text.append(f" every {app.watch_interval:g} s", style="dim")
        if app.watch_last:
            text.append(f" · last check {app.watch_last}", style="dim")
        text.append("  (w)", style="dim")
        self.query_one("#run-watch", Static).update(text)

    def sync_tick(self, progress: Progress, lines: list[str]) -> None:
        tb, tf = progress.total_bytes, progress.total_files
        done_all = progress.finished and not self.app.sync_running
        self.query_one("#bytes-bar", ProgressBar).update(
            total=max(tb, 1), progress=progress.done_bytes if tb else int(done_all))
        self.query_one("#files-bar", ProgressBar).update(
            total=max(tf, 1), progress=progress.done_files if tf else int(done_all))
        self.query_one("#bytes-text", Static).update(
            Text(f"{human_bytes(progress.done_bytes)} / {human_bytes(tb)}"))
        files = f"{progress.done_files} / {tf}"
        if progress.skipped:
            files += f" · {progress.skipped} skipped"
        self.query_one("#files-text", Static).update(Text(files))
        if self.app.sync_running:
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
            self.query_one("#run-status", Static).update(status)
        if lines:
            self.query_one("#run-log", Log).write_lines(lines)
        count = self.app.error_count
        title = Text(f"failures: {count}", style="bold red" if count else "dim")
        if count > len(self.app.errors):
            title.append(f" (last {len(self.app.errors)} kept)", style="dim")
        self.query_one("#run-errors-title", Static).update(title)

    def sync_started(self) -> None:
        self._title("running")
        self.refresh_bindings()

    def sync_cancelling(self) -> None:
        self._title("cancelling")

    def sync_finished(self, summary: Summary) -> None:
        self._title("cancelled" if summary.cancelled else "finished")
        self.sync_tick(self.app.job.sink.progress, [])
        self.query_one("#run-rate", Static).update(Text(""))
        self.query_one("#run-status", Static).update(summary_text(summary))
        buttons = self.query_one("#run-buttons")
        buttons.display = True
        self.refresh_bindings()
        self.query_one("#run-back", Button).focus()

    def sync_failed(self, text: str) -> None:
        self._title("failed")
        self.query_one("#run-status", Static).update(Text(text, style="bold red"))
        self.query_one("#run-buttons").display = True

    # -- actions -----------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_back()

    def action_cancel_sync(self) -> None:
        if not self.app.sync_running:
            self.notify("No sync is running.")
            return
        from synctui.tui.screens.confirm import ConfirmScreen

        def answer(ok: bool | None) -> None:
            if ok:
                self.app.cancel_sync()

        self.app.push_screen(ConfirmScreen("Cancel the sync?", details=Text(
            "Files in flight finish; nothing new starts. Run it again later to finish."),
            yes="Cancel sync", no="Keep going"), answer)

    def action_back(self) -> None:
        running = self.app.sync_running
        self.dismiss()
        if not running:
            self.app.replan(rescan=True)

    def action_watch(self) -> None:
        on = self.app.toggle_watch()
        self.notify(f"Watch {'on' if on else 'off'}.", timeout=2)

    def action_history(self) -> None:
        self.app.action_history()
