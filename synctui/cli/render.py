"""The CLI's output: the plan table, itemized lines, live progress, summary.

rich is imported only where it draws (tables, bars, a terminal's styles): a headless
sync's lines go out as plain text (cli/lines.py)."""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict
from typing import TYPE_CHECKING

from synctui.cli.lines import Lines
from synctui.format import human_bytes, human_duration, plural
from synctui.sync.engine import Summary
from synctui.sync.events import ItemFailed, ItemFinished, ItemRetry, ItemSkipped, Note
from synctui.sync.plan import ACT_ORDER, Act, Plan
from synctui.sync.report import summary_rows

if TYPE_CHECKING:
    from rich.console import Console

STYLE = {Act.CREATE: "green", Act.UPDATE: "cyan", Act.DELETE: "red", Act.ADD_OBJECT: "green",
         Act.CONFLICT: "bold magenta", Act.BLOCKED: "yellow", Act.EXISTS: "blue",
         Act.EXCLUDED: "dim", Act.SKIP: "dim"}


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def itemize(con: Console, plan: Plan, *, show_all: bool = False) -> None:
    """One line per file that changes (per entity for everything else), like rsync -i."""
    width = max(len(a.value) for a in ACT_ORDER)
    for ent in plan.entities:
        if ent.action.writes:
            for fa in ent.files:
                size = human_bytes(fa.size) if fa.action is not Act.DELETE else ""
                _line(con, fa.action, width, fa.target_path, size, fa.reason)
        elif show_all or ent.action is not Act.SKIP:
            _line(con, ent.action, width, ent.target_path + ("/" if ent.kind.is_zarr else ""),
                  human_bytes(ent.bytes) if ent.bytes else "", ent.reason)
    for obj in plan.objects:
        _line(con, Act.ADD_OBJECT, width, f"config: pickable object {obj.name}", "", obj.reason)


def _line(con: Console, act: Act, width: int, path: str, size: str, reason: str) -> None:
    from rich.text import Text

    text = Text()
    text.append(f"{act.value:<{width}} ", style=STYLE[act])
    text.append(f"{size:>10}  ")
    text.append(path)
    text.append(f"  ({reason})", style="dim")
    con.print(text, overflow="ignore", crop=False)


def plan_table(con: Console, plan: Plan, source=None, target=None) -> None:
    """Per run, one row per action with entities, files and bytes; then the totals.

    Rows rather than a column per action, so it reads in 80 columns whatever happens.
    """
    from rich import box
    from rich.table import Table  # only tables need it (and its fractions, decimal): not a sync
    from rich.text import Text

    table = Table(title=Text(f"Plan: {plan.source_label} -> {plan.target_label}"), title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_footer=False)
    table.add_column("run", style="bold", overflow="fold", max_width=30)
    table.add_column("action", no_wrap=True)
    table.add_column("entities", justify="right", no_wrap=True)
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    per_run: dict[str, dict[Act, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for ent in plan.entities:
        row = per_run[ent.run or "(project)"]
        if ent.action is Act.UPDATE:
            row[Act.UPDATE][0] += 1
            for fa in ent.files:  # an update: changed files, plus stale keys to remove
                cell = row[Act.UPDATE if fa.action is not Act.DELETE else Act.DELETE]
                cell[1] += 1
                cell[2] += fa.size
            continue
        cell = row[ent.action]
        cell[0] += 1
        cell[1] += ent.n_files
        cell[2] += ent.bytes
    for run in sorted(per_run, key=lambda r: (r == "(project)", r)):
        first = True
        for act in ACT_ORDER:
            if act in per_run[run]:
                table.add_row(Text(run) if first else "", *_row(act, *per_run[run][act]))
                first = False
        table.add_section()
    counts = plan.counts()
    first = True
    for act in ACT_ORDER:
        c = counts[act]
        if act is Act.ADD_OBJECT or not (c.entities or c.files):
            continue
        table.add_row("total" if first else "", *_row(act, c.entities, c.files, c.bytes))
        first = False
    if per_run:
        con.print(table)
    for obj in plan.objects:
        con.print(Text.assemble(("add-object ", "green"), f"{obj.name}: ", (obj.reason, "dim")))
    for warning in plan.warnings:
        con.print(Text.assemble(("warning: ", "yellow"), warning))
    for ent in plan.entities:
        if ent.action in (Act.CONFLICT, Act.BLOCKED):
            con.print(Text.assemble((f"{ent.action.value}: ", STYLE[ent.action]), ent.target_path,
                                    (f"  ({ent.reason})", "dim")))
    for cat, side in ((source, "source"), (target, "target")):
        if cat is not None and cat.unrecognised:
            con.print(Text(f"{side}: {plural(len(cat.unrecognised), 'path')} copick would not read "
                           f"(not synced), e.g. {cat.unrecognised[0].path}: {cat.unrecognised[0].reason}",
                           style="yellow"))
    if plan.up_to_date:
        con.print(Text("Nothing to do: the target is up to date.", style="bold green"))
    elif plan.is_noop:
        n = plan.counts()[Act.CONFLICT].entities
        con.print(Text(f"Nothing to write, but the target is not up to date: {plural(n, 'conflict')} "
                       "held back (--overwrite-conflicts takes the source).", style="bold yellow"))
    else:
        con.print(Text(f"Would transfer {plural(plan.transfer_files, 'file')}, "
                       f"{human_bytes(plan.transfer_bytes)}.", style="bold"))


def _row(act: Act, entities: int, files: int, size: int) -> list:
    from rich.text import Text

    shown = human_bytes(size) if size and act.writes else ""
    return [Text(act.value, style=STYLE[act]), str(entities) if entities else "",
            str(files) if files else "", shown]


# -- running ---------------------------------------------------------------------------

def run_with_progress(job, plan: Plan | None, *, progress: bool, verbose: bool, verify: bool,
                      as_json: bool = False) -> Summary:
    """Run the job in its thread, drain its events here, print failures as they come.
    ``plan`` None: the job plans under its locks (the bars learn the totals from it)."""
    out = Lines()
    err = Lines(stderr=True)
    job.start(plan, verify=verify)
    # Wait on an Event, never on Thread.join in this (the signal-handling) thread: in
    # CPython 3.11 a KeyboardInterrupt that lands inside join() marks the thread as
    # stopped while it still runs, so we would print no summary and exit before the
    # job released its locks.  A helper thread does the join.
    done = threading.Event()
    threading.Thread(target=lambda: (job.wait(), done.set()), name="synctui-wait", daemon=True).start()
    bars = _bars(out.console) if progress and out.is_terminal else None
    interrupted = False
    try:
        if bars is not None:
            live = Lines(console=bars.console)
            with bars:
                files_task = bars.add_task("files", total=None)
                bytes_task = bars.add_task("bytes", total=None)

                def update() -> None:
                    p = job.sink.progress  # the engine's own, with the totals of the plan it runs
                    bars.update(files_task, total=max(p.total_files, 1),
                                completed=p.done_files + p.failed + p.skipped)
                    bars.update(bytes_task, total=max(p.total_bytes, 1), completed=p.done_bytes)

                while not done.wait(0.1):
                    _drain(job, live, verbose)
                    update()
                _drain(job, live, verbose)
                update()
        else:
            # with --json, stdout carries only the summary: every line goes to stderr
            lines = out if verbose and not as_json else err
            while not done.wait(0.2):
                _drain(job, lines, verbose)
            _drain(job, lines, verbose)
    except KeyboardInterrupt:
        interrupted = True
        job.cancel()
        err.line("cancelling: letting files in flight finish ...")
        done.wait()
        _drain(job, err, verbose)
    if job.error is not None:
        raise job.error
    summary = job.summary
    if as_json:
        json.dump(summary_dict(summary), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_summary(out, summary)
    if interrupted and not summary.cancelled:
        # the signal landed as the job finished its work: still, the caller (a watch loop,
        # the exit code) must hear that the user asked to stop
        raise KeyboardInterrupt
    return summary


def _bars(con: Console):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class Only(ProgressColumn):
        """A column shown on one bar only: counts on "files", sizes and speed on "bytes"."""

        def __init__(self, column: ProgressColumn, description: str) -> None:
            super().__init__()
            self.column, self.description = column, description

        def render(self, task):
            return self.column.render(task) if task.description == self.description else Text("")

    return Progress(TextColumn("{task.description:>5}"), BarColumn(), Only(MofNCompleteColumn(), "files"),
                    Only(DownloadColumn(binary_units=True), "bytes"), Only(TransferSpeedColumn(), "bytes"),
                    TimeRemainingColumn(), console=con, transient=True, refresh_per_second=8)


def _drain(job, out: Lines, verbose: bool) -> None:
    # one line per item whatever the width: logs stay grep-able
    for ev in job.sink.drain():
        if isinstance(ev, ItemFailed):
            out.line(("failed ", "bold red"), ev.path, f": {ev.message}")
        elif isinstance(ev, ItemRetry):
            out.line(("retry ", "yellow"), f"{ev.path} (attempt {ev.attempt}): {ev.message}")
        elif isinstance(ev, Note):
            out.line((f"{ev.level}: ", "yellow"), ev.text)
        elif verbose and isinstance(ev, ItemFinished):
            out.line((f"{ev.action:<8}", STYLE.get(Act(ev.action), "")), ev.path)
        elif verbose and isinstance(ev, ItemSkipped):
            out.line(("skipped ", "dim"), ev.path, (f" ({ev.reason})", "dim"))


def summary_dict(s: Summary) -> dict:
    return {"sync_id": s.sync_id, "status": s.status, "exit_code": s.exit_code, "checked": s.checked,
            "created": s.created, "updated": s.updated, "deleted": s.deleted, "skipped": s.skipped,
            "conflicts": s.conflicts, "blocked": s.blocked, "exists": s.exists, "excluded": s.excluded,
            "objects_added": s.objects_added, "files_written": s.files_written,
            "files_deleted": s.files_deleted, "files_trashed": s.files_trashed,
            "files_destroyed": s.files_destroyed, "destroyed": s.destroyed,
            "files_set_aside": s.files_set_aside,
            "files_skipped": s.files_skipped, "bytes": s.bytes,
            "duration": round(s.duration, 3), "trash": s.trash, "notes": s.notes,
            "errors": [{"path": e.path, "message": e.message} for e in s.errors],
            "skipped_changed": [{"path": e.path, "reason": e.message} for e in s.skipped_changed]}


def _where_deleted(s: Summary) -> str:
    """What became of the deleted entities: only what really happened."""
    if s.destroyed:  # a plan's prune destroys all its entities or none
        return " (destroyed, not kept in the trash: --prune=delete)"
    return f" (moved to {s.trash})" if s.trash else ""


def print_summary(out: Lines, s: Summary) -> None:
    """A closing report in the spirit of DANDI's incremental sync summary."""
    out.line(f"Summary ({s.status}) of sync {s.sync_id}:", style="bold")
    for label, value in summary_rows(s):
        out.line(f"  {label:>10}: ", value)
    for e in s.skipped_changed[:50]:
        out.line(("  skipped ", "yellow"), e.path, (f" ({e.message})", "dim"))
    for e in s.errors:
        out.line(("  error ", "bold red"), e.path, f": {e.message}")
    if s.nothing_to_do and not s.conflicts:
        out.line("Nothing to do: the target is up to date.", style="bold green")


def history_table(con: Console, rows) -> None:
    """One table per (source, target) pair; fits 80 columns."""
    import datetime as dt

    from rich.text import Text

    if not rows:
        con.print("no syncs recorded yet")
        return
    pairs: dict[tuple[str, str], list] = {}
    for r in rows:
        pairs.setdefault((r.source, r.target), []).append(r)
    for (source, target), items in pairs.items():
        from rich.table import Table

        table = Table(title=Text(f"{source} -> {target}"), title_justify="left", pad_edge=False)
        for col, just in (("started", "left"), ("status", "left"), ("new", "right"), ("upd", "right"),
                          ("del", "right"), ("confl", "right"), ("err", "right"), ("bytes", "right"),
                          ("took", "right")):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in items:
            took = human_duration(r.ended - r.started) if r.ended else "-"
            style = {"ok": "green", "partial": "yellow", "failed": "red", "cancelled": "magenta",
                     "interrupted": "red"}.get(r.status, "")
            table.add_row(dt.datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M"),
                          Text(r.status, style=style), str(r.created), str(r.updated), str(r.deleted),
                          str(r.conflicts), str(r.errors), human_bytes(r.bytes), took)
        con.print(table)
        for r in items:
            if r.note:
                con.print(Text.assemble(dt.datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M"),
                                        " ", (r.note, "yellow")), soft_wrap=True)
